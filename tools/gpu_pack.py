"""Pack a training run for a lent GPU machine (the workplace's device tool), in parts one call each can carry.

    python tools/gpu_pack.py RUN [--checkpoint PATH] [--out .gpu] [--part-mb 18] [--python-version 3.12]
                             [--seconds 480] [--no-wheels]

The device machine gets a copy of this repository's working tree on every call (tracked and untracked files
that git does not ignore, plus the ``carry`` paths), 64 MiB in all, and never sees ``../shared``; it has torch,
numpy, pillow, safetensors, pyyaml, scipy and tqdm but not pydantic (the config needs it) nor the
EfficientNet-Lite0 package (the effnet content loss needs its .pth); a warm machine keeps /tmp for about 30 s
after a call. So this writes one tar stream (uncompressed: its contents are compressed already) cut into
``OUT/part.000``, ``part.001``, ... of at most --part-mb MiB, and ``OUT/manifest.json`` (each part's sha256, the
step, the run's name). The tar holds:

- ``data/<i>-<source>/<stem>.webp``: every training image exactly as ``srgan.train.data.ImageStore`` holds it in
  memory (the same sources, ``exclude`` applied, decoded and downscaled by ``hr_downscale`` by ImageStore's own
  code), as lossless WebP, each checked to decode to the identical uint8 array, named so that the folder's
  sorted order is the store's order (an index prefix where the stems would not keep it); the SOURCE.md of each
  source, so model cards keep the data's terms;
- ``val/``: the validation images the validator reads (the first ``val_max_images`` of ``val``) as the original
  files under their own names (the ``val_degradation`` preset is seeded by the file name) and ``val/val.txt``;
- ``run/config.yaml`` rewritten for the machine (data → the packed folders, exclude → [], hr_downscale → 1,
  val → val/val.txt, init_generator → null: a resume does not read it), ``run/metrics.jsonl`` and
  ``run/checkpoints/step_NNNNNNN.pt``;
- ``weights/``: the EfficientNet-Lite0 .pth (effnet content loss) or the VGG19 file (vgg22/vgg54);
- ``wheels/``: pydantic and what it needs, the versions installed here, for the machine's Python.

On the machine, ``tools/gpu_chunk.sh stash`` keeps each call's part in /tmp; ``tools/gpu_chunk.sh run SECONDS``
checks and unpacks them, installs the wheels, resumes the run with ``tools/train_for.py --keep-steps`` (the
run's own steps and learning-rate schedule; SIGINT when the time is up) and leaves the newest checkpoint in
15 MiB pieces, metrics.jsonl and the log in $OUT. Back here ``tools/gpu_unpack.py FILES_AT RUN`` joins and checks
the checkpoint, puts it in RUN/checkpoints and appends the new metrics, so ``srgan train --resume RUN`` goes on.
This script prints the exact calls.

Worked example: the GAN run runs/srgan-x4-real-r72 (``kind: srgan``, effnet content loss, data
../shared/data/train/BSDS200 and ../shared/data/cats less configs/cats_val.txt, hr_downscale 2.0; a step schedule,
``lr_decay_at`` 0.75 of 20,000 steps, which ``run`` keeps)::

    OMP_NUM_THREADS=1 nice -n 19 python tools/gpu_pack.py runs/srgan-x4-real-r72   # .gpu/part.000 ... manifest.json

It prints the calls; for its sister run r67 at step 7,187 that was 6 parts (5 × 18 MiB and 6.9 MiB: 1,100
training images 45 MiB, the checkpoint 27 MiB, the EfficientNet .pth 18 MiB, 50 validation JPEGs 2 MiB, the
wheels 2.7 MiB), 40 s of packing. Then, in a session lent a GPU, back to back (a machine stays warm about 30 s
after a call; each call carries the tree, about 41 MiB, plus one part)::

    run  carry [".gpu/part.000", ".gpu/manifest.json"]  command "bash tools/gpu_chunk.sh stash"    timeout_s 120
    ...  the same for part.001 to part.004 ...
    run  carry [".gpu/part.005", ".gpu/manifest.json"]  command "bash tools/gpu_chunk.sh run 480"  timeout_s 570

and, here, with the last reply's files_at::

    python tools/gpu_unpack.py FILES_AT runs/srgan-x4-real-r72
    srgan train --resume runs/srgan-x4-real-r72                      # on the CPU, from the GPU's step

A further chunk on the still-warm machine (a call with no carry: ``bash tools/gpu_chunk.sh run 300``) goes on
from the run left there, and gpu_unpack.py takes its results the same way; then give_back.

``run SECONDS`` takes ``--set key=value`` for the run (after the machine's own: device=cuda, num_workers=12,
threads=0), e.g. ``--set val_every=1000`` where validations would eat the chunk, and ``--end-schedule`` to end
the run's schedule with the chunk (tools/train_for.py's plan: ``steps`` becomes the chunk's last step, which
also moves a step schedule's ``lr_decay_at``). The chunk trains in the run's ``precision`` (auto: bf16 on the
GPU). If the machine went cold between calls, ``stash`` and ``run`` say which parts it lacks: carry those again.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIB = 2**20
TREE_LIMIT = 64 * MIB  # what one device call may carry in all (the working tree and the carried paths)
WHEEL_ROOT = "pydantic"  # the package the machine lacks; its requirements come along (wheel_requirements)
# Each platform tag pip may match (it matches manylinux_2_N exactly): the device README's list.
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                   "manylinux2014_x86_64", "manylinux1_x86_64")
# quality is the lossless effort: on 60 half-size cats 50/4 came 0.3% under 80/5 (r1's pack) in 40% of its time,
# and 100/6 took 25x as long for the same 0.3%.
WEBP_OPTIONS = {"lossless": True, "quality": 50, "method": 4}


class PackError(Exception):
    """Bad input or a failed step: one line for the user."""


# ------------------------------------------------------------------------------------------ the tar in parts


class PartWriter:
    """A write-only stream cut into ``folder/part.000``, ``part.001``, ... of ``part_bytes`` each (the last
    shorter), hashing each part and the whole stream as it goes."""

    def __init__(self, folder: Path, part_bytes: int) -> None:
        self.folder, self.part_bytes = folder, part_bytes
        self.parts: list[dict] = []
        self.whole = hashlib.sha256()
        self._file = None
        self._hash = None
        self._size = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            if self._file is None:
                if len(self.parts) >= 1000:
                    raise PackError("more than 1000 parts: raise --part-mb")
                self._file = open(self.folder / f"part.{len(self.parts):03d}", "wb")
                self._hash, self._size = hashlib.sha256(), 0
                self.parts.append({"name": self._file.name.rsplit("/", 1)[1]})
            chunk = view[: self.part_bytes - self._size]
            self._file.write(chunk)
            self._hash.update(chunk)
            self.whole.update(chunk)
            self._size += len(chunk)
            view = view[len(chunk):]
            if self._size == self.part_bytes:
                self._end_part()
        return len(data)

    def _end_part(self) -> None:
        self._file.close()
        self.parts[-1].update(bytes=self._size, sha256=self._hash.hexdigest())
        self._file = None

    def close(self) -> None:
        if self._file is not None:
            self._end_part()


def _tarinfo(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, int(time.time())
    return info


def _owner_free(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Members owned by nobody in particular: the machine runs as root and should not chown to our uid."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class Tar:
    """The pack's tar stream: files added from disk or from bytes, under their names in the pack."""

    def __init__(self, writer: PartWriter) -> None:
        self.tar = tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT)
        self.names: list[str] = []

    def add_file(self, path: Path, name: str) -> None:
        self.tar.add(path, arcname=name, recursive=False, filter=_owner_free)
        self.names.append(name)

    def add_bytes(self, data: bytes, name: str) -> None:
        self.tar.addfile(_owner_free(_tarinfo(name, len(data))), io.BytesIO(data))
        self.names.append(name)

    def close(self) -> None:
        self.tar.close()


