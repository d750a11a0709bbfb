"""``dnahlm sft``: instruction tuning of a pretrained model on ``runs/instruct``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ORDER = 26


def sft(
    recipe: Annotated[str, typer.Option(help="SFT recipe: tiny, cpu, gpu-small (recipes/sft/) or a .toml path.")] = "cpu",
    base: Annotated[Path, typer.Option(help="Pretrained model folder (final/ of `dnahlm pretrain`).")] = Path("runs/pretrain/cpu/final"),
    instruct: Annotated[Path, typer.Option(help="Instruction data from `dnahlm instruct build`.")] = Path("runs/instruct"),
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default runs/sft/<recipe name>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint exactly where it stopped.")] = False,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Override the recipe's number of optimizer steps (part of the recipe identity).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Tune with another seed (the batch order): the recipe named <recipe>-s<SEED>, e.g. cpu-rag-s1.")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="Override the recipe's train.precision: auto (bf16 where the CPU or GPU has native bf16, else fp32), bf16 or fp32 (part of the recipe identity).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="Torch CPU threads (default: recipe, $DNAHLM_THREADS, or all cores).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Tune a pretrained GPT-2 to follow DNA instructions (loss on response tokens only, eos learned).

    Writes OUT/checkpoint (resumable), OUT/final (save_pretrained + tokenizer + dnahlm.json with the prompt style used at inference), OUT/log.jsonl, OUT/loss.png and OUT/manifest.json.
    """
    from ..pretrain import with_precision
    from ..sft import load_sft_recipe, reseeded, sft as run

    r = with_precision(load_sft_recipe(recipe), precision)
    if seed is not None:
        r = reseeded(r, seed)
    res = run(r, base, instruct, out or Path("runs/sft") / r.name, resume=resume, max_steps=max_steps,
              threads=threads, progress=not quiet)
    if not res.finished:
        typer.echo(f"stopped at step {res.steps}; continue with --resume")
        return
    m = res.metrics
    typer.echo(f"{res.out_dir}: {res.steps} steps ({m['epochs']:.2f} epochs of {m['train_records']} records), "
               f"median {m['median_tokens_per_s']:,.0f} tokens/s, {m['wall_s']} s")
    typer.echo(f"train loss {m['first_train_loss']:.3f} -> {m['final_train_loss']:.3f}, "
               f"valid {m.get('val_loss', float('nan')):.3f} nats per response token")


def register(app: typer.Typer) -> None:
    app.command("sft")(sft)
