"""Peak memory of a large upscale through the CLI: 3000×2000 → 12000×8000 (96 MP) by default.

The input is ``examples/chelsea.png`` resized with Pillow's bicubic to ``--size``; the command is
``srgan upscale IN.png -o OUT.png --model srresnet-x4`` under ``/usr/bin/time -v`` (GNU time), whose
"Maximum resident set size" is the figure. Its output is printed whole, with the CPU, so the number can be
quoted with its command and machine. Takes a minute or two on 2 cores.

    python benchmarks/upscale_memory.py [--size 3000x2000] [--model srresnet-x4] [-- extra srgan upscale flags]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="3000x2000", help="input WIDTHxHEIGHT")
    p.add_argument("--model", default="srresnet-x4")
    p.add_argument("extra", nargs="*", help="more srgan upscale flags (after --)")
    a = p.parse_args()
    if not Path("/usr/bin/time").exists():
        print("upscale_memory: needs GNU time at /usr/bin/time (apt-get install time)", file=sys.stderr)
        return 2
    from PIL import Image

    from srgan.infer.autoprecision import cpu_name

    width, height = (int(v) for v in a.size.lower().split("x"))
    srgan_cli = shutil.which("srgan") or str(Path(sys.executable).with_name("srgan"))
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.png", Path(tmp) / "out.png"
        Image.open(REPO / "examples" / "chelsea.png").convert("RGB").resize((width, height), Image.BICUBIC).save(src)
        cmd = ["/usr/bin/time", "-v", srgan_cli, "upscale", str(src), "-o", str(out), "--model", a.model,
               "--max-output-pixels", "0", *a.extra]
        done = subprocess.run(cmd, capture_output=True, text=True)
    print(f"{cpu_name()}; srgan upscale {width}x{height} -> x4 --model {a.model} {' '.join(a.extra)}".rstrip())
    print(done.stdout.strip())
    lines = [ln.strip() for ln in done.stderr.splitlines()]
    keep = ("Maximum resident set size", "Elapsed (wall clock)", "Exit status")
    print("\n".join(ln for ln in lines if ln.startswith(keep)))
    peak = next((int(m.group(1)) for ln in lines if (m := re.match(r"Maximum resident set size \(kbytes\): (\d+)", ln))), None)
    if peak is not None:
        print(f"peak RSS {peak / 2**20:.2f} GiB ({peak * 1024 / 1e9:.2f} GB)")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
