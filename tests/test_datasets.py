import bz2
import gzip
import hashlib
import io
import json
import os
import pickle
import re
import tarfile
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from plainnet.data import datasets
from plainnet.data.datasets import (
    DataError,
    InexactDataWarning,
    load_dataset,
    parse_cifar10,
    parse_coil20,
    parse_idx,
    parse_libsvm,
    prepare,
    read_cache,
    split_indices,
)
from plainnet.data.download import DownloadError, Source, fetch
from plainnet.data.tensors import DeviceData, random_crop_flip

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED = Path(os.environ.get("PLAINNET_DATA") or SHARED)


# ------------------------------------------------------------ tiny files in the official formats


def write_libsvm(path, x, y):
    """LIBSVM as distributed for USPS: labels 1..10, 1-based indices, values in [-1, 1]."""
    lines = [
        f"{lab + 1} " + " ".join(f"{i + 1}:{v:.6f}" for i, v in enumerate(r) if v != 0)
        for r, lab in zip(x, y, strict=True)
    ]
    path.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))


def write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(gzip.compress(header + arr.astype(np.uint8).tobytes()))


def write_cifar_tarball(path, rng):
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            d = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 9]}
            blob = pickle.dumps(d)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def write_coil_zip(path, size=128, mode="L", copies=False):
    """Distinct images (every pose marks its own pixel), or with `copies` one image 1,440 times."""
    from PIL import Image

    with zipfile.ZipFile(path, "w") as z:
        for obj in range(1, 21):
            for pose in range(72):
                buf = io.BytesIO()
                pixels = np.full((size, size), obj * 10 + pose % 3, np.uint8)
                if copies:
                    pixels[:] = 7
                else:
                    pixels[-1, -1] = pose
                img = Image.fromarray(pixels)
                img.convert(mode).save(buf, "PNG")
                z.writestr(f"coil-20-proc/obj{obj}__{pose}.png", buf.getvalue())


def test_parse_libsvm_usps_format(tmp_path):
    rng = np.random.default_rng(0)
    x = np.round(rng.uniform(-1, 1, (5, 256)), 6)
    x[:, :10] = 0  # sparse entries left out of the file are zeros
    y = np.array([0, 3, 9, 1, 2])
    write_libsvm(tmp_path / "usps.bz2", x, y)
    got_x, got_y = parse_libsvm(tmp_path / "usps.bz2", 256)
    np.testing.assert_allclose(got_x, x, atol=1e-6)
    np.testing.assert_array_equal(got_y, y + 1)


def test_parse_idx_and_reject_non_idx(tmp_path):
    arr = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    write_idx(tmp_path / "a.gz", arr)
    np.testing.assert_array_equal(parse_idx(tmp_path / "a.gz"), arr)
    (tmp_path / "b.gz").write_bytes(gzip.compress(b"not an idx file"))
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(tmp_path / "b.gz")


def test_parse_cifar10_tarball_to_hwc(tmp_path):
    write_cifar_tarball(tmp_path / "c.tar.gz", np.random.default_rng(0))
    d = parse_cifar10(tmp_path / "c.tar.gz")
    assert d["x_train"].shape == (20, 32, 32, 3) and d["x_test"].shape == (4, 32, 32, 3)
    assert d["y_train"].tolist() == [0, 1, 2, 9] * 5
    with tarfile.open(tmp_path / "c.tar.gz") as tar:
        raw = pickle.load(tar.extractfile("cifar-10-batches-py/test_batch"))[b"data"][0]
    # CHW rows become HWC images: red plane first in the row, channel 0 in the image.
    assert np.array_equal(d["x_test"][0][..., 0].ravel(), raw[:1024])
    assert np.array_equal(d["x_test"][0][..., 2].ravel(), raw[2048:])


