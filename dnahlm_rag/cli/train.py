"""``dnahlm pretrain`` and ``dnahlm markov``: GPT-2 pretraining on DNA + English and its baseline."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

ORDER = 20


def pretrain(
    recipe: Annotated[str, typer.Option(help="Pretraining recipe: tiny, cpu, cpu-long, cpu-long2 (continues cpu-long), gpu-small, gpt2-124m (recipes/pretrain/) or a .toml path.")] = "cpu",
    data: Annotated[Path, typer.Option(help="Dataset folder from `dnahlm data build`.")] = Path("data"),
    tokenizer: Annotated[Path, typer.Option(help="Tokenizer folder from `dnahlm tokenizer train`.")] = Path("runs/tokenizer"),
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default runs/pretrain/<recipe name>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint exactly where it stopped.")] = False,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Override the recipe's number of optimizer steps (part of the recipe identity).")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="Override the recipe's train.precision: auto (bf16 where the CPU or GPU has native bf16, else fp32), bf16 or fp32 (part of the recipe identity).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="Torch CPU threads (default: recipe, $DNAHLM_THREADS, or cores / processes).")] = None,
    init_from: Annotated[Optional[Path], typer.Option("--init-from", help="For a recipe that continues another (its `continues` key): that run's final/ folder, whose weights this run starts from.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Pretrain a GPT-2 on DNA + English from a recipe; under torchrun the same command runs DDP.

    Writes OUT/checkpoint (resumable), OUT/final (save_pretrained + tokenizer + dnahlm.json), OUT/log.jsonl, OUT/loss.png and OUT/manifest.json.
    A recipe with `continues` (cpu-long2) starts from that recipe's finished weights: pass --init-from RUN/final.
    """
    from ..pretrain import load_pretrain_recipe, pretrain as run, with_precision

    r = with_precision(load_pretrain_recipe(recipe), precision)
    res = run(r, data, tokenizer, out or Path("runs/pretrain") / r.name, resume=resume, max_steps=max_steps,
              threads=threads, progress=not quiet, init_from=init_from)
    m = res.metrics
    if not m:
        if res.finished:
            return  # not the main process of a DDP run
        typer.echo(f"stopped at step {res.steps}; continue with --resume")
        return
    total = f" ({m['tokens_seen_total']:,} with the run it continues)" if m.get("tokens_seen_total", 0) > m["tokens_seen"] else ""
    typer.echo(f"{res.out_dir}: {res.steps} steps, {m['tokens_seen']:,} tokens{total}, median {m['median_tokens_per_s']:,.0f} tokens/s")
    typer.echo(f"held-out DNA {m.get('val_dna_bits_per_base')} bits/base (Markov baseline {m.get('markov_bits_per_base')}), "
               f"held-out English {m.get('val_english_nats_per_token')} nats/token")


def markov(
    data: Annotated[Path, typer.Option(help="Dataset folder from `dnahlm data build`.")] = Path("data"),
    recipe: Annotated[str, typer.Option(help="Pretraining recipe whose [data] sizes select the training and held-out DNA.")] = "cpu",
    k_max: Annotated[int, typer.Option(help="Largest Markov order tried.")] = 12,
    out: Annotated[Optional[Path], typer.Option(help="Also write the report as JSON here.")] = None,
) -> None:
    """Order-k Markov baseline: best k chosen on part of the training DNA, scored in bits/base on held-out DNA."""
    from ..atomic import check_file_path, write_json
    from ..markov import MarkovConfig, baseline_report
    from ..pretrain import load_pretrain_recipe
    from ..tokenizer import head_lines, pretrain_files, sample_lines

    if out is not None:
        check_file_path(out, "--out")  # before the work, not after
    r = load_pretrain_recipe(recipe)
    files = pretrain_files(data)
    rep = baseline_report(sample_lines(files["dna.train"], r.data.dna_train_mb, r.data.sample_offset),
                          head_lines(files["dna.valid"], r.data.eval_dna_mb), MarkovConfig(k_max=k_max), progress=True)
    if out is not None:
        write_json(out, rep)
    typer.echo(f"order {rep['k']} (alpha {rep['alpha']}, chosen on training DNA: {rep['train_val_bits_per_base']} bits/base): "
               f"{rep['heldout_bits_per_base']} bits/base on {rep['heldout_bases']:,} held-out bases "
               f"(fitted on {rep['train_bases']:,} bases)")
    typer.echo(json.dumps([s for s in rep["search"] if s["alpha"] == rep["alpha"]]))


def register(app: typer.Typer) -> None:
    app.command("pretrain")(pretrain)
    app.command("markov")(markov)
