#!/usr/bin/env bash
# One GPU chunk of srresnet-x4-r1 on a lent machine (the workplace's device tool), run from the repo root there.
#
# The machine sees the repository, not ../shared, and takes at most 64 MiB a call, so the training data travel
# in two calls to one warm machine (see README.md beside this file): call 1 unpacks .gpu/a (T91 and BSDS200 as
# lossless WebP, pixel-identical to the originals, and the first cats) into ../shared/data; this script, call 2,
# adds .gpu/b (the other cats, the run's config and last checkpoint), rebuilds the /work paths the run's config
# names, trains for about $1 seconds with tools/train_for.py and leaves the results in $OUT.
set -euo pipefail
budget=${1:?usage: gpu_chunk.sh SECONDS}
R=$PWD
D=$(dirname "$R")/shared/data
cp .gpu/b/cats/* "$D/cats/"
n=$(ls "$D/cats" | grep -c '\.jpg$' || true)
[ "$n" = 1000 ] || { echo "cats: $n of 1000 here (call 1's files are gone?)"; exit 3; }
mkdir -p /work
[ -e /work/shared ] || ln -s "$(dirname "$R")/shared" /work/shared
[ -e /work/main ] || ln -s "$R" /work/main
rm -rf /tmp/srresnet-x4-r1
cp -r .gpu/b/run /tmp/srresnet-x4-r1
export PYTHONPATH=$R/src PYTHONUNBUFFERED=1
nvidia-smi -L
status=0
python3 tools/train_for.py /tmp/srresnet-x4-r1 --seconds "$budget" --set device=cuda --set batch_size=32 \
  --set num_workers=12 --set threads=0 --set val_every=2000 --set checkpoint_every=2000 --log "$OUT/train.log" || status=$?
cd /tmp/srresnet-x4-r1
last=$(ls checkpoints/step_*.pt | tail -1)
split -b 15m "$last" "$OUT/$(basename "$last").part."
cp model.safetensors model.json "$OUT/" || true
tar czf "$OUT/run.tgz" config.yaml metrics.jsonl samples
exit $status