# -------------------------------------------------------------------------------------------- the images


def _stage_picture(path: Path, channels: int, downscale: float, stage: Path) -> Path | None:
    """One training picture as the run's ImageStore holds it (srgan.train.data.training_image: the same decoder
    and hr_downscale resize, not a copy of them that could drift), written losslessly into ``stage`` and checked
    to decode to the same pixels there (hr_downscale 1); None when unreadable, which the store skips too."""
    import numpy as np
    from PIL import Image

    from srgan.errors import SrganError
    from srgan.train.data import decode_u8, training_image

    try:
        arr = training_image(path, channels, downscale)
    except SrganError as e:
        print(f"warning: skipping {e}", file=sys.stderr)
        return None
    # WebP holds RGB(A) only: a grey picture goes as PNG, lossless too.
    ext = ".webp" if arr.shape[2] == 3 else ".png"
    out = stage / (hashlib.sha1(str(path).encode()).hexdigest() + ext)
    image = Image.fromarray(arr if arr.shape[2] == 3 else arr[:, :, 0])
    if ext == ".webp":
        image.save(out, **WEBP_OPTIONS)
    else:
        image.save(out)
    if not np.array_equal(decode_u8(out, arr.shape[2]), arr):
        raise PackError(f"{path}: its {ext} copy does not decode to the same pixels")
    return out


