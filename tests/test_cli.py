import signal
import subprocess
import sys

import pytest

from srgan import cli
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


def test_sigterm_interrupts_file_commands_only_while_they_run(monkeypatch):
    """upscale, degrade and the others clean up after SIGTERM as after Ctrl-C; train and serve keep their own
    handling, and the handler is put back when main returns."""
    seen = {}

    def fake(name):
        def run(args):
            seen[name] = signal.getsignal(signal.SIGTERM)
            return 0
        return run

    for name in ("degrade", "train", "serve"):
        monkeypatch.setattr(cli, f"cmd_{name}", fake(name))
    before = signal.getsignal(signal.SIGTERM)
    assert main(["degrade", "in", "-o", "out"]) == main(["train"]) == main(["serve"]) == 0
    assert seen == {"degrade": cli._raise_terminated, "train": before, "serve": before}
    assert signal.getsignal(signal.SIGTERM) is before


def test_export_checks_its_output_folder_before_loading(tmp_path, monkeypatch, capsys):
    import srgan.infer.model as model_module

    monkeypatch.setattr(model_module, "load", lambda *a, **k: pytest.fail("loaded a model for an output it cannot write"))
    assert main(["export", "--model", "srresnet-x4", "-o", str(tmp_path / "missing" / "m.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srgan: error: ") and "does not exist" in err[0]
