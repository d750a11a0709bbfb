"""``dnahlm eval``: tasks x systems on the test splits; report.md, results.json, plots."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ORDER = 50


def _split(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _task_items(spec: str) -> dict[str, int]:
    """``"splice=0,feature_type=300"`` -> ``{"splice": 0, "feature_type": 300}``."""
    out: dict[str, int] = {}
    for part in _split(spec):
        task, sep, n = part.partition("=")
        if not sep or not task.strip() or not n.strip().isdigit():
            raise typer.BadParameter(f"--task-items wants TASK=N (N a whole number, 0 = all), got {part!r}")
        out[task.strip()] = int(n)
    return out


def eval_cmd(
    tasks: Annotated[str, typer.Option(help="Comma-separated tasks.")] = "splice,promoter,trna_aa,feature_type,genus_16s,product",
    modes: Annotated[str, typer.Option(help="Comma-separated systems: majority, constant (open tasks: the best single answer on valid), knn, blast (blastn), blastx (product: translated search of the train CDS), base-plain, sft-plain, sft-rag, sft-rag-mix (needs `dnahlm mix fit`).")] = "majority,constant,knn,blast,blastx,base-plain,sft-plain,sft-rag,sft-rag-mix",
    ks: Annotated[str, typer.Option(help="Neighbour counts for knn and sft-rag.")] = "1,3,5",
    phrasings: Annotated[str, typer.Option(help="Prompt phrasings: seen (the task's own question, used in tuning), held-out (the phrasings held out of tuning, in turn item by item) and/or dev (wordings held out of tuning to choose between tunings; use with --split valid).")] = "seen,held-out",
    data: Annotated[Path, typer.Option(help="Dataset folder from `dnahlm data build`.")] = Path("data"),
    out: Annotated[Path, typer.Option(help="Report folder (finished cells in OUT/cells are reused).")] = Path("reports/eval"),
    max_items: Annotated[int, typer.Option("--max-items", min=0, help="Items per task (seeded sample of the split; 0 = all).")] = 200,
    task_items: Annotated[str, typer.Option("--task-items", help="Per-task item counts in place of --max-items, as TASK=N, comma-separated (0 = the whole split), e.g. splice=0,feature_type=0.")] = "",
    split: Annotated[str, typer.Option(help="Split the items come from: test (the reported results) or valid (to compare designs without looking at test; the mixing weights were fitted on valid).")] = "test",
    base_model: Annotated[Path, typer.Option("--base-model", help="Pretrained model folder (base-plain).")] = Path("runs/pretrain/cpu/final"),
    sft_model: Annotated[Path, typer.Option("--sft-model", help="Instruction-tuned model folder (sft-plain, sft-rag).")] = Path("runs/sft/cpu/final"),
    prompts_dir: Annotated[str, typer.Option("--prompts-dir", help="Task phrasings folder (default prompts/tasks).")] = "",
    no_generate: Annotated[bool, typer.Option("--no-generate", help="Closed tasks: label scoring only, no free generation (no format-valid rate).")] = False,
    n_boot: Annotated[int, typer.Option("--n-boot", min=1, help="Bootstrap resamples for the 95% intervals.")] = 1000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Prompts per forward pass.")] = 16,
    threads: Annotated[int, typer.Option(min=0, help="Torch CPU threads (0: torch's default).")] = 0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the item sample and the bootstrap.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Evaluate RAG vs plain prompting vs baselines (majority, kNN vote, BLAST) on the test splits.

    Writes OUT/report.md (tables with n, split policy, 95% CIs, McNemar tests, the goals), OUT/results.json (every number), OUT/plots/*.png and OUT/cells/*.json (the resumable cells).
    """
    from ..evaluate import EvalConfig, run_eval

    try:
        k_list = [int(x) for x in _split(ks)]
    except ValueError:
        raise typer.BadParameter(f"--ks must be integers, got {ks!r}") from None
    cfg = EvalConfig(tasks=_split(tasks), modes=_split(modes), ks=k_list, phrasings=_split(phrasings),
                     max_items=max_items, task_items=_task_items(task_items), split=split, seed=seed, n_boot=n_boot, batch_size=batch_size,
                     generate_closed=not no_generate, threads=threads, base_model=str(base_model),
                     sft_model=str(sft_model), prompts_dir=prompts_dir)
    res = run_eval(data, out, cfg, progress=not quiet)
    for line in sorted(set(res.get("skipped", []))):
        typer.echo(f"skipped: {line}", err=True)  # a requested system that did not run (report.md says so too)
    for g in res["goals"]:
        typer.echo(f"{g['status']:>12}: {g['goal']} -- {g['evidence']}")
    typer.echo(f"report: {out / 'report.md'}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
