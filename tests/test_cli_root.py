"""The CLI root: help, version, and user errors as one line with exit status 2."""
import typer
from typer.testing import CliRunner

from dnahlm_rag.cli.app import _Group, app
from dnahlm_rag.errors import DnaHlmError

runner = CliRunner()


def test_help_and_version():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "questions about DNA" in r.output
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("dnahlm-rag ")


def test_user_error_is_one_line_exit_2():
    t = typer.Typer(cls=_Group)

    @t.command()
    def boom() -> None:
        raise DnaHlmError("sequence is not DNA: character 'E' at position 3")

    @t.command()
    def other() -> None:
        pass

    r = runner.invoke(t, ["boom"])
    assert r.exit_code == 2
    assert r.output.strip() == "error: sequence is not DNA: character 'E' at position 3"
