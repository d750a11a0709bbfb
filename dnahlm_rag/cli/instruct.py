"""``dnahlm instruct build`` and ``dnahlm instruct eval``: instruction data and its measurement."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

ORDER = 25

instruct_app = typer.Typer(help="Instruction data (Alpaca form, with retrieval) and evaluation of tuned models.",
                           no_args_is_help=True)


@instruct_app.command("build")
def build(
    data: Annotated[Path, typer.Option(help="Dataset folder from `dnahlm data build`.")] = Path("data"),
    out: Annotated[Path, typer.Option(help="Output folder (train.jsonl, valid.jsonl, manifest.json).")] = Path("runs/instruct"),
    recipe: Annotated[str, typer.Option(help="Instruct recipe (recipes/instruct/) or a .toml path.")] = "default",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Render each task's train (and valid) split as Alpaca records, a share with retrieved neighbours."""
    from ..instruct import build_instruct, load_instruct_recipe

    m = build_instruct(data, out, load_instruct_recipe(recipe), progress=not quiet)
    c = m["counts"]
    typer.echo(f"{out}: {c['train']['total']} train / {c['valid']['total']} valid records "
               f"({', '.join(f'{k} {v}' for k, v in c['train']['per_mode'].items())}); "
               f"held out: tasks {m['held_out_tasks'] or 'none'}")
    typer.echo("per task: " + ", ".join(f"{k} {v}" for k, v in c["train"]["per_task"].items()))


@instruct_app.command("eval")
def evaluate(
    model: Annotated[Path, typer.Option(help="Tuned model folder (runs/sft/NAME/final).")] = Path("runs/sft/cpu/final"),
    data: Annotated[Path, typer.Option(help="Dataset folder from `dnahlm data build`.")] = Path("data"),
    task: Annotated[Optional[list[str]], typer.Option(help="Closed-label task(s) to measure (default: all closed tasks).")] = None,
    split: Annotated[str, typer.Option(help="Split to measure on.")] = "test",
    limit: Annotated[int, typer.Option(help="Items per task (the first N of a seeded shuffle; 0 = all).")] = 200,
    mode: Annotated[str, typer.Option(help="plain (no retrieval) or rag (k-mer neighbours from the task's train split).")] = "plain",
    phrasing: Annotated[str, typer.Option(help="Phrasing id of prompts/tasks/<task>.toml ('task' = the task's own question).")] = "task",
    threads: Annotated[int, typer.Option(min=0, help="Torch CPU threads (0: torch's default).")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Also write the report as JSON here.")] = None,
) -> None:
    """Closed-label tasks: label-scoring accuracy, free-generation accuracy and parse rate per task."""
    from ..atomic import check_file_path, write_json
    from ..errors import DnaHlmError
    from ..scoring import evaluate_closed_tasks

    if limit < 0:
        raise DnaHlmError(f"--limit must be >= 0 (0 = all), got {limit}")
    if out is not None:
        check_file_path(out, "--out")  # before the work, not after
    rep = evaluate_closed_tasks(model, data, tasks=task or None, split=split, limit=limit, mode=mode,
                                phrasing=phrasing, threads=threads)
    if out is not None:
        write_json(out, rep)
    for t, r in rep["tasks"].items():
        typer.echo(f"{t:14s} n={r['n']:4d}  label-scoring {r['label_accuracy']:.3f}  generation {r['generation_accuracy']:.3f}  "
                   f"parsed {r['parse_rate']:.3f}  ({r['seconds']:.0f} s)")
    typer.echo(json.dumps({k: v for k, v in rep.items() if k != "tasks"}))


def register(app: typer.Typer) -> None:
    app.add_typer(instruct_app, name="instruct")
