"""``dnahlm release make|check``: the trained models committed under ``models/released/``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ORDER = 49

release_app = typer.Typer(help="Released weights (models/released/): used by `make demo` instead of training "
                          "when they were trained on the same data.", no_args_is_help=True)


@release_app.command("make")
def make(
    base: Annotated[Path, typer.Option(help="Pretrained model (final/ of `dnahlm pretrain`).")] = Path("runs/pretrain/cpu/final"),
    sft: Annotated[Path, typer.Option(help="Tuned model (final/ of `dnahlm sft`) with its retrieval_mix.json.")] = Path("runs/sft/cpu-rag/final"),
    data: Annotated[Path, typer.Option(help="The data folder both were trained on.")] = Path("data"),
    out: Annotated[Path, typer.Option(help="Release folder (replaced atomically).")] = Path("models/released"),
    note: Annotated[str, typer.Option(help="How the models were trained (kept in the release's manifest.json).")] = "",
) -> None:
    """Copy a trained base and tuned model, their training logs and the data identity into OUT."""
    from ..release import make_release

    rel = make_release(base, sft, data, out, note)
    typer.echo(f"released {len(rel['files'])} files ({rel['total_bytes'] / 1e6:.1f} MB) to {out}; "
               f"data identity {rel['data_identity'][:12]}")


@release_app.command("check")
def check(
    root: Annotated[Path, typer.Option(help="Release folder.")] = Path("models/released"),
    data: Annotated[Path, typer.Option(help="Data folder the weights must have been trained on.")] = Path("data"),
    soft: Annotated[bool, typer.Option("--soft", help="On failure print 'note: not using ...' and exit 1 (for make).")] = False,
) -> None:
    """Exit 0 when ROOT's files match the release's manifest.json and were trained on DATA; else one line and exit 2."""
    from ..release import ReleaseError, check_release

    try:
        rel = check_release(root, data)
    except ReleaseError as e:
        if not soft:
            raise
        typer.echo(f"note: not using released weights: {e}")
        raise typer.Exit(1) from None
    m = rel["models"]
    typer.echo(f"released weights OK: {root} (base {m['base']['recipe_name']} step {m['base']['step']}, "
               f"sft {m['sft']['recipe_name']} step {m['sft']['step']}), trained on this data")


def register(app: typer.Typer) -> None:
    app.add_typer(release_app, name="release")
