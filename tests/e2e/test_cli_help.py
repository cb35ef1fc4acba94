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


def test_top_level_help_imports_no_beam():
    """`curate --help` builds the parser without Beam, torch or pyarrow (seconds of import
    under load): each command's arguments are added only when that command is given."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from curate import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & {'apache_beam', 'torch', 'pyarrow', 'open_clip'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "HEAVY []", out


def test_a_stage_help_imports_no_beam():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from curate import cli\n"
        "try:\n    cli.main(['filter', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('BEAM', 'apache_beam' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "BEAM False", out
