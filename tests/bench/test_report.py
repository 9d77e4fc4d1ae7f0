"""srgan report: a quick run writes RESULTS.md, the CSVs and figures; where its data comes from by default."""

import pytest
from PIL import Image

from conftest import smooth_image
from srgan.bench.render import rel
from srgan.bench.report import REAL_PRESETS, cats_list, cats_missing_note, default_datasets, real_datasets, real_section
from srgan.cli import main
from srgan.errors import SrganError


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
    assert csv_lines[0].startswith("dataset,image,model,degrade,psnr_y") and any(",bicubic," in l for l in csv_lines)
    assert csv_lines[0].split(",")[-1] == "niqe"
    # Metrics with four decimals; the small image's NIQE, which NIQE cannot measure, empty.
    small = next(l for l in csv_lines if l.startswith("tiny,0.png,bicubic,")).split(",")
    assert all(len(v.split(".")[1]) == 4 for v in small[4:12]) and small[12] == ""

    # The real-photo section: one photo (quick) through each preset, a row per method, its commands and crops.
    real = text[text.index("## Real photos"):text.index("## Denoising")]
    assert "| method | JPEG 50 | JPEG 75 | blur σ 1 px + noise σ 0.02 + JPEG 70 | clean bicubic input |" in real
    assert "| srresnet-x4 (ours" in real and "| bicubic | " in real and "Blockiness" in real
    assert ("- bicubic: `for d in jpeg50 jpeg75 blur-noise-jpeg70 bicubic; do srgan evaluate --model bicubic "
            f"--data {rel(data)} --max-images 1 --degrade $d; done`") in real
    assert "![Real photos: ×4 on JPEG 50 inputs, 1:1](figures/real_photos.png)" in real
    assert (out / "figures" / "real_photos.png").is_file()
    real_rows = (out / "results" / "real_per_image.csv").read_text().splitlines()
    assert {l.split(",")[3] for l in real_rows[1:]} == set(REAL_PRESETS)
    assert all(l.startswith("tiny,0.png,") for l in real_rows[1:])  # --quick: the first photo only
    # A shipped denoiser told σ is reported both ways, each with its command.
    from srgan.models import zoo

    if "denoiser" in zoo.shipped_models():
        den = text[text.index("## Denoising"):]
        assert "| denoiser (ours, σ estimated) | " in den and "| denoiser (ours, σ given) | " in den
        assert f"`srgan evaluate --model denoiser --sigma-given --data {rel(data)} --noise 0.1 0.2 0.4 0.5 --max-images 1`" in den
    if "h = " in text:  # NL-means ran (opencv-contrib installed): tuned h printed, rows in the table
        assert "| OpenCV NL-means (h tuned per σ) | " in text
        assert (out / "results" / "denoise_per_image.csv").read_text().count("\n") >= 5


def test_default_datasets_are_the_benchmark_sets_in_the_shared_folder(tmp_path):
    bench = tmp_path / "shared" / "data" / "benchmark"
    for name in ("Set5", "BSD100"):
        (bench / name / "HR").mkdir(parents=True)
    (bench / "Set14").mkdir()  # no HR/: not a benchmark set
    cats = tmp_path / "cats_val.txt"
    assert default_datasets(False, tmp_path / "shared", None) == [str(bench / "Set5"), str(bench / "BSD100")]
    assert default_datasets(False, tmp_path / "shared", cats)[-1] == str(cats)
    assert default_datasets(True, tmp_path / "shared", cats) == [str(bench / "Set5")]
    with pytest.raises(SrganError, match="no benchmark data under .*--shared DIR"):
        default_datasets(False, tmp_path / "elsewhere", None)


def test_real_photos_come_from_bsd100_and_the_cats_else_from_every_dataset():
    assert real_datasets(["/d/Set5", "/d/BSD100", "/c/cats_val.txt"]) == ["/d/BSD100", "/c/cats_val.txt"]
    assert real_datasets(["/d/Set5", "/d/mine"]) == ["/d/Set5", "/d/mine"]


def test_real_section_pools_every_photo_and_notes_a_missing_peer(tmp_path):
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(72, 80, i)).save(data / f"{i}.png")
    methods = [("bicubic", "bicubic"), ("peer:espcn", "OpenCV ESPCN")]
    real = real_section(methods, [str(data)], 2, tmp_path / "no-peers", "cpu")
    assert [m for m, _, _ in real["methods"]] == ["bicubic"]
    assert len(real["notes"]) == 1 and "OpenCV ESPCN skipped: " in real["notes"][0]
    by = real["methods"][0][2]
    assert list(by) == list(REAL_PRESETS) and all(m["images"] == 2 for m in by.values())
    rows = [r for r in real["rows"] if r["degrade"] == "jpeg50"]
    assert [r["image"] for r in rows] == ["0.png", "1.png"]
    assert by["jpeg50"]["psnr_y"] == pytest.approx(sum(r["psnr_y"] for r in rows) / 2, abs=1e-4)
    # JPEG's blocks, upscaled by bicubic, stand out on the 32-px grid; the clean input's do not exist.
    assert by["jpeg50"]["blockiness"] > by["bicubic"]["blockiness"]
    assert by["jpeg50"]["niqe"] is None and by["jpeg50"]["niqe_images"] == 0  # 72×80 is too small for NIQE


def test_the_cats_list_counts_only_when_its_photos_are_there(tmp_path):
    checkout = tmp_path / "repo"
    (checkout / "configs").mkdir(parents=True)
    assert cats_list(checkout) is None
    (checkout / "configs" / "cats_val.txt").write_text("# paths relative to this file\n../../shared/data/cats/cat.0.jpg\n")
    assert cats_list(checkout) is None  # a checkout without ../shared
    # ... which the report says instead of dropping the column silently
    assert "Validation cats left out" in cats_missing_note(checkout, None)
    (tmp_path / "shared" / "data" / "cats").mkdir(parents=True)
    Image.fromarray(smooth_image(32, 32)).save(tmp_path / "shared" / "data" / "cats" / "cat.0.jpg")
    assert cats_list(checkout) == checkout / "configs" / "cats_val.txt"
    assert cats_missing_note(checkout, cats_list(checkout)) is None


def test_report_flags_reach_run_report(tmp_path, monkeypatch, capsys):
    import srgan.bench.report as report

    seen = {}
    monkeypatch.setattr(report, "run_report", lambda out, **kw: seen.update(out=out, **kw) or tmp_path / "RESULTS.md")
    assert main(["report", "--out", "o", "--shared", "s", "--peers", "p", "--quick", "--bm3d-images", "0"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "RESULTS.md")
    assert (seen["out"], seen["shared"], seen["peers_dir"], seen["quick"], seen["bm3d_images"]) == ("o", "s", "p", True, 0)
    assert seen["device"] == "cpu" and seen["datasets"] is None
