"""Tests of alseg.datasets: synthetic generator, folder and CVC-ClinicDB readers, split files, cache."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from alseg.datasets import DATASETS, SegDataset, list_datasets, load_dataset
from alseg.datasets import folder as folder_mod
from alseg.datasets.cache import CacheWarning, cache_folder
from alseg.datasets.cvc import TEST_FRAMES
from alseg.errors import AlsegUsageError

REAL_CVC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cvc-clinicdb"
W, H = 40, 30


def _pixels(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One random RGB image and a 0/255 mask with a rectangle plus stray grey values."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[5 + seed % 5 : 20, 8 : 25 + seed % 7] = 255
    mask[0, 0] = 100  # below the threshold: background
    mask[0, 1] = 200  # above the threshold: foreground
    return image, mask


def make_png(root: Path, stems: list[str], *, image_ext: str = ".png", mask_ext: str = ".png") -> Path:
    """Write an images/ + masks/ fixture with Pillow."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for stem in stems:
        image, mask = _pixels(int(stem) if stem.isdigit() else len(stem))
        Image.fromarray(image).save(root / "images" / f"{stem}{image_ext}")
        Image.fromarray(mask).save(root / "masks" / f"{stem}{mask_ext}")
    return root


def make_tiff(root: Path, stems: list[str]) -> Path:
    """Write the original release layout: 3x8-bit chunky BlackIsZero TIFFs, masks with 3 channels too."""
    (root / "Original").mkdir(parents=True)
    (root / "Ground Truth").mkdir()
    for stem in stems:
        image, mask = _pixels(int(stem))
        tifffile.imwrite(root / "Original" / f"{stem}.tif", image, photometric="minisblack", planarconfig="contig")
        mask3 = np.repeat(mask[..., None], 3, axis=2)
        tifffile.imwrite(root / "Ground Truth" / f"{stem}.tif", mask3, photometric="minisblack", planarconfig="contig")
    return root


CVC_STEMS = ["10", "11", "12", "13", "14", "15", "20", "21", "9"]


def _load(name: str, data_dir: Path | None, cache: Path, **kw: object) -> SegDataset:
    return load_dataset(name, data_dir=data_dir, image_size=32, cache_dir=cache, **kw)


# ---------------------------------------------------------------- registry


def test_registry_order_and_cards() -> None:
    assert list(DATASETS) == ["synthetic", "cvc-clinicdb", "folder", "kvasir-seg"]
    cards = list_datasets()
    assert [c.name for c in cards] == list(DATASETS)
    assert [c.needs_data_dir for c in cards] == [False, True, True, True]
    assert all(c.description and "\n" not in c.description for c in cards)


def test_unknown_dataset_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(AlsegUsageError) as info:
        _load("kvasir", None, tmp_path)
    assert "kvasir" in str(info.value)
    for name in DATASETS:
        assert name in str(info.value)


def test_bad_image_size(tmp_path: Path) -> None:
    with pytest.raises(AlsegUsageError, match="image size"):
        load_dataset("synthetic", data_dir=None, image_size=0, cache_dir=tmp_path)


# ---------------------------------------------------------------- synthetic


def test_synthetic_shapes_split_and_foreground(tmp_path: Path) -> None:
    start = time.perf_counter()
    ds = load_dataset("synthetic", data_dir=None, image_size=64, cache_dir=tmp_path)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"generating 360 images at 64 px took {elapsed:.1f} s"
    assert ds.name == "synthetic"
    assert ds.images.shape == (360, 64, 64, 3) and ds.images.dtype == np.uint8
    assert ds.masks.shape == (360, 64, 64) and ds.masks.dtype == np.bool_
    assert ds.ids[0] == "syn-00000" and len(set(ds.ids)) == 360
    np.testing.assert_array_equal(ds.train, np.arange(300))
    np.testing.assert_array_equal(ds.test, np.arange(300, 360))
    assert ds.train.dtype == np.int64 and ds.test.dtype == np.int64
    assert "seed=0" in ds.split_source
    fg = ds.masks.mean(axis=(1, 2))
    assert (fg > 0.005).mean() > 0.95
    assert 0.03 < float(np.median(fg)) < 0.3
    assert fg.max() < 0.6
    assert ds.images.std() > 10  # not flat
    assert not list(tmp_path.iterdir()), "synthetic data must not be cached"


