"""``precision="auto"`` on the CPU: the measured-fastest of fp32 and bf16 on the machine at hand.

Why a measurement and not a CPU flag: whether bf16 pays depends on more than "the CPU has bf16". On a
2-core AMD EPYC with AVX-512-BF16, bf16 ran the ×4 generator 3.8× faster than eager fp32; on a 2-core
Intel Xeon with AVX-512-BF16 but no AMX, a 960×540 → 3840×2160 upscale took 29–31 s in bf16 and 20–22 s
in fp32 (the project's issue 14); on a Xeon with AMX, bf16 is again several times faster. Only running
the real network tells them apart.

The probe: both candidates are prepared exactly as inference uses them (``srgan.infer.fast.prepare``) and run
alternately on one ``PROBE_SIDE``-pixel window, after a warm-up run each; each gets the best of
``PROBE_RUNS`` timings, which shrugs off another process stealing a core for a moment. The warm-up is timed
too: a candidate whose warm-up took over ``SCREEN_FACTOR``× the fastest one's is not timed again. That is
bf16 where oneDNN has no bf16 kernels (CPUs without AVX-512 or AMX): emulated, about 10× slower than fp32
for the ×4 SRResNet with oneDNN capped at AVX2 here, and its timed runs made most of a 195 s first run.
(A smaller window is no shortcut: fp32 took longer on 32 pixels than on 64 there.) It costs one to
two seconds, once: the answer is kept in ``<cache>/precision.json`` (the int8 graph's cache folder),
keyed by the CPU model, whether oneDNN has bf16 kernels on it, the thread count, the torch version and a
digest of the weights, so a new machine, a new torch or new weights measure again.

int8 is never a candidate: it is lossier (0.07–0.3 dB PSNR-Y below fp32), so it stays a choice the user
makes. fp32 and bf16 agree to about 0.01 dB (README, "Precision").
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

CANDIDATES = ("fp32", "bf16")
PROBE_SIDE = 128  # input pixels: 0.1–0.5 s a run for the ×4 SRResNet on 2 cores, in the range of a real tile
PROBE_RUNS = 3
# bf16 took 0.26× to 1.4× fp32's time where oneDNN has bf16 kernels (module doc), 10× where it has none;
# a warm-up at the probe's size took about 10% longer than the runs after it.
SCREEN_FACTOR = 5
CACHE_FILE = "precision.json"


@dataclass(frozen=True)
class Choice:
    """What ``auto`` picked and why: output megapixels per second of each candidate on the probe (from its
    warm-up for a candidate too slow to time further)."""

    precision: str
    rates: dict[str, float]
    cpu: str
    threads: int
    torch: str
    cached: bool = False


def cpu_name() -> str:
    """The CPU's model name as the kernel reports it (``platform.processor()`` is often empty on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpu_flags_digest() -> str:
    """Two CPUs can share a model name ("Intel(R) Xeon(R) Processor") and differ in AMX: keep them apart."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("flags"):
                    return hashlib.sha256(line.split(":", 1)[1].strip().encode()).hexdigest()[:8]
    except OSError:
        pass
    return platform.machine()


def weights_digest(net: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _key(net: nn.Module, kind: str) -> str:
    from srgan.device import cpu_supports_bf16

    # oneDNN may use less than the CPU's flags offer (ONEDNN_MAX_CPU_ISA), and that changes the answer.
    onednn = "onednn bf16" if cpu_supports_bf16() else "no onednn bf16"
    return (f"{cpu_name()} ({_cpu_flags_digest()}, {onednn})|{torch.get_num_threads()} threads|torch {torch.__version__}"
            f"|{kind}|{weights_digest(net)}")


def choose(net: nn.Module, kind: str, prepared: Callable[[str], Callable], in_channels: int, scale: int) -> Choice:
    """The faster of fp32 and bf16 for ``net`` on this CPU, from the cache or by a timed probe.

    ``prepared(precision)`` returns the runnable form of the network for a precision (the caller keeps
    it, so the winner's preparation is not repeated).
    """
    from srgan.infer.int8 import cache_dir

    key = _key(net, kind)
    path = cache_dir() / CACHE_FILE
    table = _read_table(path)
    if key in table:
        try:
            return Choice(**{**table[key], "cached": True})
        except TypeError:
            pass  # an entry from another version of this file: measure again
    choice = measure(prepared, in_channels, scale)
    table[key] = {k: v for k, v in asdict(choice).items() if k != "cached"}
    try:
        from srgan.models.zoo import atomic_save_json

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_json(path, table)
    except Exception as exc:  # noqa: BLE001 - a read-only home measures again next time; never fatal
        log.warning("precision choice not cached (%s)", exc)
    return choice


def measure(prepared: Callable[[str], Callable], in_channels: int, scale: int) -> Choice:
    """Time each candidate on one window; the highest rate wins (fp32 unless bf16 runs at all)."""
    from srgan.infer.fast import dtype_of

    x = torch.rand(1, in_channels, PROBE_SIDE, PROBE_SIDE, generator=torch.Generator().manual_seed(0))
    runnable: dict[str, tuple[Callable, torch.Tensor]] = {}
    warm: dict[str, float] = {}
    for precision in CANDIDATES:
        try:
            net = prepared(precision)
            window = x.to(dtype_of(precision)).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                t0 = time.perf_counter()
                net(window)  # warm-up: oneDNN picks and caches its kernels on the first call
                warm[precision] = time.perf_counter() - t0
            runnable[precision] = (net, window)
        except (RuntimeError, ValueError) as exc:  # e.g. a build without bf16 convolutions
            log.info("auto precision: %s does not run here (%s)", precision, str(exc).splitlines()[0])
    fastest = min(warm.values(), default=0.0)
    slow = {p: t for p, t in warm.items() if fastest > 0 and t > SCREEN_FACTOR * fastest}
    for precision, seconds in slow.items():
        log.info("auto precision: %s took %.0f× the fastest warm-up; not timed further", precision, seconds / fastest)
        del runnable[precision]
    best = {p: float("inf") for p in runnable}
    for _ in range(PROBE_RUNS):
        for precision, (net, window) in runnable.items():  # alternated, so a busy moment hits both
            with torch.inference_mode():
                t0 = time.perf_counter()
                net(window)
                best[precision] = min(best[precision], time.perf_counter() - t0)
    megapixels = (PROBE_SIDE * scale) ** 2 / 1e6
    seconds = {**slow, **best}  # a slow candidate's from its warm-up: a little low
    rates = {p: round(megapixels / seconds[p], 4) for p in CANDIDATES if p in seconds}
    winner = max(rates, key=rates.get) if rates else "fp32"
    return Choice(winner, rates, cpu_name(), torch.get_num_threads(), torch.__version__)


def _read_table(path) -> dict:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        return table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        return {}
