"""srgan report: a quick run writes RESULTS.md, the CSVs and figures; where its data comes from by default."""

import pytest
from PIL import Image

from conftest import smooth_image
from srgan.bench.report import cats_list, default_datasets
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
    assert csv_lines[0].startswith("dataset,image,model,psnr_y") and any(",bicubic," in l for l in csv_lines)
    assert "niqe" in csv_lines[0].split(",")
    # Metrics with four decimals; the small image's NIQE, which NIQE cannot measure, empty.
    small = next(l for l in csv_lines if l.startswith("tiny,0.png,bicubic,")).split(",")
    assert all(len(v.split(".")[1]) == 4 for v in small[3:8]) and small[8] == ""
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


def test_the_cats_list_counts_only_when_its_photos_are_there(tmp_path):
    checkout = tmp_path / "repo"
    (checkout / "configs").mkdir(parents=True)
    assert cats_list(checkout) is None
    (checkout / "configs" / "cats_val.txt").write_text("# paths relative to this file\n../../shared/data/cats/cat.0.jpg\n")
    assert cats_list(checkout) is None  # a checkout without ../shared
    (tmp_path / "shared" / "data" / "cats").mkdir(parents=True)
    Image.fromarray(smooth_image(32, 32)).save(tmp_path / "shared" / "data" / "cats" / "cat.0.jpg")
    assert cats_list(checkout) == checkout / "configs" / "cats_val.txt"


def test_report_flags_reach_run_report(tmp_path, monkeypatch, capsys):
    import srgan.bench.report as report

    seen = {}
    monkeypatch.setattr(report, "run_report", lambda out, **kw: seen.update(out=out, **kw) or tmp_path / "RESULTS.md")
    assert main(["report", "--out", "o", "--shared", "s", "--peers", "p", "--quick", "--bm3d-images", "0"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "RESULTS.md")
    assert (seen["out"], seen["shared"], seen["peers_dir"], seen["quick"], seen["bm3d_images"]) == ("o", "s", "p", True, 0)
    assert seen["device"] == "cpu" and seen["datasets"] is None
