import csv
import json

import numpy as np
import pytest
from PIL import Image

from conftest import shared_or_skip, smooth_image
from srgan.cli import main
from srgan.bench.evaluate import evaluate, write_csv
from srgan.ops.imresize import imresize_uint8
from srgan.ops.niqe import niqe

# The published bicubic x4 baselines of the benchmark LR inputs (PSNR-Y, SSIM-Y, border 4).
PUBLISHED = {"Set5": (28.43, 0.811), "Set14": (26.09, 0.705), "BSD100": (25.96, 0.668)}


def test_bicubic_reproduces_the_published_baselines(capsys):
    root = shared_or_skip("data", "benchmark")
    assert main(["evaluate", "--model", "bicubic", "--data", *(str(root / s) for s in PUBLISHED), "--json"]) == 0
    out = capsys.readouterr().out
    results = json.loads(out)["results"]  # exactly one JSON object on stdout
    assert [r["dataset"] for r in results] == list(PUBLISHED)
    for r in results:
        psnr, ssim = PUBLISHED[r["dataset"]]
        assert abs(r["psnr_y"] - psnr) <= 0.05, r
        assert abs(r["ssim_y"] - ssim) <= 0.003, r
        assert r["model"] == "bicubic" and r["scale"] == 4
        assert {"images", "psnr_rgb", "ssim_rgb", "hf_ratio"} <= set(r)
        assert 5 < r["niqe"] < 12, r  # bicubic ×4 is blurred: far above the HR photos' 2.5-6
    assert results[0]["images"] == 5 and results[1]["images"] == 14 and results[2]["images"] == 100


def _flat(tmp_path, n=2, gray_one=True):
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(n):
        Image.fromarray(smooth_image(48 + 4 * i, 52, i)).save(folder / f"{i}.png")
    if gray_one:
        Image.fromarray(smooth_image(40, 44, 7)[:, :, 0]).save(folder / "gray.png")
    return folder


def test_flat_folder_and_txt_list_make_their_own_lr(tmp_path):
    folder = _flat(tmp_path)
    lst = tmp_path / "list.txt"
    lst.write_text("flat/0.png\nflat/gray.png\n")
    res = evaluate("bicubic", [str(folder), str(lst)])
    assert [(r["dataset"], r["images"]) for r in res] == [("flat", 3), ("list", 2)]
    assert [r["niqe"] for r in res] == [None, None]  # 48-px images: too small for NIQE's 96-px blocks
    # The LR is our MATLAB imresize in uint8 mode, so bicubic up of it is a fixed, checkable number.
    hr = np.asarray(Image.open(folder / "0.png"))
    assert 20 < res[0]["psnr_y"] < 60


def test_benchmark_layout_uses_the_shipped_lr(tmp_path):
    root = tmp_path / "Mini"
    (root / "HR").mkdir(parents=True)
    (root / "LR_bicubic" / "X4").mkdir(parents=True)
    hr = smooth_image(64, 64)
    Image.fromarray(hr).save(root / "HR" / "a.png")
    # A deliberately different LR: if it is used, PSNR drops far below the self-made LR's.
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "LR_bicubic" / "X4" / "a.png")
    assert evaluate("bicubic", [str(root)])[0]["psnr_y"] < 15
    Image.fromarray(imresize_uint8(hr, scale=0.25)).save(root / "LR_bicubic" / "X4" / "a.png")
    assert evaluate("bicubic", [str(root)])[0]["psnr_y"] > 20


