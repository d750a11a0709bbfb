"""``dnahlm examples``: five example questions on held-out sequences (part of the demo)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..retrieval_mix import DEFAULT_K

ORDER = 45


def register(app: typer.Typer) -> None:
    @app.command("examples")
    def examples(
        data: Annotated[Path, typer.Option(help="Dataset folder from `dnahlm data build`.")] = Path("data"),
        indexes: Annotated[Path, typer.Option(help="Folder holding the per-task indexes (indexes/<task>/).")] = Path("indexes"),
        model: Annotated[Optional[Path], typer.Option(help="Checkpoint folder (default: the newest model).")] = None,
        k: Annotated[int, typer.Option("-k", min=1, max=16, help="Neighbours per question (default 3, as `ask` and the evaluation).")] = DEFAULT_K,
        out: Annotated[Path, typer.Option(help="Markdown file the answers are written to.")] = Path("reports/examples.md"),
    ) -> None:
        """Ask five example questions (what does this encode? is this a splice donor? which genus? ...) about the first held-out test item of five tasks; print each answer beside the truth, with the neighbours it was built from."""  # noqa: E501 - the help renders line breaks as they are
        from ..atomic import check_file_path
        from ..showcase import run_examples

        check_file_path(out, "--out")  # before the models load
        rows = run_examples(data, indexes, str(model) if model else None, k, out)
        for r in rows:
            typer.echo(f"\nQ [{r['task']}]: {r['question']}\n   routed to: {r['routed']} (cosine {r['route_similarity']:.2f})"
                       f"\n   query {r['id']} ({r['length']} nt)")
            typer.echo(f"A: {r['answer']}\n   truth: {r['truth']}")
            for p in r["provenance"]:
                typer.echo(f"   ({p})")
            for n in r["neighbours"]:
                typer.echo(f"   - {n['id']}  {n['organism'] or ''}  {n['label']}  {n['similarity']}")
        typer.echo(f"\nwritten: {out}")
