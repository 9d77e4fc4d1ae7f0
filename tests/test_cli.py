import subprocess
import sys

import pytest

from srgan.cli import build_parser, main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("train", "evaluate", "degrade"):
        assert cmd in out


def test_every_option_of_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"srgan {name} {action.option_strings or action.dest} has no help"


def test_usage_errors_exit_2_in_one_line(capsys):
    assert main(["evaluate", "--data", "x", "--bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unrecognized arguments" in err[0]


def test_console_script_without_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "srgan.cli", "evaluate", "--data", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