def test_parse_coil20_zip(tmp_path):
    write_coil_zip(tmp_path / "coil.zip")
    d = parse_coil20(tmp_path / "coil.zip")
    assert d["x"].shape == (1440, 128, 128)
    assert np.bincount(d["y"]).tolist() == [72] * 20
    assert d["pose"][:3].tolist() == [0, 1, 2] and d["y"][72] == 1
    assert d["x"][72 + 4, 0, 0] == 20 + 4 % 3  # obj2, pose 4


@pytest.mark.parametrize(
    ("size", "mode", "message"), [(8, "L", "8x8 mode L"), (128, "RGB", "mode RGB")]
)
def test_a_forged_coil20_zip_is_refused(tmp_path, size, mode, message):
    """Right file names and count, wrong images (e.g. 8x8 random pictures): not COIL-20."""
    write_coil_zip(tmp_path / "coil.zip", size, mode)
    with pytest.raises(DataError, match=message):
        parse_coil20(tmp_path / "coil.zip")


def test_a_coil20_zip_of_copies_of_one_image_is_refused(tmp_path):
    write_coil_zip(tmp_path / "coil.zip", copies=True)
    with pytest.raises(DataError, match="only 1 distinct images"):
        parse_coil20(tmp_path / "coil.zip")


def test_an_empty_split_is_one_line(tmp_path):
    np.savez(
        tmp_path / "mine.npz",
        x_train=np.zeros((20, 4, 4), np.uint8),
        y_train=np.arange(20) % 2,
        x_test=np.zeros((0, 4, 4), np.uint8),
        y_test=np.zeros(0, np.int64),
    )
    with pytest.raises(DataError, match="the test split holds no samples"):
        load_dataset(str(tmp_path / "mine.npz"))


# ------------------------------------------------------------ downloads (file:// URLs, no network)


def _source(tmp_path, name, payload, md5=None):
    src_dir = tmp_path / "server"
    src_dir.mkdir(exist_ok=True)
    (src_dir / name).write_bytes(payload)
    md5 = md5 or hashlib.md5(payload).hexdigest()
    return Source(name, ((src_dir / name).as_uri(),), md5)


def test_fetch_verifies_and_writes_atomically(tmp_path):
    good = _source(tmp_path, "f.bin", b"hello")
    path = fetch(good, tmp_path / "raw", retries=1)
    assert path.read_bytes() == b"hello"
    bad = _source(tmp_path, "g.bin", b"hello", md5="0" * 32)
    with pytest.raises(DownloadError, match="could not download g.bin .*md5 .* does not match"):
        fetch(bad, tmp_path / "raw", retries=2)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["f.bin"]  # no .part left


def test_fetch_offline_names_the_file_to_fetch_by_hand(tmp_path):
    src = Source("x.gz", ("https://example.invalid/x.gz",), None)
    with pytest.raises(DownloadError) as e:
        fetch(src, tmp_path / "raw", download=False)
    msg = str(e.value)
    assert "fetch https://example.invalid/x.gz by hand and put it at" in msg
    assert str(tmp_path / "raw" / "x.gz") in msg and "\n" not in msg


def test_fetch_rejects_a_wrong_file_put_by_hand(tmp_path):
    src = Source("x.gz", ("https://example.invalid/x.gz",), "0" * 32)
    (tmp_path / "x.gz").write_bytes(b"something else")
    with pytest.raises(DownloadError, match="does not match the published"):
        fetch(src, tmp_path)


