"""`curate --help` explains every subcommand, and each subcommand's own --help works."""

import pytest

from curate.cli import COMMANDS, build_parser, main


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    assert "Beam pipeline options" in " ".join(out.split())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) >= 3


def test_every_command_has_a_one_line_summary():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert set(helps) == set(COMMANDS)
    assert all(h and len(h) > 10 for h in helps.values())


def test_unknown_positional_is_an_error(capsys):
    with pytest.raises(SystemExit):
        main(["ingest", "--input", "x", "--output", "y", "stray"])



def _heavy_modules_after(argv: list[str]) -> list[str]:
    """The heavy libraries imported by `curate <argv>` run in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from curate import cli\n"
        f"try:\n    cli.main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'apache_beam', 'torch', 'pyarrow', 'open_clip'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return eval(out.splitlines()[-1])  # noqa: S307  (our own print of a list of names)


def test_top_level_help_imports_no_beam():
    """`curate --help` builds the parser without Beam, torch or pyarrow (seconds of import
    under load): each command's arguments are added only when that command is given."""
    assert _heavy_modules_after(["--help"]) == []


def test_a_stage_help_imports_no_beam():
    assert "apache_beam" not in _heavy_modules_after(["filter", "--help"])
