"""Peer adapters: right size, sensible quality against bicubic, strict loaders, clear skips."""

import json
import re
import shutil

import numpy as np
import pytest
import torch

from conftest import shared_or_skip
from srgan.cli import main
from srgan.errors import SrganError
from srgan.io.read import read_u8
from srgan.ops.imresize import imresize_uint8
from srgan.ops.metrics import psnr_y
from srgan.bench.peers import SR_PEERS, PeerUnavailable, load_peer

# PSNR-Y gain over bicubic that each peer must reach on the butterfly crop below. The OpenCV models,
# leftthomas and the RDNs beat bicubic in their SOURCE.md and in the CEO's Set5/Set14/BSD100 numbers;
# Real-ESRGAN is a blind-degradation model that smooths, so it only has to come near bicubic.
MIN_GAIN = {
    "espcn": 0.5, "fsrcnn": 0.5, "lapsrn": 0.5, "leftthomas": 2.0,
    "esrgan-slim": 0.1, "esrgan-medium": 0.1, "realesrgan-x4plus": -3.0, "animevideov3": 0.0,
}
# Peers that need only torch and ../shared: with ../shared present they must load, never skip.
TORCH_ONLY = {"leftthomas", "esrgan-slim", "esrgan-medium"}


@pytest.fixture(scope="module")
def butterfly():
    """The centre of Set5's butterfly: a 40×40 LR crop of the standard LR input and its 160×160 HR."""
    root = shared_or_skip("data", "benchmark", "Set5")
    hr = read_u8(root / "HR" / "img_003.png")[48:208, 48:208]
    lr = read_u8(root / "LR_bicubic" / "X4" / "img_003.png")[12:52, 12:52]
    return np.ascontiguousarray(lr), np.ascontiguousarray(hr)


def _load(name, **kw):
    shared_or_skip("peers")
    try:
        return load_peer(name, **kw)
    except PeerUnavailable as e:
        if name in TORCH_ONLY:
            raise
        pytest.skip(str(e))


@pytest.mark.parametrize("name", list(SR_PEERS))
def test_peer_upscales_x4_and_holds_up_against_bicubic(name, butterfly):
    torch.set_num_threads(1)
    fn, title, kind = _load(name)
    lr, hr = butterfly
    sr = fn(lr)
    assert sr.shape == (160, 160, 3) and sr.dtype == np.uint8 and kind == "peer" and title
    gain = psnr_y(sr, hr, 8) - psnr_y(imresize_uint8(lr, scale=4), hr, 8)
    assert gain >= MIN_GAIN[name], f"{title}: {gain:+.2f} dB against bicubic"


@pytest.mark.parametrize("name", ["lapsrn", "esrgan-slim"])
def test_gray_input_is_replicated_and_comes_back_gray(name, butterfly):
    fn, *_ = _load(name)
    gray = butterfly[0][:16, :20, :1]
    out = fn(gray)
    assert out.shape == (64, 80, 1) and out.dtype == np.uint8


def test_missing_files_skip_with_the_reason(tmp_path):
    for name, title in SR_PEERS.items():
        if name == "realesrgan-x4plus":  # comes from its package, not from the peers folder
            continue
        with pytest.raises(PeerUnavailable, match=re.escape(title) + " skipped: .*not found"):
            load_peer(name, root=tmp_path)


def test_leftthomas_loader_is_strict(tmp_path):
    src = shared_or_skip("peers", "leftthomas-srgan", "netG_epoch_4_100.pth")
    state = torch.load(src, map_location="cpu", weights_only=True)
    (tmp_path / "leftthomas-srgan").mkdir()
    dst = tmp_path / "leftthomas-srgan" / "netG_epoch_4_100.pth"
    torch.save({k: v for k, v in state.items() if k != "block7.1.weight"}, dst)
    with pytest.raises(SrganError, match="not the leftthomas SRGAN generator.*block7.1.weight"):
        load_peer("leftthomas", root=tmp_path)
    torch.save({**state, "block9.weight": torch.zeros(1)}, dst)
    with pytest.raises(SrganError, match="block9.weight"):
        load_peer("leftthomas", root=tmp_path)


