import numpy as np
from PIL import Image

from conftest import smooth_image
from srgan.cli import main
from srgan.ops.imresize import imresize_uint8


def test_downscale_keeps_names_and_uses_matlab_bicubic(image_folder, tmp_path, capsys):
    out = tmp_path / "lr"
    assert main(["degrade", str(image_folder), "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["img0.png", "img1.png", "img2.png", "nested.png"]
    hr = np.asarray(Image.open(image_folder / "img0.png"))
    lr = np.asarray(Image.open(out / "img0.png"))
    assert lr.shape == (16, 20, 3) and np.array_equal(lr, imresize_uint8(hr, scale=0.25))
    assert "4 written, 0 failed" in capsys.readouterr().out


def test_noise_is_added_after_the_downscale_and_seeded(tmp_path):
    src = tmp_path / "a.png"
    hr = smooth_image(64, 64)
    Image.fromarray(hr).save(src)
    for name, seed in (("o1", 0), ("o2", 0), ("o3", 1)):
        assert main(["degrade", str(src), "-o", str(tmp_path / name), "--noise", "0.1", "--seed", str(seed)]) == 0
    a, b, c = (np.asarray(Image.open(tmp_path / n / "a.png")).astype(float) for n in ("o1", "o2", "o3"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    clean = imresize_uint8(hr, scale=0.25).astype(float)
    assert 0.07 * 255 < (a - clean).std() < 0.13 * 255


def test_scale_one_makes_noisy_copies_only(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(30, 40)).save(src)
    assert main(["degrade", str(src), "-o", str(tmp_path / "n"), "--scale", "1", "--noise", "0.2"]) == 0
    assert Image.open(tmp_path / "n" / "a.png").size == (40, 30)


def test_bad_files_are_reported_and_the_batch_goes_on(image_folder, tmp_path, capsys):
    (image_folder / "zz_bad.png").write_bytes(b"")
    assert main(["degrade", str(image_folder), "-o", str(tmp_path / "lr")]) == 1
    captured = capsys.readouterr()
    assert "zz_bad.png" in captured.err and "Traceback" not in captured.err
    assert "4 written, 1 failed" in captured.out
    assert main(["degrade", str(tmp_path / "missing.png"), "-o", str(tmp_path / "x")]) == 1
    assert main(["degrade", str(image_folder), "-o", str(tmp_path / "x"), "--noise", "3"]) == 1
