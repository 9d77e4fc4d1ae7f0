"""``precision="auto"`` on the CPU: a timed probe of the real network picks fp32 or bf16, cached per machine."""

import json
import time

import pytest
import torch

from srgan.infer import autoprecision

from srgan.models import zoo
from srgan.cli import main
from srgan.infer.model import load
from srgan.models.generator import Generator


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny-x4.safetensors"
    zoo.save_model(path, Generator(num_blocks=1, channels=8).eval(), {"kind": "srresnet", "scale": 4})
    return path


def _fake_forms(seconds: dict[str, float], calls: list[str]):
    def prepared(precision):
        def run(x):
            calls.append(precision)
            time.sleep(seconds[precision])
            return x

        return run

    return prepared


@pytest.mark.parametrize("slow", ["fp32", "bf16"])
def test_the_measured_faster_precision_wins_whichever_it_is(slow):
    fast = "bf16" if slow == "fp32" else "fp32"
    calls: list[str] = []
    choice = autoprecision.measure(_fake_forms({slow: 0.12, fast: 0.05}, calls), in_channels=3, scale=4)
    assert choice.precision == fast
    assert choice.rates[fast] > 1.5 * choice.rates[slow]
    # A warm-up and PROBE_RUNS timed runs each, alternated so that a busy moment hits both.
    assert calls.count("fp32") == calls.count("bf16") == 1 + autoprecision.PROBE_RUNS
    assert calls[2:4] in (["fp32", "bf16"], ["bf16", "fp32"])


def test_a_precision_far_slower_in_its_warm_up_is_not_timed_further():
    """bf16 emulated where oneDNN has no bf16 kernels (10× slower): its timed runs took minutes."""
    calls: list[str] = []
    seconds = {"bf16": 0.5, "fp32": 0.02}  # 25×: over SCREEN_FACTOR even if the fp32 warm-up is held up
    choice = autoprecision.measure(_fake_forms(seconds, calls), in_channels=3, scale=4)
    assert calls.count("bf16") == 1 and calls.count("fp32") == 1 + autoprecision.PROBE_RUNS
    assert choice.precision == "fp32" and list(choice.rates) == ["fp32", "bf16"]
    assert choice.rates["fp32"] > autoprecision.SCREEN_FACTOR * choice.rates["bf16"]


def test_a_precision_that_does_not_run_is_left_out():
    def prepared(precision):
        if precision == "bf16":
            raise RuntimeError("no bf16 convolutions in this build")
        return lambda x: x

    choice = autoprecision.measure(prepared, in_channels=3, scale=4)
    assert choice.precision == "fp32" and list(choice.rates) == ["fp32"]


def test_the_choice_is_cached_per_weights(cache, model_file, monkeypatch):
    first = load(model_file, precision="auto")
    assert first.auto is not None and not first.auto.cached
    assert first.precision == first.auto.precision in ("fp32", "bf16")
    assert list(first._prepared) == [first.precision]  # the loser's prepacked weights are dropped
    saved = json.loads((cache / "precision.json").read_text())
    assert len(saved) == 1 and next(iter(saved.values()))["precision"] == first.precision

    def no_probe(*_args, **_kwargs):
        raise AssertionError("measured again although the choice was cached")

    monkeypatch.setattr(autoprecision, "measure", no_probe)
    again = load(model_file, precision="auto")
    assert again.auto.cached and again.precision == first.precision

    # Other weights are another network: measured anew.
    monkeypatch.undo()
    monkeypatch.setenv("SRGAN_CACHE", str(cache))
    other = model_file.with_name("other.safetensors")
    torch.manual_seed(1)
    zoo.save_model(other, Generator(num_blocks=1, channels=8).eval(), {"kind": "srresnet", "scale": 4})
    assert not load(other, precision="auto").auto.cached
    assert len(json.loads((cache / "precision.json").read_text())) == 2


def test_a_cpu_whose_onednn_lacks_bf16_kernels_measures_again(cache, model_file, monkeypatch):
    """Same CPU flags, oneDNN capped below them (ONEDNN_MAX_CPU_ISA=AVX2): another answer, another entry."""
    import srgan.device

    first = load(model_file, precision="auto")
    native = srgan.device.cpu_supports_bf16()
    monkeypatch.setattr(srgan.device, "cpu_supports_bf16", lambda: not native)
    assert not load(model_file, precision="auto").auto.cached
    assert len(json.loads((cache / "precision.json").read_text())) == 2 and not first.auto.cached


def test_auto_per_call_uses_the_measured_choice(cache, model_file, monkeypatch):
    m = load(model_file, precision="fp32")
    assert m.auto is None
    monkeypatch.setattr(autoprecision, "measure", lambda *a, **k: autoprecision.Choice("bf16", {"fp32": 1.0, "bf16": 2.0}, "cpu", 2, "t"))
    assert m._precision("auto") == "bf16"
    assert m._precision(None) == "fp32"  # the model's own stays what it was loaded with


def test_a_corrupt_cache_is_measured_again(cache, model_file):
    cache.mkdir(parents=True)
    (cache / "precision.json").write_text("{not json")
    assert not load(model_file, precision="auto").auto.cached
    json.loads((cache / "precision.json").read_text())  # rewritten whole


def test_info_command_prints_the_choice(cache, model_file, capsys):
    assert main(["info", "--model", str(model_file), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    row = info["auto_precision"][0]
    assert row["precision"] in row["rates_mp_per_s"] and row["rates_mp_per_s"][row["precision"]] == max(row["rates_mp_per_s"].values())
    assert info["cpu"] == autoprecision.cpu_name() and info["threads"] == torch.get_num_threads()
    assert main(["info", "--model", str(model_file)]) == 0
    assert "-> " + row["precision"] in capsys.readouterr().out
