"""RESULTS.md text from measured numbers: the tables' cells, the reproduce commands, the BM3D subset."""

from pathlib import Path

from srgan.bench.render import (denoise_text, describe_machine, describe_preset, figures_text, real_text, rel, render,
                                sr_text)

MACHINE = {"cpu": "Test CPU", "cores": 2, "threads": 1, "torch": "2.0", "python": "3.11", "date": "2024-01-01 00:00 UTC",
           "commit": "abc1234", "load": None}


def _sr(dataset, psnr, niqe=None, s_per_mp=None):
    return {"dataset": dataset, "psnr_y": psnr, "ssim_y": 0.81234, "psnr_rgb": psnr - 1, "hf_ratio": 0.5, "niqe": niqe,
            "seconds_per_mp": s_per_mp}


def _den(rows, methods):
    return {"target": "/d/BSD100", "sigmas": [0.1, 0.2], "tune_on": "/d/cats_val.txt", "tune_images": 20, "h": {0.1: 20.5},
            "methods": methods, "rows": rows, "notes": [], "bm3d_images": 2, "max_images": None}


def _row(method, image, sigma, psnr, noisy_psnr=20.0):
    return {"method": method, "image": image, "sigma": sigma, "noisy_psnr_rgb": noisy_psnr, "noisy_ssim_rgb": 0.5,
            "psnr_rgb": psnr, "ssim_rgb": 0.75}


def test_sr_tables_show_each_dataset_and_a_dash_where_a_number_is_missing():
    rows = [("bicubic", "bicubic", [_sr("Set5", 28.4312, niqe=7.123, s_per_mp=0.01)]),
            ("srresnet-x4", "srresnet-x4 (ours)", [_sr("Set5", 31.2), _sr("cats_val", 30.0)])]
    lines = sr_text(["/d/Set5", "/d/cats_val.txt"], rows, ["a skipped peer"], True, " --peers P", Path("/d/peers"))
    assert "| method | Set5 | cats_val |" in lines
    assert "| bicubic | 28.43 / 0.8123 | – |" in lines  # not measured on the cats
    assert "| bicubic | 28.43 | 0.8123 | 27.43 | 0.50 | 7.12 | 0.01 |" in lines
    assert "| srresnet-x4 (ours) | 31.20 | 0.8123 | 30.20 | 0.50 | – | – |" in lines  # no NIQE, no timing
    cmd = next(line for line in lines if line.startswith("- bicubic: "))
    assert cmd.endswith(" --max-images 2 --peers P`") and "--model bicubic --data " in cmd
    assert lines[-3:] == ["Skipped or noted:", "", "- a skipped peer"]


def test_denoise_tables_average_per_image_and_keep_bm3d_to_its_subset():
    rows = [_row("nlmeans", img, s, psnr) for img, psnr in (("a.png", 24.0), ("b.png", 26.0), ("c.png", 30.0))
            for s in (0.1, 0.2)]
    rows += [_row("bm3d", img, s, 27.0) for img in ("a.png", "b.png") for s in (0.1, 0.2)]
    methods = [("nlmeans", "OpenCV NL-means (h tuned per σ)", []), ("bm3d", "BM3D (σ given)", [])]
    lines = denoise_text(_den(rows, methods), quick=False)
    all_at = lines.index("### BSD100, 3 images")
    subset_at = lines.index("### BSD100, first 2 images (the BM3D subset)")
    full, subset = lines[all_at:subset_at], lines[subset_at:]
    assert "| OpenCV NL-means (h tuned per σ) | 26.67 / 0.7500 | 26.67 / 0.7500 |" in full
    assert "| noisy input | 20.00 / 0.5000 | 20.00 / 0.5000 |" in full  # each image once, not once per method
    assert not any(line.startswith("| BM3D") for line in full)
    assert "| OpenCV NL-means (h tuned per σ) | 25.00 / 0.7500 | 25.00 / 0.7500 |" in subset
    assert "| BM3D (σ given) | 27.00 / 0.7500 | 27.00 / 0.7500 |" in subset
    assert "- BM3D (σ given): `srgan evaluate --model peer:bm3d --data /d/BSD100 --noise 0.1 0.2 --max-images 2`" in lines
    assert any("`srgan evaluate --model peer:nlmeans:h=20.5 --data /d/BSD100 --noise 0.1`" in line for line in lines)


def test_figures_link_relative_to_the_output_folder_or_give_the_note(tmp_path):
    lines = figures_text([{"title": "A", "path": tmp_path / "docs" / "figures" / "a.png", "caption": "a caption"},
                          {"title": "B", "path": None, "note": "skipped: why"}])
    assert "![A](figures/a.png)" in lines and "a caption" in lines
    assert lines[lines.index("### B") + 2] == "skipped: why"