def test_synthetic_deterministic_and_seeded() -> None:
    a = load_dataset("synthetic", data_dir=None, image_size=32, cache_dir=Path("unused"), seed=3)
    b = load_dataset("synthetic", data_dir=None, image_size=32, cache_dir=Path("unused"), seed=3)
    c = load_dataset("synthetic", data_dir=None, image_size=32, cache_dir=Path("unused"), seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert a.fingerprint == b.fingerprint
    assert not np.array_equal(a.images, c.images)
    assert a.fingerprint != c.fingerprint
    assert not a.images.flags.writeable


def test_synthetic_counts_and_hard_cases() -> None:
    from alseg.datasets.synthetic import load_synthetic

    ds = load_synthetic(image_size=48, n_train=20, n_test=5, seed=1)
    assert ds.images.shape == (25, 48, 48, 3)
    assert ds.train.size == 20 and ds.test.size == 5
    # Contrast between polyp and mucosa varies: some images are much harder than others.
    contrast = []
    for img, m in zip(ds.images.astype(float), ds.masks, strict=True):
        contrast.append(np.abs(img[m].mean(axis=0) - img[~m].mean(axis=0)).sum())
    assert max(contrast) > 3 * min(contrast)


# ---------------------------------------------------------------- cvc-clinicdb


def test_cvc_png_layout(tmp_path: Path) -> None:
    root = make_png(tmp_path / "cvc", CVC_STEMS)
    seen: list[tuple[int, int]] = []
    ds = load_dataset(
        "cvc-clinicdb",
        data_dir=root,
        image_size=16,
        cache_dir=tmp_path / "cache",
        progress=lambda d, t: seen.append((d, t)),
    )
    assert ds.ids == ("9", "10", "11", "12", "13", "14", "15", "20", "21")  # natural order
    assert [ds.ids[i] for i in ds.test] == ["14", "21"]
    assert [ds.ids[i] for i in ds.train] == ["9", "10", "11", "12", "13", "15", "20"]
    assert ds.images.shape == (9, 16, 16, 3) and ds.masks.shape == (9, 16, 16)
    assert ds.masks.dtype == np.bool_ and ds.masks.any(axis=(1, 2)).all()
    assert "9 of 612" in ds.split_source
    assert seen[-1] == (9, 9)


def test_cvc_tiff_layout_matches_png(tmp_path: Path) -> None:
    make_tiff(tmp_path / "tif", CVC_STEMS)
    make_png(tmp_path / "png", CVC_STEMS)
    with pytest.raises(OSError):  # Pillow cannot read the release's TIFFs: the reason tifffile is needed
        Image.open(tmp_path / "tif" / "Original" / "14.tif").load()
    tif = load_dataset("cvc-clinicdb", data_dir=tmp_path / "tif", image_size=W, cache_dir=tmp_path / "c")
    png = load_dataset("cvc-clinicdb", data_dir=tmp_path / "png", image_size=W, cache_dir=tmp_path / "c")
    assert tif.ids == png.ids
    np.testing.assert_array_equal(tif.images, png.images)
    np.testing.assert_array_equal(tif.masks, png.masks)
    np.testing.assert_array_equal(tif.test, png.test)
    assert tif.fingerprint != png.fingerprint  # different source bytes


def test_mask_binarisation_at_source_size(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", ["1", "2", "14"])
    mask = folder_mod.decode_mask(root / "masks" / "1.png")
    _, raw = _pixels(1)
    np.testing.assert_array_equal(mask, raw > 127)
    assert not mask[0, 0] and mask[0, 1]


@pytest.mark.parametrize("kind", ["none", "missing", "empty", "wrong-layout"])
def test_cvc_missing_data_explains_how_to_get_it(tmp_path: Path, kind: str) -> None:
    dirs = {"none": None, "missing": tmp_path / "nope", "empty": tmp_path, "wrong-layout": tmp_path}
    data_dir: Path | None = dirs[kind]
    if kind == "wrong-layout":
        (tmp_path / "stuff").mkdir()
    with pytest.raises(AlsegUsageError) as info:
        load_dataset("cvc-clinicdb", data_dir=data_dir, image_size=32, cache_dir=tmp_path / "cache")
    msg = str(info.value)
    assert "no stable download URL" in msg and "--data-dir" in msg
    assert "Ground Truth/" in msg and "images/ + masks/" in msg
    assert "research and educational" in msg
    if kind == "missing":
        assert "nope" in msg


def test_cvc_without_test_frames_is_an_error(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", ["1", "2", "3"])
    with pytest.raises(AlsegUsageError, match="test frames"):
        _load("cvc-clinicdb", root, tmp_path / "c")


def test_cvc_split_constant() -> None:
    assert len(TEST_FRAMES) == 62 and 14 in TEST_FRAMES and 575 in TEST_FRAMES


# ---------------------------------------------------------------- folder


def test_folder_seeded_split_and_mixed_extensions(tmp_path: Path) -> None:
    stems = [f"img{i}" for i in range(12)]
    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, stem in enumerate(stems):
        image, mask = _pixels(i)
        Image.fromarray(image).save(root / "images" / f"{stem}{'.jpg' if i % 2 else '.png'}")
        Image.fromarray(mask).save(root / "masks" / f"{stem}.bmp")
    (root / "images" / "notes.txt").write_text("ignored")
    a = _load("folder", root, tmp_path / "c", seed=0)
    b = _load("folder", root, tmp_path / "c", seed=0)
    assert a.ids[:3] == ("img0", "img1", "img2") and a.ids[-1] == "img11"
    assert a.test.size == 1 and a.train.size == 11
    np.testing.assert_array_equal(a.test, b.test)
    assert a.split_source == "seeded random split: seed=0, test fraction 0.1"
    tests = {int(_load("folder", root, tmp_path / "c", seed=s).test[0]) for s in range(8)}
    assert len(tests) > 1


def test_folder_json_split(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", [str(i) for i in range(1, 9)])
    (root / "split.json").write_text(json.dumps({"train": ["1.png", "2", "3", "4", "5", "6"], "test": ["7.png", "8"]}))
    ds = _load("folder", root, tmp_path / "c")
    assert [ds.ids[i] for i in ds.test] == ["7", "8"]
    assert ds.train.size == 6
    assert "split.json" in ds.split_source


def test_folder_csv_split_and_explicit_file(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", [str(i) for i in range(1, 7)])
    (root / "split.csv").write_text("id,split\n1,train\n2,train\n3,train\n4,train\n5.png,test\n6,test\n")
    ds = _load("folder", root, tmp_path / "c")
    assert [ds.ids[i] for i in ds.test] == ["5", "6"]
    other = tmp_path / "mine.json"
    other.write_text(json.dumps({"train": ["2", "3"], "test": ["1"]}))
    ds2 = _load("folder", root, tmp_path / "c", split_file=other)
    assert [ds2.ids[i] for i in ds2.test] == ["1"] and ds2.train.tolist() == [1, 2]
    assert "mine.json" in ds2.split_source and "3 image(s) in neither split" in ds2.split_source
    assert ds2.fingerprint == ds.fingerprint  # the split is not part of the content


def test_folder_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(AlsegUsageError, match="nope"):
        _load("folder", tmp_path / "nope", tmp_path / "c")
    with pytest.raises(AlsegUsageError, match="--data-dir"):
        _load("folder", None, tmp_path / "c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AlsegUsageError, match="images/"):
        _load("folder", tmp_path / "empty", tmp_path / "c")
    (tmp_path / "empty" / "images").mkdir()
    (tmp_path / "empty" / "masks").mkdir()
    with pytest.raises(AlsegUsageError, match="no image files"):
        _load("folder", tmp_path / "empty", tmp_path / "c")


def test_folder_unmatched_names(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", [str(i) for i in range(1, 5)])
    for i in range(20, 32):  # 12 images without masks: 10 named, then "and 2 more"
        Image.fromarray(_pixels(i)[0]).save(root / "images" / f"{i}.png")
    Image.fromarray(_pixels(9)[1]).save(root / "masks" / "orphan.png")
    (root / "images" / "1.png").unlink()
    with pytest.raises(AlsegUsageError) as info:
        _load("folder", root, tmp_path / "c")
    msg = str(info.value)
    assert "20.png" in msg and "29.png" in msg and "and 2 more" in msg
    assert "have no image: 1.png, orphan.png" in msg  # masks/1.png lost its image


def test_folder_undecodable_file(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", [str(i) for i in range(1, 5)])
    (root / "images" / "3.png").write_bytes(b"not a png at all")
    with pytest.raises(AlsegUsageError) as info:
        _load("folder", root, tmp_path / "c")
    assert "3.png" in str(info.value) and "decode" in str(info.value)


def test_folder_size_mismatch(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", [str(i) for i in range(1, 5)])
    Image.fromarray(np.zeros((H, W + 1), dtype=np.uint8)).save(root / "masks" / "2.png")
    with pytest.raises(AlsegUsageError) as info:
        _load("folder", root, tmp_path / "c")
    msg = str(info.value)
    assert "2.png" in msg and f"{W + 1}x{H}" in msg and f"{W}x{H}" in msg


def test_split_file_unknown_ids_and_overlap(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", [str(i) for i in range(1, 5)])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": ["1", "2", "ghost.png"], "test": ["3"]}))
    with pytest.raises(AlsegUsageError, match=r"ghost\.png"):
        _load("folder", root, tmp_path / "c", split_file=bad)
    both = tmp_path / "both.csv"
    both.write_text("id,split\n1,train\n2,test\n2,train\n")
    with pytest.raises(AlsegUsageError, match="both train and test"):
        _load("folder", root, tmp_path / "c", split_file=both)
    with pytest.raises(AlsegUsageError, match="not found"):
        _load("folder", root, tmp_path / "c", split_file=tmp_path / "absent.json")


# ---------------------------------------------------------------- cache


def test_cache_hit_skips_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_png(tmp_path / "d", CVC_STEMS)
    first = _load("cvc-clinicdb", root, tmp_path / "c")
    folder = cache_folder(tmp_path / "c", "cvc-clinicdb", 32, first.fingerprint)
    assert {p.name for p in folder.iterdir()} == {"images.npy", "masks.npy", "meta.json"}

    def boom(path: Path) -> np.ndarray:
        raise AssertionError(f"decoded {path} despite a valid cache")

    monkeypatch.setattr(folder_mod, "read_image", boom)  # the decoders load_pair calls
    monkeypatch.setattr(folder_mod, "read_mask", boom)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = _load("cvc-clinicdb", root, tmp_path / "c")
    assert isinstance(second.images, np.memmap) and not second.images.flags.writeable
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.masks, second.masks)
    assert second.fingerprint == first.fingerprint


@pytest.mark.parametrize("damage", ["corrupt-images", "missing-masks", "bad-meta"])
def test_damaged_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    root = make_png(tmp_path / "d", CVC_STEMS)
    first = _load("cvc-clinicdb", root, tmp_path / "c")
    folder = cache_folder(tmp_path / "c", "cvc-clinicdb", 32, first.fingerprint)
    if damage == "corrupt-images":
        data = bytearray((folder / "images.npy").read_bytes())
        data[-5] ^= 0xFF
        (folder / "images.npy").write_bytes(bytes(data))
    elif damage == "missing-masks":
        (folder / "masks.npy").unlink()
    else:
        (folder / "meta.json").write_text("{not json")
    with pytest.warns(CacheWarning, match="rebuild"):
        again = _load("cvc-clinicdb", root, tmp_path / "c")
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.masks, again.masks)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third = _load("cvc-clinicdb", root, tmp_path / "c")  # repaired: no warning now
    assert isinstance(third.images, np.memmap)


def test_fingerprint_follows_source_and_size(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", CVC_STEMS)
    base = _load("cvc-clinicdb", root, tmp_path / "c").fingerprint
    assert load_dataset("cvc-clinicdb", data_dir=root, image_size=24, cache_dir=tmp_path / "c").fingerprint != base
    image = np.asarray(Image.open(root / "images" / "12.png")).copy()
    image[0, 0] ^= 1
    Image.fromarray(image).save(root / "images" / "12.png")
    edited = _load("cvc-clinicdb", root, tmp_path / "c")
    assert edited.fingerprint != base
    assert edited.images.dtype == np.uint8
    make_png(tmp_path / "extra", ["22"])
    for sub in ("images", "masks"):
        (tmp_path / "extra" / sub / "22.png").rename(root / sub / "22.png")
    added = _load("cvc-clinicdb", root, tmp_path / "c")
    assert added.fingerprint not in (base, edited.fingerprint) and len(added.ids) == 10


def test_unwritable_cache_falls_back(tmp_path: Path) -> None:
    root = make_png(tmp_path / "d", CVC_STEMS)
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with pytest.warns(CacheWarning, match="without a cache"):
        ds = _load("cvc-clinicdb", root, blocker)
    assert ds.images.shape == (9, 32, 32, 3)


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_cvc_clinicdb(tmp_path: Path) -> None:
    if not (REAL_CVC / "images").is_dir():
        pytest.skip(f"real CVC-ClinicDB copy not found at {REAL_CVC} (a shared folder beside the repo)")
    ds = load_dataset("cvc-clinicdb", data_dir=REAL_CVC, image_size=32, cache_dir=tmp_path)
    assert len(ds.ids) == 612 and ds.train.size == 550 and ds.test.size == 62
    assert "14" in {ds.ids[i] for i in ds.test} and "1" in {ds.ids[i] for i in ds.train}
    assert ds.ids[:3] == ("1", "2", "3")
    assert ds.masks.any(axis=(1, 2)).all()
    splits = REAL_CVC / "splits.json"
    if splits.is_file():
        listed = json.loads(splits.read_text())["test"]
        assert {Path(n).stem for n in listed} == {ds.ids[i] for i in ds.test}