def _copy_slim(tmp_path):
    src = shared_or_skip("peers", "upscalerjs-esrgan-slim", "x4")
    dst = tmp_path / "upscalerjs-esrgan-slim" / "x4"
    shutil.copytree(src, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


def test_upscalerjs_loader_refuses_extra_bytes_missing_weights_and_unknown_layers(tmp_path):
    folder = _copy_slim(tmp_path)
    bin_path, json_path = folder / "group1-shard1of1.bin", folder / "model.json"
    blob, doc = bin_path.read_bytes(), json.loads(json_path.read_text())

    bin_path.write_bytes(blob + b"\0\0\0\0")
    with pytest.raises(SrganError, match="4 bytes of weights are not in the manifest"):
        load_peer("esrgan-slim", root=tmp_path)

    # Drop the last weight from the manifest and its bytes from the shard: the graph lacks a tensor.
    weights = doc["weightsManifest"][0]["weights"]
    last = weights.pop()
    bin_path.write_bytes(blob[: len(blob) - 4 * int(np.prod(last["shape"]))])
    json_path.write_text(json.dumps(doc))
    with pytest.raises(SrganError, match="weights do not fit model.json.*" + last["name"].split("/")[0]):
        load_peer("esrgan-slim", root=tmp_path)

    weights.append(last)
    bin_path.write_bytes(blob)
    doc["modelTopology"]["model_config"]["config"]["layers"][1]["class_name"] = "SeparableConv2D"
    json_path.write_text(json.dumps(doc))
    with pytest.raises(SrganError, match="layer type SeparableConv2D"):
        load_peer("esrgan-slim", root=tmp_path)


@pytest.mark.parametrize("name", ["nlmeans", "bm3d"])
def test_classical_denoisers_clean_noise(name):
    from srgan.ops.degrade import add_gaussian_noise
    from srgan.ops.metrics import psnr_rgb

    try:
        fn, title, kind = load_peer(name)
    except PeerUnavailable as e:
        pytest.skip(str(e))
    y, x = np.mgrid[0:40, 0:40] / 40
    clean = (np.stack([0.3 + 0.4 * x, 0.5 + 0.2 * np.sin(4 * y), 0.6 - 0.3 * x * y], -1) * 255).round().astype(np.uint8)
    noisy = add_gaussian_noise(clean, 0.1, np.random.default_rng(0))
    out = fn(noisy, 0.1)
    assert kind == "denoiser" and out.shape == clean.shape and out.dtype == np.uint8
    assert psnr_rgb(out, clean, 0) > psnr_rgb(noisy, clean, 0) + 3


def test_peer_specs_are_checked():
    with pytest.raises(SrganError, match="unknown peer 'nosuch'.*espcn"):
        load_peer("nosuch")
    with pytest.raises(SrganError, match="nlmeans:h=H"):
        load_peer("nlmeans:h=-1")
    with pytest.raises(SrganError, match="takes no options"):
        load_peer("lapsrn:h=3")


def test_evaluate_runs_a_peer_through_the_protocol(capsys):
    root = shared_or_skip("data", "benchmark", "Set5")
    shared_or_skip("peers")
    code = main(["evaluate", "--model", "peer:esrgan-slim", "--data", str(root), "--max-images", "1", "--json"])
    assert code == 0
    (r,) = json.loads(capsys.readouterr().out)["results"]
    assert r["model"] == "UpscalerJS esrgan-slim (RDN)" and r["images"] == 1 and r["psnr_y"] > 30


def test_evaluate_names_a_missing_peer_in_one_line(tmp_path, capsys):
    code = main(["evaluate", "--model", "peer:lapsrn", "--peers", str(tmp_path), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "OpenCV LapSRN skipped" in err
