"""Ship a training run's model in the package: ``src/srgan/weights/<name>.safetensors`` + ``<name>.json``.

    python tools/publish_weights.py RUN_DIR NAME [--command "srgan train ..."] [--log FILE] [--eval FILE.json]
                                    [--checkpoint RUN_DIR/checkpoints/step_N.pt] [--selection FILE.json]
                                    [--note TEXT] [--selected-by TEXT]

The card records the exact training command, a summary of the log (first and last lines, validation
history) and, when given, the benchmark results JSON of ``srgan evaluate --json``.

A run stopped before it exported anything (a branch stopped with Ctrl-C, or one whose selection rule never
picked a step) has no ``model.safetensors`` to take the card from; with ``--checkpoint`` the run's own trainer
then exports that checkpoint, so the card says what the run's export would have said for that step (data,
loss weights, degradation, the step's validation); its ``trained_on`` names the machine that runs this tool, so
publish on the machine kind that trained the run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srgan.models.zoo import publish


def export_checkpoint(run: Path, checkpoint: Path, work: Path) -> Path:
    """``work`` made a run folder holding ``checkpoint`` alone and its export (model.safetensors + card), written
    by the run's trainer with the checkpoint step's validation record from the run's metrics.jsonl."""
    from srgan.train.config import load_run_config
    from srgan.train.loop import Trainer

    (work / "checkpoints").mkdir(parents=True)
    (work / "checkpoints" / checkpoint.name).symlink_to(checkpoint.resolve())
    trainer = Trainer(load_run_config(run, None, None), work, resume=True)
    step = trainer.state.step
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    found = [r for r in records if r.get("step") == step and any(k.startswith("val_") for k in r)]
    if not found:
        raise SystemExit(f"publish_weights: {run / 'metrics.jsonl'} has no validation at step {step}")
    trainer.export({k: v for k, v in found[-1].items() if k != "best"})
    return work


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
    p.add_argument("--selected-by", help="how the shipped step was picked, in words, when not by the run's own rule")
    a = p.parse_args()
    run = Path(a.run_dir)
    extra: dict = {}
    if a.command:
        extra["command"] = a.command
    if a.note:
        extra["note"] = a.note
    if a.selected_by:
        extra["selected_by"] = a.selected_by
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "val_" in line]
    extra["validation_history"] = [{k: v for k, v in r.items() if k != "best"} for r in history]
    if a.log:
        lines = Path(a.log).read_text().splitlines()
        extra["log_summary"] = lines[:2] + ["..."] + lines[-3:]
    if a.selection:
        extra["selection"] = json.loads(Path(a.selection).read_text())
    if a.eval:
        extra["benchmarks"] = json.loads(Path(a.eval).read_text())["results"]
    if a.checkpoint and not (run / "model.safetensors").is_file():
        import tempfile

        extra["checkpoint"] = Path(a.checkpoint).name
        with tempfile.TemporaryDirectory() as tmp:
            print(publish(export_checkpoint(run, Path(a.checkpoint), Path(tmp) / "run"), a.name, card_extra=extra))
        return
    print(publish(run, a.name, card_extra=extra, checkpoint=a.checkpoint))


if __name__ == "__main__":
    main()