def test_prepare_converts_official_files_once(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    sources = []
    for fname, n in (("usps.bz2", 30), ("usps.t.bz2", 10)):
        p = tmp_path / fname
        write_libsvm(p, np.round(rng.uniform(-1, 1, (n, 256)), 4), np.arange(n) % 10)
        sources.append(_source(tmp_path, fname, p.read_bytes()))
    monkeypatch.setitem(
        datasets.SPECS, "usps", replace(datasets.SPECS["usps"], sources=tuple(sources))
    )
    data_dir = tmp_path / "data"
    path = prepare("usps", data_dir)
    assert path == data_dir / "usps.npz" and (data_dir / "raw" / "usps" / "usps.bz2").exists()
    ds = load_dataset("usps", data_dir)
    assert ds.x_train.shape == (30, 16, 16) and ds.x_test.shape == (10, 16, 16)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.tolist() == (np.arange(30) % 10).tolist()
    assert ds.meta["official"] is True
    # A second call uses the cache: remove the raw files and it still loads.
    for f in (data_dir / "raw" / "usps").iterdir():
        f.unlink()
    assert load_dataset("usps", data_dir, download=False).x_test.shape == (10, 16, 16)


# ------------------------------------------------------------ bad cache files


def _cache(tmp_path, **arrays):
    path = tmp_path / "usps.npz"
    np.savez_compressed(path, **arrays)
    return path


def usps_like(**changes):
    """Valid USPS-shaped cache arrays (3 train, 1 test), with `changes` applied."""
    good = dict(
        x_train=np.zeros((3, 16, 16), np.uint8),
        y_train=np.zeros(3, np.int64),
        x_test=np.zeros((1, 16, 16), np.uint8),
        y_test=np.zeros(1, np.int64),
    )
    return {k: v for k, v in {**good, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    "arrays,needle",
    [
        (usps_like(y_train=None, x_test=None, y_test=None), "missing array"),
        (
            usps_like(x_train=np.zeros((3, 8, 8), np.uint8), x_test=np.zeros((1, 8, 8), np.uint8)),
            "images are (8, 8), expected (16, 16)",
        ),
        (usps_like(x_train=np.zeros((3, 16, 16), np.float32)), "expected uint8 images"),
        (usps_like(y_train=np.array([0, 1, 10])), "labels outside 0..9"),
    ],
)
def test_wrong_shape_files_are_named_in_one_line(tmp_path, arrays, needle):
    path = _cache(tmp_path, **arrays)
    with pytest.raises(DataError) as e:
        read_cache("usps", tmp_path)
    assert needle in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_truncated_and_garbage_files(tmp_path):
    good = _cache(tmp_path, **usps_like())
    read_cache("usps", tmp_path)
    good.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(DataError, match="usps.npz: not a readable dataset file"):
        read_cache("usps", tmp_path)
    good.write_bytes(b"garbage" * 100)
    with pytest.raises(DataError, match="not a readable dataset file"):
        read_cache("usps", tmp_path)


# ------------------------------------------------------------ splits, resize, device data


def test_stratified_split_is_deterministic_and_balanced():
    y = np.repeat(np.arange(20), 72)
    tr, te = split_indices(y, 0.2, seed=0)
    tr2, te2 = split_indices(y, 0.2, seed=0)
    assert np.array_equal(te, te2) and len(te) == 288 and not set(tr) & set(te)
    assert set(np.bincount(y[te]).tolist()) <= {14, 15}
    assert not np.array_equal(te, split_indices(y, 0.2, seed=1)[1])


def test_pose_split_holds_out_the_same_views_of_every_object():
    y = np.repeat(np.arange(20), 72)
    pose = np.tile(np.arange(72), 20)
    tr, te = split_indices(y, 0.2, seed=0, by="pose", pose=pose)
    assert len(te) == 20 * 14 and not set(pose[tr]) & set(pose[te])
    assert np.bincount(y[te]).tolist() == [14] * 20
    with pytest.raises(ValueError, match="needs a dataset with poses"):
        split_indices(y, 0.2, 0, by="pose")


def test_digits_default_split():
    ds = load_dataset("digits")
    assert (len(ds.y_train), len(ds.y_test)) == (1437, 360)
    assert ds.x_train.shape[1:] == (8, 8)


def test_device_data_normalizes_with_train_statistics():
    ds = load_dataset("digits")
    data = DeviceData(ds)
    assert data.in_shape == (1, 8, 8)
    assert data.x_train.mean().abs() < 1e-5 and (data.x_train.std() - 1).abs() < 1e-3
    expect = (torch.from_numpy(ds.x_test).float() - ds.x_train.mean()) / ds.x_train.std()
    assert torch.allclose(data.x_test[:, 0], expect, atol=1e-4)
    gen = torch.Generator().manual_seed(0)
    seen = torch.cat([y for _, y in data.train_batches(128, gen)])
    assert len(seen) == 1437 and torch.equal(seen.sort().values, data.y_train.sort().values)


def test_crop_flip_is_seeded_and_moves_pixels_correctly():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float).view(2, 3, 8, 8) + 1
    a = random_crop_flip(x, torch.Generator().manual_seed(5))
    b = random_crop_flip(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.equal(a, random_crop_flip(x, torch.Generator().manual_seed(6)))
    # Every output is a shifted (possibly flipped) window of the zero-padded input.
    for img, out in zip(x, a, strict=True):
        padded = torch.nn.functional.pad(img, (4, 4, 4, 4))
        found = any(
            torch.equal(win, out) or torch.equal(win.flip(-1), out)
            for dy in range(9)
            for dx in range(9)
            for win in [padded[:, dy : dy + 8, dx : dx + 8]]
        )
        assert found


def test_shift_moves_every_image_by_at_most_two_pixels_and_never_mirrors_it():
    """data.augment = "shift" (digits): a single lit pixel at (row 3, col 1) lands within
    two pixels of where it was, and its left neighbour stays on its left."""
    x = torch.zeros(200, 1, 8, 8)
    x[:, 0, 3, 1], x[:, 0, 3, 2] = 1.0, 2.0
    out = random_crop_flip(x, torch.Generator().manual_seed(0), pad=2, flip=False)
    shifts = set()
    for img in out[:, 0]:
        ones, twos = (img == 1).nonzero(), (img == 2).nonzero()
        if len(ones):  # the pair may be shifted out of the 8x8 window only to the left
            (r, c), (r2, c2) = ones[0].tolist(), twos[0].tolist()
            assert abs(r - 3) <= 2 and abs(c - 1) <= 2 and (r2, c2) == (r, c + 1)
            shifts.add((r - 3, c - 1))
        else:
            assert len(twos) == 0 or twos[0, 1] == 0
    assert len(shifts) > 10  # the offsets do vary


def test_device_data_describes_its_augmentation():
    ds = load_dataset("digits", download=False)
    assert "random shifts of up to 2 pixels" in DeviceData(ds, augment="shift").describe()
    assert "crop + flip" in DeviceData(ds, augment=True).describe()
    assert "augmented" not in DeviceData(ds).describe()


# ------------------------------------------------------------ the real files in ../shared/data

needs_shared = pytest.mark.skipif(
    not (SHARED / "usps.npz").exists(), reason=f"no prepared datasets at {SHARED}"
)


@needs_shared
def test_the_cached_read_only_arrays_become_tensors_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactDataWarning)
        load_dataset("usps", SHARED, download=False)
        ds = load_dataset("usps", SHARED, download=False)  # served from the read-only cache
    assert not ds.x_train.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = DeviceData(ds)
    assert data.y_train.dtype == torch.long and len(data.y_train) == len(ds.y_train)


@needs_shared
def test_shared_usps_counts_and_ranges():
    with pytest.warns(InexactDataWarning, match="not the official release"):
        ds = load_dataset("usps", SHARED, download=False)
    assert ds.x_train.shape == (7291, 16, 16) and ds.x_test.shape == (2007, 16, 16)
    assert np.bincount(ds.y_train).tolist() == [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
    assert np.bincount(ds.y_test).tolist() == [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
    assert ds.x_train.min() == 0 and ds.x_train.max() == 255


@needs_shared
def test_shared_coil20_split_and_resize():
    with pytest.warns(InexactDataWarning):
        ds = load_dataset("coil20", SHARED, download=False, image_size=16)
    assert ds.x_train.shape == (1152, 16, 16) and ds.x_test.shape == (288, 16, 16)
    assert ds.num_classes == 20
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        by_pose = load_dataset("coil20", SHARED, download=False, split="pose", test_fraction=0.5)
    assert len(by_pose.y_test) == 720
    # each load says so (no state kept between calls); the command line shows a note once
    assert [w.category for w in again] == [InexactDataWarning]


@needs_shared
def test_shared_cifar10_shapes_and_meta():
    with pytest.warns(InexactDataWarning, match="LOSSY"):
        ds = load_dataset("cifar10", SHARED, download=False)
    assert ds.x_train.shape == (50000, 32, 32, 3) and ds.x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(ds.y_train).tolist() == [5000] * 10
    assert json.dumps(ds.meta) and ds.meta["lossless"] is False


def _image_folder(root, sizes=None):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True)
        for i in range(20):
            h, w = (sizes or {}).get((c, i), (8, 8))
            x = rng.integers(0, 60, (h, w)).astype(np.uint8) + 150 * c
            Image.fromarray(x).save(root / name / f"{i}.png")
    return root


def test_a_users_npz_and_image_folder_train_like_built_in_sets(tmp_path):
    from plainnet.app.build import make_data
    from plainnet.app.config import resolve

    folder = _image_folder(tmp_path / "imgs")
    x = np.random.default_rng(1).integers(0, 255, (60, 6, 6, 3), dtype=np.uint8)
    y = np.arange(60) % 3
    np.savez(tmp_path / "mine.npz", x_train=x[:45], y_train=y[:45], x_test=x[45:], y_test=y[45:])
    for name, shape, classes in (
        (str(folder), (1, 8, 8), 2),
        (str(tmp_path / "mine.npz"), (3, 6, 6), 3),
    ):
        data = make_data(resolve(overrides=[f"data.dataset={name}"]))
        assert data.in_shape == shape and data.num_classes == classes
        assert not data.augment
        assert len(data.y_train) + len(data.y_val) + len(data.y_test) == (
            40 if classes == 2 else 60
        )


def test_a_users_arrays_in_pytorchs_layout_or_as_floats_are_read_as_images(tmp_path):
    """Channels first (N,C,H,W) and channels last give the same data set; floats are kept."""
    from plainnet.data.datasets import user_arrays

    rng = np.random.default_rng(0)
    last = rng.integers(0, 256, (20, 6, 5, 3), dtype=np.uint8)
    y = np.arange(20) % 2
    layouts = {
        "last": (last, last),
        "first": (np.moveaxis(last, -1, 1), last),  # (N, 3, 6, 5)
        "one-channel-first": (last[:, None, :, :, 0], last[..., 0]),  # (N, 1, 6, 5)
        "one-channel-last": (last[..., :1], last[..., 0]),
        "floats": (last / 255.0, (last / 255.0).astype(np.float32)),
        "int64": (last.astype(np.int64), last),
    }
    for name, (given, expect) in layouts.items():
        np.savez(tmp_path / f"{name}.npz", x=given, y=y)
        x = user_arrays(str(tmp_path / f"{name}.npz"))["x"]
        assert x.dtype == expect.dtype and np.array_equal(x, expect), name


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(x=np.zeros((4, 5, 5), bool), y=np.arange(4) % 2), "expected uint8 images"),
        (dict(x=np.full((4, 5, 5), np.nan), y=np.arange(4) % 2), "x holds NaN or inf"),
        (dict(x=np.zeros((4, 8, 8, 8), np.uint8), y=np.arange(4) % 2), "channels first"),
        (dict(x=np.zeros((4, 3, 8, 3), np.uint8), y=np.arange(4) % 2), "np.moveaxis"),
        (dict(x=np.zeros((4, 5, 5), np.uint8), y=np.array([0, 0, 2, 2])), "classes [1]"),
        (dict(x=np.zeros((4, 5, 5), np.uint8), y=np.array([0, 1, -1, 1])), "outside"),
        (dict(x=np.zeros((4, 5), np.uint8), y=np.arange(4) % 2), "image arrays"),
        (dict(images=np.zeros((4, 5, 5), np.uint8)), "image arrays"),
    ],
)
def test_a_bad_user_dataset_is_one_line(tmp_path, arrays, message):
    from plainnet.data.datasets import DataError, user_arrays

    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=re.escape(message)):
        user_arrays(str(tmp_path / "bad.npz"))