PRESETS = ["jpeg50", "jpeg75", "blur-noise-jpeg70", "bicubic"]


def _means(psnr, niqe, blockiness):
    return {"images": 2, "psnr_y": psnr, "niqe": niqe, "niqe_images": 2 if niqe else 0, "blockiness": blockiness}


def _real(methods, rows=(), notes=(), figure=None, seconds_per_mp=None):
    return {"datasets": ["/d/BSD100", "/d/cats_val.txt"], "max_images": 3, "presets": PRESETS, "methods": methods,
            "rows": list(rows), "notes": list(notes), "seconds_per_mp": seconds_per_mp or {}, "figure": figure}


def test_real_table_has_a_cell_per_preset_with_psnr_niqe_and_blockiness(tmp_path):
    by = {p: _means(24.0 + i, 5.1234, 1.7456 - i / 10) for i, p in enumerate(PRESETS)}
    methods = [("srresnet-x4", "srresnet-x4 (ours, the default)", by),
               ("peer:realesrgan-x4plus", "Real-ESRGAN x4plus (ncnn)", {**by, "bicubic": _means(26.0, None, 1.03)})]
    rows = [{"dataset": d, "image": i} for d in ("BSD100", "cats_val") for i in ("a.png", "b.png")]
    fig = {"title": "Real photos", "path": tmp_path / "docs" / "figures" / "real_photos.png", "caption": "crops"}
    real = _real(methods, rows, ["a skipped peer"], fig, {"peer:realesrgan-x4plus": 12.345})
    lines = real_text(real, MACHINE, " --peers P")
    assert "| method | JPEG 50 | JPEG 75 | blur σ 1 px + noise σ 0.02 + JPEG 70 | clean bicubic input |" in lines
    assert "| srresnet-x4 (ours, the default) | 24.00 / 5.12 / 1.75 | 25.00 / 5.12 / 1.65 | 26.00 / 5.12 / 1.55 | " \
           "27.00 / 5.12 / 1.45 |" in lines
    assert lines[lines.index("| method | JPEG 50 | JPEG 75 | blur σ 1 px + noise σ 0.02 + JPEG 70 | clean bicubic input |")
                 + 3].endswith("| 26.00 / – / 1.03 |")  # no NIQE measured: a dash
    text = "\n".join(lines)
    assert "4 photos, the first 3 of each of BSD100, cats_val" in text and "≈ 1.0 means no JPEG tiles" in text
    assert "Test CPU, 2 cores" in text and "Real-ESRGAN x4plus (ncnn) ran at 12.3 s per output megapixel" in text
    assert ("- Real-ESRGAN x4plus (ncnn): `for d in jpeg50 jpeg75 blur-noise-jpeg70 bicubic; do srgan evaluate --model "
            "peer:realesrgan-x4plus --data /d/BSD100 /d/cats_val.txt --max-images 3 --degrade $d --peers P; done`") in lines
    assert "![Real photos](figures/real_photos.png)" in lines and "crops" in lines
    assert lines[-3:] == ["Skipped or noted:", "", "- a skipped peer"]


def test_presets_are_described_from_their_settings():
    assert [describe_preset(p) for p in PRESETS] == ["JPEG 50", "JPEG 75", "blur σ 1 px + noise σ 0.02 + JPEG 70",
                                                     "clean bicubic input"]


def test_render_is_one_markdown_file_with_header_sections_and_a_final_newline():
    text = render(machine=MACHINE, datasets=["/d/Set5"], sr_rows=[("bicubic", "bicubic", [_sr("Set5", 28.0)])],
                  skipped=[], den=_den([], []), real=_real([]), figures=[], quick=False, seconds=125, cmd_extra="",
                  peers_root=Path("/p"))
    assert text.startswith("# Results\n\nWritten by `srgan report` on 2024-01-01 00:00 UTC at commit abc1234 in 2 min.")
    assert "Quick run" not in text and "load average" not in text
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads == ["## ×4 super-resolution", "## Real photos: JPEG, blur and noise", "## Denoising", "## Figures"]
    assert text.endswith("## Figures\n")


def test_machine_without_a_checkout_has_an_unknown_commit():
    machine = describe_machine(None)
    assert machine["commit"] == "unknown" and machine["cores"] >= 1 and machine["threads"] >= 1


def test_paths_in_commands_are_relative_one_level_up_else_absolute(tmp_path, monkeypatch):
    # A reproduce command is run from the checkout: ../shared/... reads well there, ../../x does not.
    work = tmp_path / "a" / "repo"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert rel(work / "configs" / "x.txt") == str(Path("configs") / "x.txt")
    assert rel(tmp_path / "a" / "shared" / "Set5") == str(Path("..") / "shared" / "Set5")
    far = tmp_path / "elsewhere" / "Set5"
    assert rel(far) == str(far.resolve())
