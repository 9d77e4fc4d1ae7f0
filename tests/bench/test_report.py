"""srgan report: a quick run writes RESULTS.md, the CSVs and figures; the figure builders on fake inputs."""

import numpy as np
from PIL import Image

from conftest import smooth_image
from srgan.cli import main
from srgan.ops.imresize import imresize_uint8
from srgan.bench.report import progress_panel, restore_panel


def test_quick_report_writes_tables_notes_and_figures(tmp_path, monkeypatch, capsys):
    data = tmp_path / "tiny"
    data.mkdir()
    # The second image is just big enough for NIQE (two 96×96 blocks after the 4-pixel border), the first is not.
    for i, (h, w) in enumerate([(64, 72), (104, 200)]):
        Image.fromarray(smooth_image(h, w, i)).save(data / f"{i}.png")
    monkeypatch.setenv("SRGAN_PEERS_DIR", str(tmp_path / "no-peers"))
    out = tmp_path / "docs"
    assert main(["report", "--quick", "--out", str(out), "--datasets", str(data)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "RESULTS.md")

    text = (out / "RESULTS.md").read_text()
    assert "| bicubic | " in text and "Quick run" in text
    assert "| method | PSNR-Y | SSIM-Y | PSNR-RGB | hf_ratio | NIQE | s/MP |" in text
    bicubic = next(line for line in text.splitlines() if line.startswith("| bicubic | ") and line.count("|") == 8)
    assert float(bicubic.split("|")[6]) > 0  # the NIQE of the one image big enough for it
    assert "OpenCV LapSRN skipped: " in text and "leftthomas SRGAN skipped: " in text
    assert "Machine: " in text and "torch " in text
    assert "`srgan evaluate --model bicubic --data " in text
    assert "BM3D skipped in --quick runs" in text
    assert (out / "figures" / "sr_comparison.png").is_file()
    csv_lines = (out / "results" / "x4_per_image.csv").read_text().splitlines()
    assert csv_lines[0].startswith("dataset,image,model,psnr_y") and any(",bicubic," in l for l in csv_lines)
    assert "niqe" in csv_lines[0].split(",")
    if "h = " in text:  # NL-means ran (opencv-contrib installed): tuned h printed, rows in the table
        assert "| OpenCV NL-means (h tuned per σ) | " in text
        assert (out / "results" / "denoise_per_image.csv").read_text().count("\n") >= 5


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


def test_restore_panel_has_a_row_per_sigma():
    photo = smooth_image(48, 64)
    panel = restore_panel(photo, lambda a: a, lambda a: imresize_uint8(a, scale=4), (0.1, 0.5), box=(8, 8, 16))
    w, h = panel.size
    assert w == 3 * (64 + 3) + 3 and h == 2 * (64 + 13 + 3) + 3


def test_labels_with_greek_and_times_print_as_letters_not_empty_boxes():
    from srgan.bench.report import _label_grid

    tile = np.full((20, 70, 3), 255, np.uint8)
    fancy = np.asarray(_label_grid([[("noisy σ=0.1", tile), ("generated ×4", tile)]]))
    plain = np.asarray(_label_grid([[("noisy sigma =0.1", tile), ("generated x4", tile)]]))
    assert np.array_equal(fancy, plain)