def test_image_folder_with_mixed_sizes_names_the_file(tmp_path):
    from plainnet.data.datasets import DataError, user_arrays

    folder = _image_folder(tmp_path / "imgs", sizes={(1, 3): (9, 8)})
    with pytest.raises(DataError, match="3.png: 8x9 pixels"):
        user_arrays(str(folder))


def test_a_planted_symlink_at_a_temp_name_is_never_followed(tmp_path):
    """Cache and download writes go through fresh, exclusively created temp files."""
    from plainnet.data.datasets import write_cache

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for name in ("coil20.npz.tmp.npz", ".coil20.npz.tmp", "coil20.npz.part"):
        (tmp_path / name).symlink_to(victim)
    write_cache(tmp_path / "coil20.npz", {"x": np.zeros((2, 3, 3), np.uint8)}, {"name": "t"})
    assert victim.read_text() == "keep me"
    assert np.load(tmp_path / "coil20.npz")["x"].shape == (2, 3, 3)


def test_a_run_on_a_training_subset_evaluates_a_stratified_sample_of_validation(monkeypatch):
    """`data.val_subset` "auto": the whole validation split, but at most 1,000 samples when
    training on a subset, balanced over the classes; the training subset does not move."""
    from plainnet.app import build
    from plainnet.app.config import resolve

    def arrays(*overrides):
        return build.load_arrays(resolve(overrides=["data.dataset=digits", *overrides]))

    whole = arrays()
    assert len(whole.y_val) == 144  # no subset: every validation sample
    cut = arrays("data.train_subset=600", "data.val_subset=50")
    assert len(cut.y_val) == 50 and np.bincount(cut.y_val).min() >= 4  # stratified
    assert set(map(bytes, cut.x_val)) <= set(map(bytes, whole.x_val))
    assert (cut.y_train == arrays("data.train_subset=600").y_train).all()
    # "auto" keeps a split smaller than 1,000 whole; 0 always keeps it whole
    assert len(arrays("data.train_subset=600").y_val) == 144
    assert len(arrays("data.train_subset=600", "data.val_subset=0").y_val) == 144
    monkeypatch.setattr(build, "QUICK_VAL", 100)  # a larger split than the cap
    assert len(arrays("data.train_subset=600").y_val) == 100
    assert len(arrays().y_val) == 144


