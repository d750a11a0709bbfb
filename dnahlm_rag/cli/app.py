"""Root of the ``dnahlm`` CLI: discovers the command modules beside this file and runs them.

Each module ``dnahlm_rag/cli/<group>.py`` defines ``ORDER`` (its place in ``--help``) and
``register(app)``. User errors (:class:`~dnahlm_rag.errors.DnaHlmError`) are printed as one
``error: ...`` line with exit status 2, never as a traceback. Command docstrings keep each
paragraph on one line: ``--help`` (rich mode) prints their line breaks as they are.
"""
from __future__ import annotations

import importlib
import pkgutil

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import DnaHlmError


class _Group(TyperGroup):
    """Root group that turns user errors into one line and exit status 2."""

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except DnaHlmError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Group,
    name="dnahlm",
    help="Ask natural-language questions about DNA: data, tokenizer, GPT-2 pretraining, "
    "instruction tuning, retrieval (RAG), batch answering and evaluation.",
    epilog=(
        "What it answers (with `ask`, `batch`): what a coding sequence encodes; splice donor, acceptor or neither "
        "(60-nt primate windows); E. coli promoter or not; the amino acid a tRNA gene carries; CDS, tRNA, rRNA or "
        "intergenic; the genus of a 16S rRNA gene (one of 40); the next bases of a DNA window. Other questions get the "
        "nearest annotated segments' description. The task is read from the question's wording (--task chooses it).\n\n"
        "Examples: dnahlm ask \"What does this gene encode?\" --fasta gene.fa  |  dnahlm ask \"Is this a splice donor?\" "
        "--seq CAGGTAAGT...  |  dnahlm batch genome.gbk --question \"What does this gene encode?\" --out answers.jsonl  |  "
        "dnahlm eval (the evaluation report). Set-up: `make demo` (README.md)."),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dnahlm-rag {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """dnahlm: ask natural-language questions about DNA."""


def _register_all() -> None:
    from .. import cli as pkg

    mods = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name in ("app",) or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        if hasattr(mod, "register"):
            mods.append(mod)
    for mod in sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        mod.register(app)


_register_all()


def main() -> None:
    """Console-script entry point (``dnahlm``)."""
    app()