@pytest.mark.parametrize("case", ["missing", "size_mismatch", "not_image", "lr_missing", "lr_only"])
def test_bad_datasets_are_one_line_errors(tmp_path, capsys, case):
    root = tmp_path / "D"
    (root / "HR").mkdir(parents=True)
    (root / "LR_bicubic" / "X4").mkdir(parents=True)
    Image.fromarray(smooth_image(64, 64)).save(root / "HR" / "a.png")
    if case == "size_mismatch":
        Image.fromarray(smooth_image(10, 16)).save(root / "LR_bicubic" / "X4" / "a.png")
    elif case == "not_image":
        (root / "HR" / "a.png").write_text("hello")
        Image.fromarray(smooth_image(16, 16)).save(root / "LR_bicubic" / "X4" / "a.png")
    if case == "lr_only":  # the LR inputs alone must not be scored as if they were ground truth
        (root / "HR" / "a.png").unlink()
        (root / "HR").rmdir()
        Image.fromarray(smooth_image(16, 16)).save(root / "LR_bicubic" / "X4" / "a.png")
    target = tmp_path / "nowhere" if case == "missing" else root
    assert main(["evaluate", "--data", str(target)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("srgan: error:")
    assert {"missing": "not found", "size_mismatch": "does not match", "not_image": "a.png", "lr_missing": "LR image missing",
            "lr_only": "no HR/ folder"}[case] in err


def test_niqe_is_the_mean_over_the_images_big_enough_for_it(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    big = smooth_image(200, 200, 3)
    Image.fromarray(big).save(folder / "big.png")
    Image.fromarray(smooth_image(48, 52, 4)).save(folder / "small.png")
    csv_path = tmp_path / "rows.csv"
    res = evaluate("bicubic", [str(folder)], per_image_csv=str(csv_path))
    expected = niqe(imresize_uint8(imresize_uint8(big, scale=0.25), scale=4), crop_border=4)
    assert res[0]["niqe"] == round(expected, 4)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NIQE left out of the mean for 1 output" in err[0] and "mixed/small.png" in err[0]
    rows = {r["image"]: r for r in csv.DictReader(csv_path.open())}
    assert float(rows["big.png"]["niqe"]) == pytest.approx(expected) and rows["small.png"]["niqe"] == ""

    assert main(["evaluate", "--data", str(folder), "--json", "--no-niqe"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["results"][0]["niqe"] is None and "NIQE" not in out.err


def test_several_datasets_after_one_flag_and_repeated_flags(tmp_path, capsys):
    folder = _flat(tmp_path, gray_one=False)
    assert main(["evaluate", "--data", str(folder), str(folder), "--data", str(folder), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["results"]) == 3


def test_table_output(tmp_path, capsys):
    folder = _flat(tmp_path, gray_one=False)
    assert main(["evaluate", "--data", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["dataset", "model", "scale", "images", "psnr_y", "ssim_y"]
    assert "niqe" in out[0].split()
    assert out[1].split()[:4] == ["flat", "bicubic", "4", "2"]


def test_write_csv_round_trips_and_rounds_floats_only_when_asked(tmp_path):
    rows = [{"dataset": "Set5", "image": "1.5", "psnr": 31.123456789, "niqe": None},
            {"dataset": "Set5", "image": "b.png", "psnr": float("inf"), "niqe": np.float64(5.5)}]
    path = tmp_path / "rows.csv"
    write_csv(path, rows)
    back = list(csv.DictReader(path.open()))
    assert [float(r["psnr"]) for r in back] == [31.123456789, float("inf")]
    assert [r["niqe"] for r in back] == ["", "5.5"] and back[0]["image"] == "1.5"
    write_csv(path, rows, decimals=4)
    assert path.read_text().splitlines() == ["dataset,image,psnr,niqe", "Set5,1.5,31.1235,", "Set5,b.png,inf,5.5000"]
    write_csv(path, [])
    assert path.read_text() == ""


def test_write_csv_failing_midway_leaves_the_old_file_whole(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("the old rows\n")
    # The second row has a column the first has not: DictWriter raises after the header and first row.
    with pytest.raises(ValueError):
        write_csv(path, [{"a": 1.0}, {"a": 2.0, "b": 3.0}])
    assert path.read_text() == "the old rows\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rows.csv"]  # no temporary file left behind


def test_per_image_rows_are_the_csv_rows(tmp_path):
    folder = _flat(tmp_path, gray_one=False)
    rows, csv_path = [], tmp_path / "rows.csv"
    res = evaluate("bicubic", [str(folder)], per_image_csv=csv_path, per_image_rows=rows, with_niqe=False)
    assert [r["image"] for r in rows] == ["0.png", "1.png"] and res[0]["psnr_y"] == round(np.mean([r["psnr_y"] for r in rows]), 4)
    assert [float(r["psnr_y"]) for r in csv.DictReader(csv_path.open())] == [r["psnr_y"] for r in rows]


def test_degrade_presets_feed_the_model_a_worse_input_and_blockiness_sees_jpeg(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(160, 192, i)).save(folder / f"p{i}.png")
    clean = evaluate("bicubic", [str(folder)], with_niqe=False)[0]
    jpeg50 = evaluate("bicubic", [str(folder)], with_niqe=False, degrade="jpeg50")[0]
    again = evaluate("bicubic", [str(folder)], with_niqe=False, degrade="jpeg50")[0]
    assert clean["degrade"] == "bicubic" and jpeg50["degrade"] == "jpeg50"
    assert jpeg50 == {**again, "seconds_per_mp": jpeg50["seconds_per_mp"]}  # seeded: the same inputs every time
    assert jpeg50["psnr_y"] < clean["psnr_y"]
    # Bicubic ×4 of a JPEG shows its 8×8 blocks on the 32-px grid; of the clean LR it does not.
    assert jpeg50["blockiness"] > clean["blockiness"] + 0.1 and abs(clean["blockiness"] - 1) < 0.1
    assert main(["evaluate", "--data", str(folder), "--degrade", "blur-noise-jpeg70", "--no-niqe"]) == 0
    out = capsys.readouterr().out
    assert "blockiness" in out.splitlines()[0] and "flat_noise" in out.splitlines()[0] and "blur-noise-jpeg70" in out
    assert "block_profile" in out.splitlines()[0]
    # bicubic ×4 of a JPEG keeps its steps on the block borders, a profile the photo does not have
    assert jpeg50["block_profile"] > clean["block_profile"]
    assert 0 < jpeg50["flat_noise"] < 5  # grey levels of drawn detail where the photo is flat (bicubic: little)
    assert main(["evaluate", "--data", str(folder), "--degrade", "jpeg10"]) == 2
    assert "--degrade" in capsys.readouterr().err


def test_a_denoiser_with_a_noise_input_estimates_sigma_unless_told(tmp_path, capsys, monkeypatch):
    from srgan.models import zoo
    from srgan.models.ffdnet import FFDNet

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = FFDNet(widths=(8, 16), blocks_per_level=1)
    path = tmp_path / "tiny-ffdnet.safetensors"
    zoo.save_model(path, net, {"kind": "denoiser", "scale": 1, "architecture": net.config.to_dict()})
    from srgan.infer.model import Model

    told = []
    run_fitting = Model._run_fitting

    def spy(self, pixels, tiling, precision, progress, sigma):
        told.append(sigma)
        return run_fitting(self, pixels, tiling, precision, progress, sigma)

    monkeypatch.setattr(Model, "_run_fitting", spy)
    folder = _flat(tmp_path, n=2, gray_one=False)
    given = evaluate(str(path), [str(folder)], noise=[0.2], device="cpu", sigma_given=True)
    assert told == [0.2, 0.2] and given[0]["sigma_input"] == "given"
    told.clear()
    estimated = evaluate(str(path), [str(folder)], noise=[0.2], device="cpu")
    assert estimated[0]["sigma_input"] == "estimated" and estimated[0]["sigma"] == 0.2
    assert len(told) == 2 and all(s != 0.2 and 0.15 < s < 0.25 for s in told)  # the estimator's, within 25 %
    assert main(["evaluate", "--model", "bicubic", "--data", str(folder), "--sigma-given"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sigma-given applies to denoiser models only" in err[0]
