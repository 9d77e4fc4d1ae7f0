"""Weighted average of generators of one architecture: checkpoint averaging, or ESRGAN-style network interpolation.

    python tools/blend_weights.py OUT.safetensors W1 MODEL1 W2 MODEL2 [W3 MODEL3 ...]

MODEL is anything ``srgan.load`` takes (a shipped name, a .safetensors file, a training checkpoint). The
weights W are used as given (say 0.5 0.5, or 0.25 four times); BatchNorm running statistics are averaged like
every other tensor. Wang et al. (ESRGAN, 2018, section 3.4) interpolate a PSNR-trained and a GAN-trained
generator this way to trade fidelity for texture; averaging checkpoints of one run is the same arithmetic.
"""

from __future__ import annotations

import sys
from pathlib import Path

from srgan.errors import SrganError
from srgan.models.zoo import ModelCard, build_from_state, load_state, resolve, save_model


def blend(pairs: list[tuple[float, str]]) -> tuple[dict, dict]:
    acc: dict = {}
    first_card: dict = {}
    for i, (w, spec) in enumerate(pairs):
        state, card = load_state(resolve(spec))
        if i == 0:
            first_card = card
            acc = {k: v.float() * w if v.is_floating_point() else v for k, v in state.items()}
            continue
        if state.keys() != acc.keys() or any(state[k].shape != acc[k].shape for k in acc):
            raise SrganError(f"{spec}: not the same architecture as {pairs[0][1]}")
        for k, v in state.items():
            if v.is_floating_point():
                acc[k] += v.float() * w
    return acc, first_card


def main(argv: list[str]) -> int:
    if len(argv) < 5 or len(argv) % 2 == 0:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out, rest = Path(argv[0]), argv[1:]
    try:
        pairs = [(float(w), m) for w, m in zip(rest[::2], rest[1::2])]
    except ValueError:
        print("error: weights must be numbers: W1 MODEL1 W2 MODEL2 ...", file=sys.stderr)
        return 2
    try:
        state, card = blend(pairs)
        model, kind = build_from_state(state, card)
        scale = card.get("scale", 1 if kind == "denoiser" else 4)
        save_model(out, model, ModelCard(kind=kind, scale=scale, blend=[{"weight": w, "model": m} for w, m in pairs]))
    except SrganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
