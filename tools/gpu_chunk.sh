#!/usr/bin/env bash
# A GPU chunk of any training run on a lent machine (the workplace's device tool), from a pack that
# tools/gpu_pack.py made here. Runs on the machine, from the repository's root there; $OUT is what comes back.
#
#   bash tools/gpu_chunk.sh stash                  keep this call's .gpu/part.NNN (and manifest) in $STASH
#   bash tools/gpu_chunk.sh run SECONDS [--end-schedule] [--set key=value ...] [train_for.py options]
#                                                  stash, check every part, unpack, install the wheels, resume
#                                                  the run for about SECONDS (this script's start-up included)
#                                                  and leave in $OUT: the newest checkpoint in 15 MiB pieces,
#                                                  result.json, metrics.jsonl, train.log, model.* if exported
#
# Why in parts: each call carries the working tree plus at most 64 MiB in all, so the pack travels one part a
# call, and a warm machine keeps /tmp (not the repository's copy) for about 30 s between calls. A second `run`
# on the same warm machine goes on from the run left in $ROOT (SRGAN_GPU_FRESH=1 unpacks afresh).
#
# The machine's own settings come first (device, num_workers, threads), the caller's --set after them, so they
# win. `run` keeps the run's `steps` and learning-rate schedule (tools/train_for.py --keep-steps: SIGINT when
# the time is up, which saves a checkpoint); --end-schedule uses train_for.py's plan instead, which ends the
# schedule with the chunk.
#
# Environment (for tests and other machines): SRGAN_GPU_DEVICE (cuda), SRGAN_GPU_PYTHON (python3),
# SRGAN_GPU_ROOT (/tmp/srgan-gpu), SRGAN_GPU_STASH (/tmp/srgan-gpu-pack), SRGAN_GPU_FRESH (unset).
set -euo pipefail

R=$PWD
PY=${SRGAN_GPU_PYTHON:-python3}
DEVICE=${SRGAN_GPU_DEVICE:-cuda}
ROOT=${SRGAN_GPU_ROOT:-/tmp/srgan-gpu}
STASH=${SRGAN_GPU_STASH:-/tmp/srgan-gpu-pack}
PIECE=15m  # the device tool returns files of at most 16 MiB

die() { echo "gpu_chunk: error: $*" >&2; exit "${2:-1}"; }

