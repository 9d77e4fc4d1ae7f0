"""Bring a GPU chunk's results (tools/gpu_chunk.sh run) back into the run they came from.

    python tools/gpu_unpack.py FILES_AT RUN [--force]

FILES_AT is the folder the device tool's reply names (files_at): ``result.json``, the checkpoint in pieces
(``step_NNNNNNN.pt.aa``, ``.ab``, ...), ``metrics.jsonl``, ``train.log`` and, when the chunk exported one,
``model.safetensors``/``model.json``. This joins the pieces, checks the joined file against result.json's
sha256 and that it loads (``torch.load(..., weights_only=True)``, the step it claims, the run's kind), and
renames it into ``RUN/checkpoints`` (written under a temporary name first, so a failure leaves no checkpoint).
``RUN/metrics.jsonl`` is cut back to the packed step (or, for a later chunk on the same warm machine, the step
that chunk went on from, which an earlier unpack brought here), as a resume would cut it, and gets the chunk's
records after it. ``srgan train --resume RUN`` then goes on from the GPU's step.

The chunk's train.log and exports go to ``RUN/gpu_chunks/step_P-S/``, not over the run's own model.safetensors:
their card names the machine's paths (its packed data folders), and the run's own export is the one its own
machine made. The device's best.pt does not come back (the tool returns 8 files at most), so
``RUN/checkpoints/best.pt`` stays the best of the steps trained here.

It refuses (one line, exit 2) results of another run, and a RUN that has moved on since it was packed (a
checkpoint newer than the packed step that the chunk did not go on from: the chunk forked from it); ``--force``
copies anyway. Run twice on the same results it says so and changes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path


class UnpackError(Exception):
    """Bad input or a failed check: one line for the user."""


def read_result(parts: Path) -> dict:
    if not parts.is_dir():
        raise UnpackError(f"{parts}: not a folder (the device reply's files_at)")
    try:
        result = json.loads((parts / "result.json").read_text())
        for key in ("run", "pack_step", "step", "checkpoint", "sha256", "pieces"):
            result[key]
    except FileNotFoundError:
        raise UnpackError(f"{parts}: no result.json (not the output of tools/gpu_chunk.sh run)") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UnpackError(f"{parts}/result.json: not a gpu_chunk.sh result") from None
    missing = [p for p in result["pieces"] if not (parts / p).is_file()]
    if missing or not result["pieces"]:
        raise UnpackError(f"{parts}: checkpoint piece(s) missing: {', '.join(missing) or 'none listed'}")
    return result


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def newest_step(run: Path) -> int:
    from srgan.train.checkpoint import checkpoint_step_of, step_checkpoints

    ckpts = step_checkpoints(run)
    return checkpoint_step_of(ckpts[-1]) if ckpts else 0


def join_checkpoint(parts: Path, result: dict, dest: Path, kind: str) -> None:
    """The pieces joined into ``dest`` (atomically), checked by sha256 and by loading it."""
    import torch

    from srgan.io.files import atomic_path

    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        h = hashlib.sha256()
        with open(tmp, "wb") as out:
            for piece in sorted(result["pieces"]):  # split's suffixes aa, ab, ... sort in order
                with open(parts / piece, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != result["sha256"]:
            raise UnpackError("the joined checkpoint's sha256 differs from result.json's (a piece cut short?)")
        try:
            ckpt = torch.load(tmp, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the same one-line error
            raise UnpackError(f"the joined checkpoint does not load ({type(e).__name__}: {str(e)[:120]})") from None
        if int(ckpt.get("step", -1)) != int(result["step"]):
            raise UnpackError(f"the joined checkpoint holds step {ckpt.get('step')}, not {result['step']}")
        if ckpt.get("config", {}).get("kind") != kind:
            raise UnpackError(f"the joined checkpoint is of a {ckpt.get('config', {}).get('kind')} run, RUN is {kind}")


def merge_metrics(run: Path, returned: Path, after: int, upto: int) -> int:
    """RUN's metrics.jsonl cut back to step ``after`` (truncate_log, as a resume does), then the returned
    records of steps ``after`` < step <= ``upto`` appended; how many were appended."""
    from srgan.io.files import atomic_write_bytes
    from srgan.train.loop import truncate_log

    log = run / "metrics.jsonl"
    truncate_log(log, after)
    new = []
    if returned.is_file():
        for line in returned.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line
            if isinstance(record, dict) and isinstance(record.get("step"), int) and after < record["step"] <= upto:
                new.append(line + "\n")
    if new:
        old = log.read_bytes() if log.is_file() else b""
        atomic_write_bytes(log, old + "".join(new).encode())
    return len(new)


def unpack(parts: Path, run: Path, force: bool) -> str:
    from srgan.errors import SrganError
    from srgan.train.config import load_run_config

    result = read_result(parts)
    try:
        cfg = load_run_config(run)
    except SrganError as e:
        raise UnpackError(str(e)) from None
    if result["run"] != run.resolve().name and not force:
        raise UnpackError(f"these results are of run {result['run']}, not {run.resolve().name} (--force copies anyway)")
    packed, step = int(result["pack_step"]), int(result["step"])
    start = int(result.get("start_step", packed))  # a later chunk on a warm machine starts where the last ended
    name = f"step_{step:07d}.pt"
    if (run / "checkpoints" / name).is_file() and file_sha256(run / "checkpoints" / name) == result["sha256"]:
        return f"{run}/checkpoints/{name} is this chunk's checkpoint already: nothing to do"
    here = newest_step(run)
    if here > packed and here != start and not force:
        raise UnpackError(f"{run} has moved on since it was packed (checkpoint step {here}; the chunk went on from "
                          f"step {start}, packed at {packed}): --force copies anyway")
    if step <= here:
        raise UnpackError(f"nothing new: the chunk ended at step {step}, {run} has step {here}")
    # The log goes on from the step RUN's newest checkpoint shares with the machine's run.
    base = start if here == start else packed
    join_checkpoint(parts, result, run / "checkpoints" / name, cfg.kind)
    appended = merge_metrics(run, parts / "metrics.jsonl", base, step)
    kept = run / "gpu_chunks" / f"step_{base}-{step}"
    extras = [f for f in ("train.log", "model.safetensors", "model.json") if (parts / f).is_file()]
    if extras:
        kept.mkdir(parents=True, exist_ok=True)
        for f in extras:
            shutil.copyfile(parts / f, kept / f)
    lines = [f"{run}/checkpoints/{name}: step {base} -> {step} from the GPU; {appended} metrics record(s) appended"]
    if extras:
        lines.append(f"kept {', '.join(extras)} in {kept}"
                     + (" (the chunk exported a new best: its card names the machine's paths)"
                        if "model.safetensors" in extras else ""))
    lines.append(f"go on with: srgan train --resume {run}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("parts", type=Path, help="the folder the device reply's files landed in (files_at)")
    p.add_argument("run", type=Path, help="the run folder the pack was made from")
    p.add_argument("--force", action="store_true", help="copy even into another run or one that has moved on")
    args = p.parse_args(argv)
    try:
        from srgan.errors import SrganError
    except ImportError as e:
        print(f"error: {e} (run with the project's virtual environment)", file=sys.stderr)
        return 2
    try:
        print(unpack(args.parts, args.run, args.force))
    except (UnpackError, SrganError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
