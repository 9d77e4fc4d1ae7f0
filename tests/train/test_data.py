import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.train.data import (
    BatchSpec,
    ImageStore,
    augment,
    crop_detail,
    dataset_paths,
    detailed_crop,
    make_batch,
    random_crop,
    read_idx_images,
    read_path_list,
    read_stl10_images,
)
from srgan.errors import SrganError
from srgan.ops.imresize import imresize_uint8


def test_folder_sources_are_searched_recursively(image_folder):
    store = ImageStore([str(image_folder)])
    assert len(store) == 4 and store.report.images == 4
    assert all(store[i].dtype == np.uint8 and store[i].shape[2] == 3 for i in range(len(store)))


def test_unreadable_files_are_skipped_and_counted(image_folder, capsys):
    (image_folder / "broken.png").write_bytes(b"not an image")
    store = ImageStore([str(image_folder)])
    assert len(store) == 4 and store.report.skipped_unreadable == 1
    assert "broken.png" in capsys.readouterr().err


def test_memory_budget_decodes_the_rest_on_demand(image_folder):
    store = ImageStore([str(image_folder)], cache_mb=0.02)  # room for one small image
    assert store.report.on_demand >= 2
    assert all(store[i].shape[2] == 3 for i in range(len(store)))


def test_excluded_files_are_left_out(image_folder):
    store = ImageStore([str(image_folder)], exclude={(image_folder / "img0.png").resolve()})
    assert len(store) == 3