# The manifest's checks, in Python (there for sure; jq may not be). Modes:
#   stash SRC DEST   copy SRC's part.* (each checked against SRC's manifest) and manifest into DEST, atomically;
#                    a manifest of another pack in DEST clears DEST first; report the parts DEST has
#   check DEST       every part there with its sha256, else name the missing ones (exit 3)
#   get DEST KEY     a manifest field
manifest() {
  "$PY" - "$@" <<'PY'
import hashlib, json, os, shutil, sys
from pathlib import Path

def fail(msg, code=1):
    print(f"gpu_chunk: error: {msg}", file=sys.stderr)
    sys.exit(code)

def read(folder):
    try:
        return json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        fail(f"no {folder}/manifest.json: carry .gpu/manifest.json with every part")

def sha(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()

def have(m, folder):
    return [i for i, p in enumerate(m["parts"]) if (folder / p["name"]).is_file()]

mode = sys.argv[1]
dest = Path(sys.argv[3] if mode == "stash" else sys.argv[2])
if mode == "stash":
    src = Path(sys.argv[2])
    m = read(src)
    dest.mkdir(parents=True, exist_ok=True)
    if (dest / "manifest.json").is_file() and read(dest)["id"] != m["id"]:
        print(f"stash: a new pack ({m['run']} step {m['step']}): the parts of the old one are dropped")
        for f in dest.iterdir():
            f.unlink()
    parts = {p["name"]: p for p in m["parts"]}
    carried = sorted(f for f in src.glob("part.*") if f.is_file())
    for f in carried:
        if f.name not in parts:
            fail(f"{f.name} is not in the manifest (a part of another pack?)")
        if sha(f) != parts[f.name]["sha256"]:
            fail(f"{f.name}: sha256 differs from the manifest (cut short on the way, or of another pack)")
        tmp = dest / f".{f.name}.tmp"
        shutil.copyfile(f, tmp)
        os.replace(tmp, dest / f.name)
    shutil.copyfile(src / "manifest.json", dest / ".manifest.tmp")
    os.replace(dest / ".manifest.tmp", dest / "manifest.json")
    got, n = have(m, dest), len(m["parts"])
    missing = [i for i in range(n) if i not in got]
    print(f"stash: carried {', '.join(f.name for f in carried) or 'no part'}; have {len(got)} of {n} parts of "
          f"{m['run']} step {m['step']} (pack {m['id'][:12]})"
          + (f"; missing {', '.join(m['parts'][i]['name'] for i in missing)}" if missing else "; all here"))
elif mode == "check":
    m = read(dest)
    missing = [p["name"] for i, p in enumerate(m["parts"]) if i not in have(m, dest)]
    if missing:
        fail(f"missing {len(missing)} of {len(m['parts'])} parts: {', '.join(missing)}. Carry each in a "
             "'bash tools/gpu_chunk.sh stash' call to this warm machine first (a machine that went cold lost "
             "the others too: carry them all again)", 3)
    for p in m["parts"]:
        if sha(dest / p["name"]) != p["sha256"]:
            fail(f"{p['name']}: sha256 differs from the manifest", 3)
    print(f"check: all {len(m['parts'])} parts of {m['run']} step {m['step']} are here and match")
elif mode == "get":
    print(read(dest)[sys.argv[3]])
PY
}

stash() {
  [ -d .gpu ] || die "no .gpu folder in this call: carry [\".gpu/part.NNN\", \".gpu/manifest.json\"]"
  manifest stash .gpu "$STASH"
}

newest() {  # newest step checkpoint of a run folder, or nothing
  { ls "$1"/checkpoints/step_*.pt 2>/dev/null || true; } | sort | tail -1
}

unpack() {  # the pack into $ROOT, its wheels installed into $ROOT/site; skipped when $ROOT holds this pack
  local id
  id=$(manifest get "$STASH" id)
  if [ -z "${SRGAN_GPU_FRESH:-}" ] && [ "$(cat "$ROOT/.pack-id" 2>/dev/null || true)" = "$id" ] \
      && [ -n "$(newest "$ROOT/run")" ]; then
    echo "unpack: $ROOT holds this pack already: going on from $(basename "$(newest "$ROOT/run")")"
    return
  fi
  rm -rf "$ROOT" "$ROOT.tmp"
  mkdir -p "$ROOT.tmp"
  # Parts in order: part.000, part.001, ... (three digits, so the glob sorts them).
  cat "$STASH"/part.[0-9][0-9][0-9] | tar -x --no-same-owner -f - -C "$ROOT.tmp"
  if compgen -G "$ROOT.tmp/wheels/*.whl" >/dev/null; then
    # Unless this python has the packed pydantic already (a machine that gained it; a local rehearsal).
    local want
    want=$(basename "$(ls "$ROOT.tmp"/wheels/pydantic-[0-9]*.whl)" | cut -d- -f2)
    if "$PY" -c "import pydantic, sys; sys.exit(pydantic.VERSION != '$want')" 2>/dev/null; then
      echo "unpack: $PY has pydantic $want already: the wheels stay packed"
    else
      "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$ROOT.tmp/site" \
        "$ROOT.tmp"/wheels/*.whl
      echo "unpack: installed $(ls "$ROOT.tmp"/wheels | tr '\n' ' ')into $ROOT/site"
    fi
  fi
  echo "$id" >"$ROOT.tmp/.pack-id"
  mv "$ROOT.tmp" "$ROOT"
  echo "unpack: $(du -sh "$ROOT" | cut -f1) in $ROOT"
}

collect() {  # the run's results into $OUT, within the device tool's limits (8 files, 16 MiB each, 64 MiB)
  local start=$1 ckpt
  ckpt=$(newest "$ROOT/run")
  [ -n "$ckpt" ] || die "no checkpoint in $ROOT/run/checkpoints"
  split -b "$PIECE" "$ckpt" "$OUT/$(basename "$ckpt")."
  cp "$ROOT/run/metrics.jsonl" "$OUT/" 2>/dev/null || true
  for f in model.safetensors model.json; do
    if [ -f "$ROOT/run/$f" ]; then cp "$ROOT/run/$f" "$OUT/"; fi
  done
  "$PY" - "$ckpt" "$OUT" "$start" "$STASH/manifest.json" <<'PY'
import hashlib, json, sys
from pathlib import Path
ckpt, out, start, m = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), json.loads(Path(sys.argv[4]).read_text())
with open(ckpt, "rb") as f:
    h = hashlib.file_digest(f, "sha256")
result = {"run": m["run"], "pack": m["id"], "pack_step": m["step"], "start_step": start,
          "step": int(ckpt.stem.split("_")[1]), "checkpoint": ckpt.name, "bytes": ckpt.stat().st_size,
          "sha256": h.hexdigest(), "pieces": sorted(p.name for p in out.glob(ckpt.name + ".*"))}
(out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
PY
  # Over the tool's limits, the exports go first: the checkpoint holds the same weights.
  local files total
  files=$(find "$OUT" -type f | wc -l)
  total=$(du -cb "$OUT"/* | tail -1 | cut -f1)
  if [ "$files" -gt 8 ] || [ "$total" -gt $((64 * 1024 * 1024)) ]; then
    echo "collect: $files files, $total bytes: over the device tool's limits, leaving model.* out" >&2
    rm -f "$OUT/model.safetensors" "$OUT/model.json"
    files=$(find "$OUT" -type f | wc -l)
    total=$(du -cb "$OUT"/* | tail -1 | cut -f1)
    [ "$files" -le 8 ] && [ "$total" -le $((64 * 1024 * 1024)) ] \
      || die "the results are $files files, $total bytes: over the device tool's 8 files and 64 MiB" 5
  fi
  ls -l "$OUT"
}

run() {
  local budget=${1:-}
  [[ $budget =~ ^[0-9]+$ ]] || die "usage: gpu_chunk.sh run SECONDS [--end-schedule] [--set key=value ...]" 2
  shift
  : "${OUT:?gpu_chunk: error: OUT is not set (the device tool sets it: the folder that comes back)}"
  if [ "$DEVICE" = cuda ]; then
    nvidia-smi -L
  else
    echo "device $DEVICE (SRGAN_GPU_DEVICE): no nvidia-smi"
  fi
  if [ -d .gpu ]; then stash; fi
  manifest check "$STASH"
  unpack

  export PYTHONPATH="$R/src:$ROOT/site" PYTHONUNBUFFERED=1
  if [ -f "$ROOT/weights/efficientnet-lite0.pth" ]; then
    export SRGAN_EFFNET_WEIGHTS="$ROOT/weights/efficientnet-lite0.pth"
    echo "effnet weights: $SRGAN_EFFNET_WEIGHTS"
  fi
  "$PY" -c "import srgan.train.config, srgan.train.loop" || die "srgan's training code does not import here (above)"

  # The machine's defaults: 16 cores there feed the GPU (the real-photo degradation runs in the workers).
  local sets=(--set "device=$DEVICE")
  if [ "$DEVICE" = cuda ]; then sets+=(--set num_workers=12 --set threads=0); else sets+=(--set num_workers=0 --set threads=1); fi
  local mode=(--keep-steps) args=()
  for a in "$@"; do
    if [ "$a" = --end-schedule ]; then mode=(); else args+=("$a"); fi
  done

  local start ckpt left status=0
  ckpt=$(newest "$ROOT/run")
  start=$((10#$(basename "$ckpt" .pt | cut -d_ -f2)))
  left=$((budget - SECONDS))  # bash's SECONDS: this script's time so far (unpacking, installing)
  [ "$left" -gt 30 ] || die "only $left s of the $budget s are left after unpacking"
  echo "run: $ROOT/run from step $start for $left s: ${sets[*]} ${args[*]:-} ${mode[*]:-}"
  # Relative paths in the packed config (data/, val/, weights/) are read against the working folder.
  (cd "$ROOT" && "$PY" "$R/tools/train_for.py" "$ROOT/run" --seconds "$left" "${mode[@]}" "${sets[@]}" \
    "${args[@]}" --log "$OUT/train.log") || status=$?
  collect "$start"
  [ "$status" = 0 ] || die "training exited $status (see train.log; what it saved is in \$OUT all the same)" "$status"
  local step
  step=$((10#$(basename "$(newest "$ROOT/run")" .pt | cut -d_ -f2)))
  [ "$step" -gt "$start" ] || die "no step beyond $start was trained (see train.log; a run at its last step needs --set steps=N)" 4
  echo "done: step $start -> $step; back here: python tools/gpu_unpack.py FILES_AT RUN"
}

case "${1:-}" in
  stash) stash ;;
  run) shift; run "$@" ;;
  *) die "usage: gpu_chunk.sh stash | run SECONDS [--end-schedule] [--set key=value ...]" 2 ;;
esac