def test_a_stratified_training_subset_keeps_every_class_share():
    """`data.train_subset_by = "stratified"`: the subset holds each class in its share of the
    training split (to one sample), drawn from it, seeded by split_seed; "random" (the
    default) is the seeded permutation it always was."""
    from plainnet.app import build
    from plainnet.app.config import resolve

    def arrays(*overrides):
        return build.load_arrays(resolve(overrides=["data.dataset=digits", *overrides]))

    whole = arrays()
    share = np.bincount(whole.y_train) / len(whole.y_train)
    cut = arrays("data.train_subset=100", "data.train_subset_by=stratified")
    assert len(cut.y_train) == 100
    assert np.abs(np.bincount(cut.y_train, minlength=10) - 100 * share).max() <= 1
    assert set(map(bytes, cut.x_train)) <= set(map(bytes, whole.x_train))
    again = arrays("data.train_subset=100", "data.train_subset_by=stratified")
    assert (again.x_train == cut.x_train).all()
    other = arrays("data.train_subset=100", "data.train_subset_by=stratified", "data.split_seed=1")
    assert not (other.x_train == cut.x_train).all()
    rng = np.random.default_rng(0).permutation(len(whole.y_train))[:100]
    assert (arrays("data.train_subset=100").y_train == whole.y_train[np.sort(rng)]).all()
