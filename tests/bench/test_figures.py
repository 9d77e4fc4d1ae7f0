"""The report's figure builders on fake inputs: which tiles go where, and the notes for what is missing."""

import numpy as np
from PIL import Image

from conftest import smooth_image
from srgan.bench.figures import label_grid, progress_figure, progress_panel, restore_figure, restore_panel
from srgan.ops.imresize import imresize_uint8


def _fake_sample_panel(step_value: int, c: int = 40) -> np.ndarray:
    """Two rows of LR | bicubic | output | HR tiles, each c×c padded by 2 white pixels, like train.Validator.panel."""
    rows = []
    for r in range(2):
        tiles = [np.full((c, c, 3), v, np.uint8) for v in (10 + r, 20 + r, step_value, 40 + r)]
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1))
    return np.concatenate(rows, 0)


def test_progress_panel_takes_lr_original_and_the_output_at_several_steps(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "config.yaml").write_text("kind: srgan\n")
    for i, step in enumerate([100, 200, 300, 400, 500, 600, 700]):
        Image.fromarray(_fake_sample_panel(100 + i)).save(run / "samples" / f"step_{step:07d}.png")
    panel, caption = progress_panel(run, steps=4, tile=32)
    px = np.asarray(panel)
    assert "srgan run run" in caption and "4 steps" in caption
    # One row of six 32-px tiles: LR, original, then steps 100, 300, 500, 700 (picked evenly).
    assert px.shape[1] == 6 * (32 + 3) + 3
    centres = [px[3 + 16, 3 + 35 * k + 16, 0] for k in range(6)]
    assert centres == [10, 40, 100, 102, 104, 106]


def test_progress_figure_writes_the_panel_or_says_why_not(tmp_path):
    figures = tmp_path / "figures"
    assert "--srgan-run" in progress_figure(figures, None)["note"]
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    assert "no samples/step_*.png" in progress_figure(figures, run)["note"]  # a run that has not validated yet
    Image.fromarray(_fake_sample_panel(100)).save(run / "samples" / "step_0000100.png")
    fig = progress_figure(figures, run)
    assert fig["path"] == figures / "training_progress.png" and fig["path"].is_file() and "1 step." in fig["caption"]
    assert sorted(p.name for p in figures.iterdir()) == ["training_progress.png"]  # no temporary file left


def test_restore_panel_has_a_row_per_sigma():
    photo = smooth_image(48, 64)
    panel = restore_panel(photo, lambda a: a, lambda a: imresize_uint8(a, scale=4), (0.1, 0.5), box=(8, 8, 16))
    w, h = panel.size
    assert w == 3 * (64 + 3) + 3 and h == 2 * (64 + 13 + 3) + 3


def test_restore_figure_is_skipped_with_a_note_without_its_models_or_photo(tmp_path):
    no_models = {"srresnet": [], "srgan": [], "denoiser": []}
    assert "needs a shipped denoiser" in restore_figure(tmp_path, no_models, "cpu", tmp_path / "x.png")["note"]
    ours = {"srresnet": ["srresnet-x4"], "srgan": [], "denoiser": ["denoiser"]}
    fig = restore_figure(tmp_path, ours, "cpu", tmp_path / "examples" / "chelsea.png")
    assert fig["path"] is None and "chelsea.png not found" in fig["note"]


def test_labels_with_greek_and_times_print_as_letters_not_empty_boxes():
    tile = np.full((20, 70, 3), 255, np.uint8)
    fancy = np.asarray(label_grid([[("noisy σ=0.1", tile), ("generated ×4", tile)]]))
    plain = np.asarray(label_grid([[("noisy sigma =0.1", tile), ("generated x4", tile)]]))
    assert np.array_equal(fancy, plain)
