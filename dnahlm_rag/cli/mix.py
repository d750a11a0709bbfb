"""``dnahlm mix fit``: fit the retrieval-mixing weights of a tuned model on the valid splits."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..retrieval_mix import DEFAULT_K

ORDER = 48

mix_app = typer.Typer(help="Retrieval mixing (kNN-LM style): the model's answers mixed with its neighbours' answers.",
                      no_args_is_help=True)


@mix_app.command("fit")
def fit(
    model: Annotated[Optional[Path], typer.Option(help="Tuned model folder (default: the newest model).")] = None,
    data: Annotated[Path, typer.Option(help="Dataset folder from `dnahlm data build`.")] = Path("data"),
    tasks: Annotated[str, typer.Option(help="Comma-separated tuned tasks to fit (never a task held out of tuning).")] = "splice,trna_aa,feature_type,genus_16s,product",
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=32, help="Neighbours in each RAG prompt.")] = DEFAULT_K,
    max_items: Annotated[int, typer.Option("--max-items", min=1, help="Valid items per task (seeded sample).")] = 200,
    threads: Annotated[int, typer.Option(min=0, help="Torch CPU threads (0: torch's default).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Choose, per task, the weight of the neighbours' answers against the model's on the VALID split.

    Writes MODEL/retrieval_mix.json (per-task weights, the default for other tasks and free questions, the valid curves); `dnahlm eval` (mode sft-rag-mix), `ask` and `batch` use it.
    """
    from ..model_folder import default_model_dir
    from ..retrieval_mix import FitConfig, fit_mix

    model_dir = model or default_model_dir()
    cfg = FitConfig(tasks=[t.strip() for t in tasks.split(",") if t.strip()], k=k, max_items=max_items, threads=threads)
    table = fit_mix(data, model_dir, cfg, progress=not quiet)
    path = table.save(model_dir)
    for t, lam in table.tasks.items():
        curve = table.curves[t]
        typer.echo(f"{t:14s} lambda {lam:.2f}  valid {curve[str(lam)]:.3f} (model alone {curve['0.0']:.3f}, "
                   f"neighbours' vote {curve['1.0']:.3f})")
    typer.echo(f"default lambda {table.default:.2f} (tasks held out of tuning, questions without a task); wrote {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(mix_app, name="mix")
