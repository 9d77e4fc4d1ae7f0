"""The report's figure builders on fake inputs: which tiles go where, and the notes for what is missing."""

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from srgan.bench.figures import (
    busiest_box, label_grid, progress_figure, progress_panel, real_figure, real_row, restore_figure, restore_panel,
)
from srgan.errors import SrganError
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


def test_real_row_shows_the_input_as_whole_lr_pixels_and_outputs_at_1_to_1():
    hr = smooth_image(64, 96)
    lr = np.arange(16 * 24 * 3, dtype=np.uint8).reshape(16, 24, 3)
    out = smooth_image(64, 96, seed=1)
    row = real_row(hr, lr, [("model", out)], (8, 16, 32), "input JPEG 50")
    assert [label for label, _ in row] == ["HR", "input JPEG 50", "model"]
    assert np.array_equal(row[0][1], hr[8:40, 16:48]) and np.array_equal(row[2][1], out[8:40, 16:48])
    tile = row[1][1]
    assert tile.shape == (32, 32, 3)
    assert np.array_equal(tile[::4, ::4], lr[2:10, 4:12]) and np.array_equal(tile[3::4, 3::4], lr[2:10, 4:12])
    with pytest.raises(SrganError, match="multiples of 4"):
        real_row(hr, lr, [], (6, 16, 32), "input")


def test_real_figure_finds_its_crops_by_dataset_and_notes_a_missing_model(tmp_path):
    data = tmp_path / "mine"
    data.mkdir()
    Image.fromarray(smooth_image(64, 80)).save(data / "a.png")
    Image.fromarray(smooth_image(48, 48, 1)).save(data / "b.png")
    crops = (("mine", "b.png", (8, 12, 32)), ("elsewhere", "a.png", (0, 0, 32)))
    fig = real_figure(tmp_path / "figures", [str(data)], ["bicubic", "peer:espcn"], tmp_path / "no-peers", "cpu",
                      crops=crops)
    assert fig["path"] == tmp_path / "figures" / "real_photos.png"
    assert "mine b.png at x=12, y=8, 32×32" in fig["caption"] and "elsewhere" not in fig["caption"]
    assert "Not shown: peer:espcn (OpenCV ESPCN skipped: " in fig["caption"]
    assert [m.split(" (")[0] for m in fig["missing"]] == ["peer:espcn"]
    # One row: HR, the input, bicubic.
    assert Image.open(fig["path"]).size == (3 * (32 + 3) + 3, 32 + 13 + 3 + 3)
    # No named crop among the datasets: the middle of the first image, for quick runs.
    fig = real_figure(tmp_path / "figures", [str(data)], ["bicubic"], tmp_path / "no-peers", "cpu", crops=())
    assert "mine a.png at x=8, y=0, 64×64" in fig["caption"]


def test_busiest_box_picks_the_most_detailed_window_on_the_jpeg_grid():
    rng = np.random.default_rng(0)
    hr = np.full((160, 224, 3), 128, np.uint8)
    hr[70:110, 140:180] = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)  # the only texture: a noisy patch
    y, x, size = busiest_box(hr, size=64, step=32)
    assert size == 64 and y % 32 == 0 and x % 32 == 0
    assert y <= 70 and y + 64 >= 110 and x <= 140 and x + 64 >= 180  # the window holds the whole patch
    assert busiest_box(hr[:40, :52], size=64) == (0, 0, 40)  # a photo smaller than the window: all of it
    with pytest.raises(SrganError, match="multiples of 4"):
        busiest_box(hr, size=62)


def test_figures_are_lossless_png_or_webp(tmp_path):
    from srgan.bench.figures import save_figure

    pixels = np.random.default_rng(1).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    for name in ("f.png", "f.webp"):
        path = save_figure(Image.fromarray(pixels), tmp_path / "sub" / name)
        with Image.open(path) as im:
            assert im.format == ("PNG" if name.endswith("png") else "WEBP")
            assert np.array_equal(np.asarray(im.convert("RGB")), pixels)


def test_labels_wider_than_their_tile_are_cut_to_it():
    tile = np.full((10, 30, 3), 255, np.uint8)
    grid = np.asarray(label_grid([[("a label much wider than thirty pixels", tile), ("b", tile)]]))
    first_gap = grid[10:, 3 + 30 : 3 + 30 + 3]  # the white padding between the two labels
    assert (first_gap == 255).all()
