"""A training checkpoint's network as a .safetensors file that ``srgan evaluate`` / ``upscale`` take.

    python tools/checkpoint_weights.py runs/RUN/checkpoints/step_0000150.pt OUT.safetensors [--raw]

By default the weights the run validates and exports (the EMA generator's when the run keeps one: what
``srgan evaluate --model CKPT.pt`` already scores); ``--raw`` the weights being optimised. A GAN fine-tune's raw
weights run ahead of a slow average, so scoring both shows where the average is heading
(records/training/srgan-x4-real-r1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--raw", action="store_true", help="the weights being optimised, not their EMA")
    a = p.parse_args()

    import torch
    from safetensors.torch import save

    from srgan.io.files import atomic_write_bytes
    from srgan.train.checkpoint import exported_weights, network_key

    try:
        ckpt = torch.load(a.checkpoint, map_location="cpu", weights_only=True)
        models = ckpt["models"]
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad pickle; all mean the same here
        first = (str(e).strip().splitlines() or [""])[0][:200]
        print(f"checkpoint_weights: {a.checkpoint}: not a training checkpoint ({type(e).__name__}: {first})", file=sys.stderr)
        return 2
    key = network_key(ckpt.get("config", {}).get("kind", "srresnet"))
    state = models[key] if a.raw else exported_weights(ckpt)
    atomic_write_bytes(Path(a.out), save({k: v.contiguous() for k, v in state.items()}))
    which = "raw" if a.raw else ("EMA" if f"{key}_ema" in models else "raw (the run keeps no EMA)")
    print(f"wrote {a.out}: step {ckpt.get('step', '?')}, {which} {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
