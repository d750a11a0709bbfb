"""``dnahlm data fetch | build | summary``: real genomes, benchmarks and English into ``data/``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ORDER = 10

data_app = typer.Typer(help="Fetch the Debian data packages, build the dataset folder, summarize it.",
                       no_args_is_help=True)


@data_app.command("fetch")
def fetch(
    recipe: Annotated[str, typer.Option(help="Data recipe (name in recipes/data/ or a .toml path) whose packages to fetch.")] = "default",
    cache: Annotated[Path, typer.Option(help="Cache folder for .deb files and their extracted contents.")] = Path("cache"),
) -> None:
    """Download the recipe's Debian packages (apt-get download, dpkg-deb -x; nothing is installed).

    Idempotent: packages already in the cache are not downloaded again. Records package, version and sha256 of each .deb in CACHE/fetch_manifest.json.
    """
    from ..data.fetch import fetch_packages
    from ..data.recipe import load_data_recipe

    r = load_data_recipe(recipe)
    results = fetch_packages(r.packages, cache)
    new = [x for x in results if x.downloaded]
    typer.echo(f"{len(results)} packages in {cache} ({len(new)} downloaded now, {len(results) - len(new)} already there)")


@data_app.command("build")
def build(
    recipe: Annotated[str, typer.Option(help="Data recipe: name in recipes/data/ (default, tiny, own) or a .toml path.")] = "default",
    out: Annotated[Path, typer.Option(help="Dataset folder to write (replaced atomically).")] = Path("data"),
    cache: Annotated[Path, typer.Option(help="Cache folder filled by `dnahlm data fetch`.")] = Path("cache"),
    genbank: Annotated[list[Path] | None, typer.Option("--genbank", help="Your own GenBank/EMBL file (repeatable); adds segments and genome tasks.", exists=True, dir_okay=False)] = None,
    fasta: Annotated[list[Path] | None, typer.Option("--fasta", help="Your own FASTA file (repeatable); adds pretraining DNA.", exists=True, dir_okay=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Build the dataset folder: pretraining DNA and English, segments.jsonl, tasks, manifest.json."""
    from ..data.build import build_dataset
    from ..data.recipe import load_data_recipe
    from ..data.summary import summarize

    r = load_data_recipe(recipe)
    build_dataset(r, out=out, cache=cache, genbank_files=genbank, fasta_files=fasta, progress=not quiet)
    typer.echo(summarize(out))


@data_app.command("summary")
def summary(
    data: Annotated[Path, typer.Argument(help="Dataset folder written by `dnahlm data build`.")] = Path("data"),
) -> None:
    """Print counts per source, per task and split, Mb of DNA and MB of English (from the manifest)."""
    from ..data.summary import summarize

    typer.echo(summarize(data))


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
