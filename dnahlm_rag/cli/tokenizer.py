"""``dnahlm tokenizer train | stats``: the DNA+English byte-level BPE tokenizer."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ORDER = 15

tokenizer_app = typer.Typer(help="Train and inspect the DNA+English byte-level BPE tokenizer.", no_args_is_help=True)


def _report(m: dict) -> str:
    return (f"vocab {m['vocab_size']}: {m['dna_bases_per_token']} bases/token on held-out DNA "
            f"({m['dna_bases']} bases), {m['english_tokens_per_word']} tokens/word on held-out English "
            f"({m['english_words']} words), round trip DNA {m['dna_round_trip']} English {m['english_round_trip']}, "
            f"encode {m['encode_mb_per_s']} MB/s (1 thread), {m['encode_batch_mb_per_s']} MB/s (batch)")


@tokenizer_app.command("train")
def train(
    data: Annotated[Path, typer.Option(help="Dataset folder from `dnahlm data build` (reads pretrain/*.txt).")] = Path("data"),
    out: Annotated[Path, typer.Option(help="Tokenizer folder to write (replaced atomically).")] = Path("runs/tokenizer"),
    recipe: Annotated[str, typer.Option(help="Tokenizer recipe: name in recipes/tokenizer/ or a .toml path.")] = "default",
    vocab_size: Annotated[Optional[int], typer.Option("--vocab-size", help="Override the recipe's vocabulary size (special tokens included).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train the byte-level BPE on a sample of the DNA and English training text; measure it on held-out text."""
    from ..tokenizer import load_tokenizer_recipe, train_tokenizer

    r = load_tokenizer_recipe(recipe)
    if vocab_size is not None:
        r.vocab_size = vocab_size
    m = train_tokenizer(data, out, r, recipe_name=recipe, progress=not quiet)
    typer.echo(f"wrote {out} in {m['train_seconds']} s")
    typer.echo(_report({"vocab_size": m["vocab_size"], **m["metrics"]}))


@tokenizer_app.command("stats")
def stats(
    tokenizer: Annotated[Path, typer.Option(help="Tokenizer folder from `dnahlm tokenizer train`.")] = Path("runs/tokenizer"),
    data: Annotated[Optional[Path], typer.Option(help="Re-measure on this dataset folder's valid files (default: print the recorded metrics).")] = None,
) -> None:
    """Print the tokenizer's held-out metrics: bases/token, tokens/word, round trips, encode MB/s."""
    from ..tokenizer import stats as tokenizer_stats

    typer.echo(_report(tokenizer_stats(tokenizer, data)))


def register(app: typer.Typer) -> None:
    app.add_typer(tokenizer_app, name="tokenizer")