def test_missing_or_empty_sources_are_clear_errors(tmp_path):
    with pytest.raises(SrganError, match="not found"):
        ImageStore([str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SrganError, match="no images"):
        ImageStore([str(tmp_path / "empty")])


def test_gray_store_converts_colour(image_folder):
    store = ImageStore([str(image_folder)], channels=1)
    assert store[0].shape[2] == 1


def _write_idx(path, images):
    n, h, w = images.shape
    data = struct.pack(">IIII", 2051, n, h, w) + images.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_mnist_idx_files(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    assert np.array_equal(read_idx_images(tmp_path / "train-images-idx3-ubyte.gz"), imgs)
    store = ImageStore([f"mnist:{tmp_path}"], channels=1)
    assert len(store) == 5 and np.array_equal(store[2][:, :, 0], imgs[2])
    (tmp_path / "bad-images-idx3-ubyte").write_bytes(b"\x00" * 20)
    with pytest.raises(SrganError, match="IDX"):
        read_idx_images(tmp_path / "bad-images-idx3-ubyte")


def test_stl10_binary_files(tmp_path):
    # STL-10 stores each 96x96 plane column-major; build one image whose pixel (y, x) is known.
    img = np.random.default_rng(1).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    raw = img.transpose(0, 3, 2, 1).tobytes()  # (N, C, W, H) order, as the dataset's files
    (tmp_path / "train_X.bin").write_bytes(raw)
    assert np.array_equal(read_stl10_images(tmp_path / "train_X.bin"), img)
    store = ImageStore([f"stl10:{tmp_path}"])
    assert len(store) == 2 and np.array_equal(store[1], img[1])


def test_crop_pads_small_images_and_augment_keeps_content():
    rng = np.random.default_rng(0)
    small = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    assert random_crop(small, 8, rng).shape == (8, 8, 3)
    img = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    out = augment(img, rng)
    assert sorted(out.ravel().tolist()) == sorted(img.ravel().tolist())


def test_detailed_crop_keeps_the_busiest_of_its_tries():
    # Left half flat gray, right half noise: uniform crops land anywhere, the busiest of 16 in the noise.
    img = np.full((32, 128, 3), 128, np.uint8)
    img[:, 64:] = np.random.default_rng(1).integers(0, 256, (32, 64, 3), dtype=np.uint8)
    assert crop_detail(img[:, 64:96]) > 50 * max(crop_detail(img[:, :32]), 1e-3)
    busy = lambda tries: np.mean([crop_detail(detailed_crop(img, 32, tries, np.random.default_rng(s))) > 80
                                  for s in range(200)])
    assert busy(1) < 0.5 and busy(16) > 0.95
    # It is the most detailed of exactly the crops random_crop draws from the same stream, and 1 try is
    # random_crop itself: runs without the option keep their batches (and their resumes).
    for s in range(20):
        rng, ref = np.random.default_rng(s), np.random.default_rng(s)
        tries = [random_crop(img, 32, ref) for _ in range(4)]
        assert np.array_equal(detailed_crop(img, 32, 4, rng), max(tries, key=crop_detail))
        assert rng.random() == ref.random()
        assert np.array_equal(detailed_crop(img, 32, 1, np.random.default_rng(s)),
                              random_crop(img, 32, np.random.default_rng(s)))
    gray = img[..., :1]
    assert crop_detail(gray[:, 64:96]) > 20 > crop_detail(gray[:, :32])


def test_crop_tries_reach_the_batches(image_folder):
    store = ImageStore([str(image_folder)])
    one = make_batch(store, BatchSpec(kind="sr", batch_size=8, crop=16, seed=2), step=3)[1]
    four = make_batch(store, BatchSpec(kind="sr", batch_size=8, crop=16, seed=2, crop_tries=4), step=3)[1]
    detail = lambda hr: np.mean([crop_detail((x.permute(1, 2, 0) * 255).round().byte().numpy()) for x in hr])
    assert not torch.equal(one, four) and detail(four) > detail(one)


def test_sr_batches_are_matlab_bicubic_pairs_and_reproducible(image_folder):
    store = ImageStore([str(image_folder)])
    spec = BatchSpec(kind="sr", batch_size=3, crop=32, scale=4, seed=5)
    lr, hr = make_batch(store, spec, step=7)
    assert lr.shape == (3, 3, 8, 8) and hr.shape == (3, 3, 32, 32)
    hr_u8 = (hr * 255).round().to(torch.uint8)
    expected = imresize_uint8(hr_u8, scale=0.25).float() / 255
    assert torch.equal(lr, expected)
    lr2, hr2 = make_batch(store, spec, step=7)
    assert torch.equal(lr, lr2) and torch.equal(hr, hr2)
    _, hr3 = make_batch(store, spec, step=8)
    assert not torch.equal(hr, hr3)
    _, hr_rank1 = make_batch(store, BatchSpec(kind="sr", batch_size=3, crop=32, seed=5, rank=1), step=7)
    assert not torch.equal(hr, hr_rank1)


def test_denoise_batches_have_clipped_noise_in_range(image_folder):
    store = ImageStore([str(image_folder)])
    noisy, clean = make_batch(store, BatchSpec(kind="denoise", batch_size=4, crop=24, noise_sigma=(0.1, 0.5)), step=1)
    assert noisy.shape == clean.shape == (4, 3, 24, 24)
    assert noisy.min() >= 0 and noisy.max() <= 1
    residual_std = (noisy - clean).flatten(1).std(1)
    assert ((residual_std > 0.05) & (residual_std < 0.5)).all()


def test_denoise_batches_can_carry_each_crops_sigma(image_folder):
    store = ImageStore([str(image_folder)])
    spec = BatchSpec(kind="denoise", batch_size=6, crop=24, noise_sigma=(0.05, 0.4), seed=2)
    noisy, clean = make_batch(store, spec, step=3)
    spec.with_sigma = True
    noisy2, clean2, sigma = make_batch(store, spec, step=3)
    assert torch.equal(noisy, noisy2) and torch.equal(clean, clean2)  # the same draws either way
    assert sigma.shape == (6,) and ((sigma >= 0.05) & (sigma <= 0.4)).all()
    # each crop's noise is as strong as its σ says (clipping at 0 and 1 only shrinks it)
    measured = (noisy - clean).flatten(1).std(1)
    assert torch.corrcoef(torch.stack([measured, sigma]))[0, 1] > 0.9


def test_txt_lists_resolve_relative_to_the_file(image_folder, tmp_path):
    lst = tmp_path / "lists" / "val.txt"
    lst.parent.mkdir()
    lst.write_text("# comment\n../images/img0.png\n\n../images/sub/nested.jpg\n")
    assert read_path_list(lst) == [(image_folder / "img0.png").resolve(), (image_folder / "sub/nested.jpg").resolve()]
    assert dataset_paths(lst) == read_path_list(lst)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    with pytest.raises(SrganError):
        dataset_paths(tmp_path / "missing")


def test_small_images_are_padded_and_said_once(tmp_path, capsys):
    for i in range(3):
        Image.fromarray(np.full((10, 12, 3), 50 * i, np.uint8)).save(tmp_path / f"s{i}.png")
    store = ImageStore([str(tmp_path)], min_size=32)
    err = capsys.readouterr().err
    assert err.count("smaller than the 32-px crop") == 1 and "3 image(s)" in err
    lr, hr = make_batch(store, BatchSpec(kind="sr", batch_size=2, crop=32), step=1)
    assert hr.shape == (2, 3, 32, 32)


def test_dataloader_workers_give_the_same_batches(image_folder):
    from srgan.train.data import batches

    store = ImageStore([str(image_folder)])
    spec = BatchSpec(kind="sr", batch_size=2, crop=16, seed=1)
    inline = list(batches(store, spec, 3, 6, num_workers=0))
    workers = list(batches(store, spec, 3, 6, num_workers=2))
    assert len(inline) == len(workers) == 3
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(inline, workers))


def test_hr_downscale_halves_every_training_image_with_the_matlab_bicubic(image_folder):
    full = ImageStore([str(image_folder)])
    half = ImageStore([str(image_folder)], downscale=2)
    for i in range(len(full)):
        h, w = full[i].shape[:2]
        assert half[i].shape[:2] == (round(h / 2), round(w / 2))
        assert np.array_equal(half[i], imresize_uint8(full[i], size=half[i].shape[:2]))


def test_real_degradation_batches_are_a_function_of_the_step():
    from srgan.ops.realistic import RealDegradation

    store = ImageStore.__new__(ImageStore)
    store._items = [np.random.default_rng(i).integers(0, 256, (80, 80, 3), dtype=np.uint8) for i in range(3)]
    spec = BatchSpec(kind="sr", batch_size=3, crop=48, scale=4, degradation=RealDegradation())
    lr, hr = make_batch(store, spec, step=5)
    lr2, _ = make_batch(store, spec, step=5)
    lr3, _ = make_batch(store, spec, step=6)
    assert lr.shape == (3, 3, 12, 12) and hr.shape == (3, 3, 48, 48)
    assert torch.equal(lr, lr2) and not torch.equal(lr, lr3)
    bicubic, _ = make_batch(store, BatchSpec(kind="sr", batch_size=3, crop=48, scale=4), step=5)
    assert not torch.equal(lr, bicubic)  # the same crops, another LR
    clean = BatchSpec(kind="sr", batch_size=3, crop=48, scale=4, degradation=RealDegradation(clean_prob=1.0))
    assert torch.equal(make_batch(store, clean, step=5)[0], bicubic)


def test_random_jpeg_grid_batches_carry_where_each_lr_s_blocks_start():
    from srgan.ops.realistic import RealDegradation, jpeg_on_grid
    from srgan.ops.imresize import imresize_uint8

    store = ImageStore.__new__(ImageStore)
    store._items = [np.random.default_rng(i).integers(0, 256, (96, 96, 3), dtype=np.uint8) for i in range(3)]
    only = dict(jpeg_only_prob=1.0, final_jpeg_quality=[30, 30])
    spec = BatchSpec(kind="sr", batch_size=8, crop=64, scale=4, degradation=RealDegradation(**only, random_jpeg_grid=True))
    lr, hr, grid, branch = make_batch(store, spec, step=3)
    assert branch.tolist() == [1] * 8  # every crop from the JPEG-only branch
    assert grid.shape == (8, 2) and 0 <= grid.min() and grid.max() < 8 and len(set(map(tuple, grid.tolist()))) > 1
    assert torch.equal(make_batch(store, spec, step=3)[2], grid)
    # each LR is its HR's bicubic ×¼ saved as JPEG with the blocks where the grid says
    for i in range(8):
        hr_u8 = (hr[i].permute(1, 2, 0) * 255).round().byte().numpy()
        want = jpeg_on_grid(imresize_uint8(hr_u8, scale=0.25).astype(np.float32) / 255, 30, tuple(grid[i].tolist()))
        assert torch.equal(lr[i], torch.from_numpy(np.rint(want * 255)).permute(2, 0, 1).float() / 255)
    # a crop whose LR was not saved as JPEG at its size has no blocks to watch: −1
    clean = BatchSpec(kind="sr", batch_size=8, crop=64, scale=4,
                      degradation=RealDegradation(clean_prob=1.0, random_jpeg_grid=True))
    assert (make_batch(store, clean, step=3)[2] == -1).all()
    mixed = BatchSpec(kind="sr", batch_size=8, crop=64, scale=4,
                      degradation=RealDegradation(clean_prob=0.5, jpeg_only_prob=1.0, random_jpeg_grid=True))
    _, _, grid, branch = make_batch(store, mixed, step=3)
    assert 0 < (grid[:, 0] == -1).sum() < 8
    # the clean crops (branch 0) are the ones with no JPEG grid; the rest came from the JPEG-only branch
    assert torch.equal(grid[:, 0] == -1, branch == 0) and set(branch.tolist()) == {0, 1}
    # without the flag: two items, the blocks at the corner
    assert len(make_batch(store, BatchSpec(kind="sr", batch_size=8, crop=64, scale=4,
                                           degradation=RealDegradation(**only)), step=3)) == 2
