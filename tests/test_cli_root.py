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


def _command_paths(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click: no isinstance)
            yield from _command_paths(cmd, prefix + (name,))
        else:
            yield prefix + (name,)


def test_every_help_text_wraps_its_paragraphs():
    """Rich --help prints a docstring's line breaks as they are: a paragraph hard-wrapped in the
    source shows up cut short ("the\\n goals),"). Every command's description must read as whole lines."""
    paths = list(_command_paths(typer.main.get_command(app)))
    assert len(paths) > 15 and ("ask",) in paths and ("index", "build") in paths
    for path in paths:
        r = runner.invoke(app, [*path, "--help"], terminal_width=80, env={"COLUMNS": "80"})
        assert r.exit_code == 0, path
        desc = r.output.split("╭")[0].split("\n")[3:]
        paragraphs, cur = [], []
        for line in desc + [""]:
            if line.strip():
                cur.append(line.strip())
            elif cur:
                paragraphs.append(cur)
                cur = []
        short = [(p, line) for p in paragraphs for line in p[:-1] if len(line) < 55]
        assert not short, (path, short)
