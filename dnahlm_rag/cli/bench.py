"""``dnahlm bench next-kmer``: the next-k-mer context benchmark and its tokenizer ablation."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ORDER = 60

bench_app = typer.Typer(help="Benchmarks that measure what the model learned.", no_args_is_help=True)


@bench_app.command("next-kmer")
def next_kmer(
    model: Annotated[Optional[Path], typer.Option(help="Model folder (a final/); default: runs/pretrain/cpu/final when it exists.")] = None,
    data: Annotated[Path, typer.Option(help="Dataset folder from `dnahlm data build`.")] = Path("data"),
    n: Annotated[int, typer.Option(min=0, help="Test windows (a seeded sample; 0 = all).")] = 2000,
    n_valid: Annotated[int, typer.Option("--n-valid", min=0, help="Valid windows used to choose the Markov order (0 = all).")] = 1000,
    markov_train_mb: Annotated[float, typer.Option("--markov-train-mb", min=0, help="MB of pretraining DNA the Markov model counts (0 = all).")] = 24.0,
    m_max: Annotated[int, typer.Option("--m-max", min=0, max=12, help="Largest Markov order tried (its counts take 8 x 4^(m+1) bytes).")] = 10,
    no_lm: Annotated[bool, typer.Option("--no-lm", help="Only chance and the Markov baseline.")] = False,
    ablation: Annotated[bool, typer.Option("--ablation", help="Instead: pretrain the same small budget with BPE, single-base and 6-mer tokenizers and compare them.")] = False,
    tokenizer: Annotated[Path, typer.Option(help="The project's BPE tokenizer folder (for --ablation).")] = Path("runs/tokenizer"),
    ablation_steps: Annotated[int, typer.Option("--ablation-steps", min=1, help="Optimizer steps per ablation arm.")] = 600,
    ablation_n: Annotated[int, typer.Option("--ablation-n", min=0, help="Test windows scored per ablation arm (0 = all).")] = 300,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports/bench"),
    threads: Annotated[int, typer.Option(min=0, help="Torch CPU threads (0: torch's default).")] = 0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the window sample and the bootstrap.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Recompute even when OUT/next_kmer.json was made with the same settings, data and model.")] = False,
) -> None:
    """Exact next-k-mer accuracy (k = 1..6) after 50-nt human windows: chance, Markov, the LM.

    Writes OUT/next_kmer.{json,md} (or OUT/next_kmer_ablation.{json,md} with --ablation) and prints the table. A report already made with the same settings, data manifest and model weights is reused (--force redoes it).
    """
    from ..atomic import check_dir_path
    from ..nextkmer import (AblationConfig, BenchConfig, bench_settings, format_table, reusable_report, run_ablation,
                            run_benchmark, write_report)

    check_dir_path(out, marker=None)  # before the work, not after it

    if ablation:
        cfg = AblationConfig(max_steps=ablation_steps, n=ablation_n, seed=seed, threads=threads)
        rep = run_ablation(data, tokenizer, out / "ablation", cfg, progress=not quiet)
        path = write_report(rep, out, "next_kmer_ablation")
    else:
        if model is None and not no_lm and (Path("runs/pretrain/cpu/final") / "config.json").is_file():
            model = Path("runs/pretrain/cpu/final")
        cfg = BenchConfig(n=n, n_valid=n_valid, markov_train_mb=markov_train_mb, markov_m_max=m_max, seed=seed,
                          threads=threads)
        lm = None if no_lm else model
        settings = bench_settings(data, lm, cfg)
        old = None if force else reusable_report(out, settings)
        if old is not None:
            typer.echo(f"reusing {out / 'next_kmer.json'}: same settings, data and model (--force recomputes)")
            rep, path = old, out / "next_kmer.md"
        else:
            rep = {**run_benchmark(data, lm, cfg, progress=not quiet), "settings": settings}
            path = write_report(rep, out, "next_kmer")
    typer.echo(format_table(rep))
    typer.echo(f"report: {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
