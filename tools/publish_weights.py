"""Ship a training run's model in the package: ``src/srgan/weights/<name>.safetensors`` + ``<name>.json``.

    python tools/publish_weights.py RUN_DIR NAME [--command "srgan train ..."] [--log FILE] [--eval FILE.json]
                                    [--checkpoint RUN_DIR/checkpoints/step_N.pt] [--selection FILE.json]

The card records the exact training command, a summary of the log (first and last lines, validation
history) and, when given, the benchmark results JSON of ``srgan evaluate --json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srgan.models.zoo import publish


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("name")
    p.add_argument("--command", help="the exact command that trained the run")
    p.add_argument("--log", help="the run's log file")
    p.add_argument("--eval", help="JSON written by `srgan evaluate --json`")
    p.add_argument("--note", help="free text for the card")
    p.add_argument("--checkpoint", help="ship this checkpoint's generator instead of the run's model.safetensors")
    p.add_argument("--selection", help="JSON written by tools/select_checkpoint.py --json (goes into the card)")
    a = p.parse_args()
    run = Path(a.run_dir)
    extra: dict = {}
    if a.command:
        extra["command"] = a.command
    if a.note:
        extra["note"] = a.note
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "val_" in line]
    extra["validation_history"] = [{k: v for k, v in r.items() if k != "best"} for r in history]
    if a.log:
        lines = Path(a.log).read_text().splitlines()
        extra["log_summary"] = lines[:2] + ["..."] + lines[-3:]
    if a.selection:
        extra["selection"] = json.loads(Path(a.selection).read_text())
    if a.eval:
        extra["benchmarks"] = json.loads(Path(a.eval).read_text())["results"]
    print(publish(run, a.name, card_extra=extra, checkpoint=a.checkpoint))


if __name__ == "__main__":
    main()