def _packed_names(names: list[str]) -> list[str]:
    """A source's picture names in the pack (stem + packed extension, in the store's order) as they are where
    sorting keeps that order, else behind a zero-padded index (two files of one stem, a list not in sorted
    order, pictures from sub-folders that sort apart)."""
    if len(set(names)) == len(names) and sorted(names) == names:
        return names
    width = len(str(len(names)))
    return [f"{i:0{width}d}-{n}" for i, n in enumerate(names)]


def _source_path(source: str) -> Path:
    """The folder or list file a data source names (``mnist:``/``stl10:`` prefixes off)."""
    return Path(source.partition(":")[2] if source.startswith(("mnist:", "stl10:")) else source)


def _source_label(source: str) -> str:
    p = _source_path(source)
    return p.stem if p.suffix == ".txt" else p.name


def _source_md(source: str) -> Path | None:
    """The SOURCE.md srgan.train.card.data_terms would find beside this source (its licence line)."""
    p = _source_path(source)
    for cand in (p / "SOURCE.md", p.parent / "SOURCE.md"):
        if cand.is_file():
            return cand
    return None


def pack_data(cfg, tar: Tar, stage: Path) -> tuple[list[str], list[dict]]:
    """Every training source into the tar; (the config's new ``data`` list, a summary per source)."""
    from srgan.errors import SrganError
    from srgan.train.data import read_path_list, source_files

    exclude = {p for txt in cfg.exclude for p in read_path_list(txt)}
    data, summary = [], []
    for i, source in enumerate(cfg.data):
        folder = f"data/{i}-{_source_label(source)}"
        kind, sep, rest = source.partition(":")
        if sep and kind in ("mnist", "stl10") and rest:
            # Arrays read from binary files, never downscaled: the files themselves travel.
            root = Path(rest)
            if not root.is_dir():
                raise PackError(f"{source}: folder not found")
            files = sorted(p for p in root.rglob("*") if p.is_file() and (
                "idx3-ubyte" in p.name if kind == "mnist" else p.suffix == ".bin"))
            for f in files:
                tar.add_file(f, f"{folder}/{f.relative_to(root)}")
            data.append(f"{kind}:{folder}")
            summary.append({"source": source, "folder": folder, "files": len(files)})
            continue
        t0 = time.time()
        try:
            files = source_files(source, exclude)
        except SrganError as e:
            raise PackError(str(e)) from None
        # PIL releases the GIL while decoding and encoding, so threads work in parallel (as ImageStore decodes).
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
            staged = list(pool.map(lambda f: _stage_picture(f, cfg.image_channels, cfg.hr_downscale, stage), files))
        kept = [(f, out) for f, out in zip(files, staged) if out is not None]
        for (f, out), name in zip(kept, _packed_names([f.stem + out.suffix for f, out in kept])):
            tar.add_file(out, f"{folder}/{name}")
            out.unlink()
        md = _source_md(source)
        if md is not None:
            tar.add_file(md, f"{folder}/SOURCE.md")
        data.append(folder)
        summary.append({"source": source, "folder": folder, "images": len(kept)})
        print(f"  {source}: {len(kept)} images -> {folder} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    return data, summary


def pack_val(cfg, tar: Tar) -> tuple[str | None, int]:
    """The validation images the validator reads, under their own names, and a list file; (config val, count)."""
    if not cfg.val:
        return None, 0
    from srgan.train.validate import validation_paths

    paths = validation_paths(cfg)
    lines, taken = [], set()
    for p in paths:
        # Names must stay: the val_degradation preset is seeded by the file's name. Two alike go apart.
        k = 0
        while (k, p.name) in taken:
            k += 1
        taken.add((k, p.name))
        rel = f"files/{p.name}" if k == 0 else f"files-{k}/{p.name}"
        tar.add_file(p, f"val/{rel}")
        lines.append(rel)
    tar.add_bytes(("# the validation images of the packed run, in the validator's order\n"
                   + "\n".join(lines) + "\n").encode(), "val/val.txt")
    return "val/val.txt", len(paths)


def pack_weights(cfg, tar: Tar) -> dict:
    """The feature network's weights the content loss loads; the config keys that name them."""
    if cfg.kind != "srgan":
        return {"vgg_weights": None}
    if cfg.content_loss == "effnet":
        from srgan.errors import SrganError
        from srgan.models.features import lite0_weights_file

        try:
            path = lite0_weights_file()
        except SrganError as e:
            raise PackError(str(e)) from None
        tar.add_file(path, "weights/efficientnet-lite0.pth")  # gpu_chunk.sh points SRGAN_EFFNET_WEIGHTS here
        return {"vgg_weights": None}
    if cfg.content_loss in ("vgg22", "vgg54") and cfg.vgg_weights:
        path = Path(cfg.vgg_weights)
        if not path.is_file():
            raise PackError(f"vgg_weights {path}: file not found")
        tar.add_file(path, f"weights/{path.name}")
        return {"vgg_weights": f"weights/{path.name}"}
    return {"vgg_weights": None}


# ------------------------------------------------------------------------------------------------ wheels


def wheel_requirements(root: str = WHEEL_ROOT, python_version: str = "3.12") -> list[tuple[str, str]]:
    """(name, installed version) of ``root`` and everything it requires on the machine's Python (extras
    left out, markers evaluated for CPython ``python_version`` on x86-64 Linux), as installed here."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    env = {"python_version": python_version, "python_full_version": python_version + ".0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
    found: dict[str, str] = {}
    todo = [root]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise PackError(f"{name} is not installed here, so its wheel's version is unknown") from None
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return sorted(found.items())


def download_wheels(dest: Path, python_version: str) -> list[Path]:
    """The wheels of :func:`wheel_requirements` for the machine, by ``pip download`` (the network is here)."""
    reqs = wheel_requirements(python_version=python_version)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", python_version, "--implementation", "cp", "--dest", str(dest)]
    for platform in WHEEL_PLATFORMS:
        cmd += ["--platform", platform]
    cmd += [f"{name}=={version}" for name, version in reqs]
    wanted = " ".join(f"{n}=={v}" for n, v in reqs)
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise PackError(f"pip download of the machine's wheels ({wanted}) took over 300 s") from None
    if res.returncode != 0:
        why = [ln.strip() for ln in (res.stderr or res.stdout).splitlines() if ln.strip()]
        raise PackError(f"pip download of the machine's wheels ({wanted}) failed: {why[-1] if why else res.returncode}"
                        " (--no-wheels packs none)")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != len(reqs):
        raise PackError(f"pip download gave {len(wheels)} wheels for {len(reqs)} packages ({wanted})")
    return wheels


# ------------------------------------------------------------------------------------------------ the run


def newest_checkpoint(run: Path) -> Path:
    from srgan.train.checkpoint import step_checkpoints

    ckpts = step_checkpoints(run)
    if not ckpts:
        raise PackError(f"{run}: no checkpoints/step_*.pt to resume from")
    return ckpts[-1]


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint holds, read from it (which also proves it loads)."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        return int(ckpt["step"])
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same one-line error
        raise PackError(f"{path}: not a readable training checkpoint ({type(e).__name__})") from None


def device_config(cfg, data: list[str], val: str | None, weights: dict) -> dict:
    """The run's config for the machine, as its config.yaml: paths relative to the pack's root, which
    gpu_chunk.sh makes the working folder (a run folder's relative paths are read against the cwd)."""
    from srgan.train.config import config_from_dict

    raw = cfg.to_dict()
    raw.update(data=data, exclude=[], hr_downscale=1.0, val=val, init_generator=None, **weights)
    config_from_dict(dict(raw))  # the schema's types and rules, here rather than on the machine's time
    return raw


def tree_bytes() -> int | None:
    """Bytes of what travels to the machine on every call: tracked and untracked-not-ignored files."""
    try:
        res = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "-co", "--exclude-standard"],
                             capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    total = 0
    for name in res.stdout.decode(errors="replace").split("\0"):
        p = REPO / name
        if name and p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def install(tmp: Path, out: Path) -> None:
    """Move the new parts and manifest from ``tmp`` into ``out``, dropping the old ones; manifest last, so
    ``out`` never shows a manifest whose parts are not all there."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("part.[0-9][0-9][0-9]"), out / "manifest.json"]:
        old.unlink(missing_ok=True)
    for new in sorted(tmp.glob("part.*")):
        os.replace(new, out / new.name)
    os.replace(tmp / "manifest.json", out / "manifest.json")


def pack(args: argparse.Namespace) -> dict:
    from srgan.errors import SrganError
    from srgan.train.config import load_run_config

    import yaml

    run = args.run
    if not (run / "config.yaml").is_file():
        raise PackError(f"{run}: not a run folder (no config.yaml)")
    try:
        cfg = load_run_config(run)  # as `srgan train --resume RUN` reads it
    except SrganError as e:
        raise PackError(str(e)) from None
    ckpt = args.checkpoint or newest_checkpoint(run)
    if not ckpt.is_file():
        raise PackError(f"{ckpt}: checkpoint not found")
    step = checkpoint_step(ckpt)
    part_bytes = int(args.part_mb * MIB)
    if part_bytes < 1:
        raise PackError(f"--part-mb {args.part_mb}: must be > 0")

    args.out.mkdir(parents=True, exist_ok=True)
    # The new parts are made beside the old ones (in an ignored folder, the default .gpu) and replace them at the end.
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=args.out) as tmp_s, \
            tempfile.TemporaryDirectory(prefix="gpu_pack-stage-") as stage_s:
        tmp, stage = Path(tmp_s), Path(stage_s)
        wheels: list[Path] = []
        if not args.no_wheels:  # first: a failed download should cost no time spent on the images
            (stage / "wheels").mkdir()
            wheels = download_wheels(stage / "wheels", args.python_version)
        writer = PartWriter(tmp, part_bytes)
        tar = Tar(writer)
        print(f"packing {run} at step {step}", file=sys.stderr, flush=True)
        try:
            (stage / "pictures").mkdir()
            data, data_summary = pack_data(cfg, tar, stage / "pictures")
            val, n_val = pack_val(cfg, tar)
            weights = pack_weights(cfg, tar)
            raw = device_config(cfg, data, val, weights)
            tar.add_bytes(yaml.safe_dump(raw, sort_keys=False).encode(), "run/config.yaml")
            if (run / "metrics.jsonl").is_file():
                tar.add_file(run / "metrics.jsonl", "run/metrics.jsonl")
            ckpt_name = f"run/checkpoints/step_{step:07d}.pt"
            tar.add_file(ckpt, ckpt_name)
            for w in wheels:
                tar.add_file(w, f"wheels/{w.name}")
            tar.close()
        finally:
            writer.close()
        manifest = {
            "format": 1,
            "id": writer.whole.hexdigest(),  # the whole stream's sha256: names this pack on the machine
            "run": run.resolve().name,
            "run_path": str(run.resolve()),
            "step": step,
            "kind": cfg.kind,
            "checkpoint": ckpt_name,
            "source_checkpoint": str(ckpt.resolve()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "part_bytes": part_bytes,
            "total_bytes": sum(p["bytes"] for p in writer.parts),
            "parts": writer.parts,
            "data": data_summary,
            "val_images": n_val,
            "weights": [n for n in tar.names if n.startswith("weights/")],
            "wheels": [w.name for w in wheels],
            "python_version": args.python_version,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        install(tmp, args.out)
    return manifest


# -------------------------------------------------------------------------------------------- the calls


def instructions(manifest: dict, out: Path, run: Path, seconds: int) -> str:
    parts = manifest["parts"]
    try:
        rel = out.resolve().relative_to(REPO)
        where = ""
    except ValueError:
        rel = Path(".gpu")
        where = (f"  ({out} is outside the repository: copy its part.* and manifest.json into {REPO / '.gpu'}"
                 " first, since a call carries only paths inside the checkout)\n")
    sizes = ", ".join(f"{p['bytes'] / MIB:.1f}" for p in parts)
    lines = [f"packed {run} (step {manifest['step']}, {manifest['kind']}) into {out}: {len(parts)} part(s) of "
             f"{sizes} MiB, {manifest['total_bytes'] / MIB:.1f} MiB in all",
             "  " + ", ".join(f"{d['folder']} {d.get('images', d.get('files'))}" for d in manifest["data"])
             + f"; val {manifest['val_images']}; weights {manifest['weights'] or 'none'}; "
             + f"wheels {len(manifest['wheels'])} (python {manifest['python_version']})"]
    tree = tree_bytes()
    if tree is not None:
        biggest = max(p["bytes"] for p in parts)
        note = "" if tree + biggest + 4096 <= TREE_LIMIT else "  OVER the limit: lower --part-mb or shrink the tree"
        lines.append(f"each call carries the working tree ({tree / MIB:.1f} MiB) + one part (at most "
                     f"{biggest / MIB:.1f} MiB) of its 64 MiB{note}")
    lines.append(where + "device calls, back to back (a warm machine keeps /tmp about 30 s after a call):")
    for i, p in enumerate(parts):
        carry = json.dumps([f"{rel}/{p['name']}", f"{rel}/manifest.json"])
        last = i == len(parts) - 1
        command = f"bash tools/gpu_chunk.sh run {seconds}" if last else "bash tools/gpu_chunk.sh stash"
        lines.append(f"  {i + 1}. run  carry {carry}  command \"{command}\"  timeout_s {min(600, seconds + 90) if last else 120}")
    lines += [
        f"     (run {seconds} [--set key=value ...] [--end-schedule]: SECONDS includes unpacking; the command ends"
        " a little after it, once a validation under way and the checkpoint are done)",
        "then here, with the last reply's files_at:",
        f"  python tools/gpu_unpack.py FILES_AT {run}",
        f"  srgan train --resume {run}        # goes on from the GPU's checkpoint",
        "a further chunk on the still-warm machine: \"bash tools/gpu_chunk.sh run SECONDS\" (no carry) goes on from "
        "the run left there; then give_back.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        from srgan.errors import SrganError
    except ImportError as e:
        print(f"error: {e} (run with the project's virtual environment)", file=sys.stderr)
        return 2
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="the run folder (config.yaml, checkpoints/)")
    p.add_argument("--checkpoint", type=Path, help="pack this checkpoint (default: the newest checkpoints/step_*.pt)")
    p.add_argument("--out", type=Path, default=REPO / ".gpu", help="folder for part.NNN and manifest.json (.gpu)")
    p.add_argument("--part-mb", type=float, default=18.0, help="MiB per part at most (18: the tree is ~41 MiB of 64)")
    p.add_argument("--python-version", default="3.12", help="the machine's Python, for the wheels (3.12)")
    p.add_argument("--seconds", type=int, default=480, help="the run call's SECONDS in the printed calls (480)")
    p.add_argument("--no-wheels", action="store_true", help="pack no wheels (a machine that has pydantic; tests)")
    args = p.parse_args(argv)
    try:
        manifest = pack(args)
    except (PackError, SrganError) as e:  # SrganError: a config or data problem found by srgan's own code
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    print(instructions(manifest, args.out, args.run, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
