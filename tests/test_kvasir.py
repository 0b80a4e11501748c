"""Kvasir-SEG: the card on files in the release layout, the manifest check, the content hash, `alseg data fetch`."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_ARGS, read_records
from PIL import Image
from typer.testing import CliRunner

from alseg.cli import app
from alseg.config import tomllib
from alseg.datasets import DATASETS, load_dataset
from alseg.datasets import kvasir as kvasir_mod
from alseg.datasets import manifest as manifest_mod
from alseg.datasets.detect import detect_dataset
from alseg.datasets.folder import resize_mask
from alseg.datasets.kvasir import (
    CONTENT_KEY,
    RELEASE_SHA256,
    isolated_corner,
    standard_test_names,
)
from alseg.datasets.manifest import Release, cached_content_sha256, check_manifest, content_sha256
from alseg.errors import AlsegUsageError

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "kvasir-seg"
SIZES = [(40, 48), (56, 40), (48, 48), (64, 36)]  # (width, height): several, none square but one
N_TEST, N_TRAIN = 3, 9
STRAYS = {1, 4, 7}  # indices of the generated pairs whose mask has the stray pixel at (0, 0)
CORNER_POLYP = 10  # a pair whose polyp touches (0, 0): foreground there, but not a stray pixel

runner = CliRunner()


def _names() -> list[str]:
    """Names of the generated copy: 3 real standard test names, then 9 made-up train names."""
    tests = sorted(standard_test_names())[:N_TEST]
    return tests + [f"cjtrain{i:03d}xx0000demo.jpg" for i in range(N_TRAIN)]


def _mask(i: int, width: int, height: int) -> np.ndarray:
    """(H, W) uint8 {0, 255}: an ellipse, a corner polyp for CORNER_POLYP, the stray (0, 0) pixel for STRAYS."""
    yy, xx = np.mgrid[:height, :width]
    mask = ((yy - height / 2) / (height / 3)) ** 2 + ((xx - width / 2 - i % 3) / (width / 4)) ** 2 < 1
    if i == CORNER_POLYP:
        mask[: height // 3, : width // 3] = True
    out = mask.astype(np.uint8) * 255
    if i in STRAYS:
        out[0, 0] = 255
    return out


def make_release(parent: Path, names: list[str] | None = None) -> Path:
    """Write parent/Kvasir-SEG/{images,masks}/NAME.jpg: RGB JPEG images of several sizes, 3-channel noisy JPEG masks."""
    names = _names() if names is None else names
    folder = parent / "Kvasir-SEG"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        width, height = SIZES[i % len(SIZES)]
        image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / "images" / name, quality=90)
        grey = _mask(i, width, height).astype(np.int16)
        tint = rng.integers(-3, 4, size=(height, width, 3))  # channels differ slightly, as in the release
        rgb = np.clip(grey[..., None] + tint, 0, 255).astype(np.uint8)
        rgb[0, 0] = (255, 255, 255) if i in STRAYS else rgb[0, 0]
        Image.fromarray(rgb).save(folder / "masks" / name, quality=95)
    return folder


def raw_mask(path: Path) -> np.ndarray:
    """The released binarisation, written out independently of alseg: max channel > 127."""
    return np.asarray(Image.open(path)).max(axis=2) > 127


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated copy in the release layout (read-only use): tmp/Kvasir-SEG/..."""
    parent = tmp_path_factory.mktemp("kvasir")
    folder = make_release(parent)
    for i, name in enumerate(_names()):
        raw = np.asarray(Image.open(folder / "masks" / name))
        assert raw.ndim == 3 and raw.shape[2] == 3 and np.unique(raw).size > 2  # 3-channel and JPEG-noisy
        binary = raw.max(axis=2) > 127
        assert isolated_corner(binary) == (i in STRAYS), name  # the inputs are what the tests say they are
    return parent


def _load(data_dir: Path, cache: Path | None, size: int = 32, **kw: object):
    return load_dataset("kvasir-seg", data_dir=data_dir, image_size=size, cache_dir=cache, **kw)


def independent_hash(folder: Path) -> str:
    """content_sha256 written out from its definition: sorted relative paths, each path then the file's bytes."""
    paths = sorted(f"{sub}/{p.name}" for sub in ("images", "masks") for p in (folder / sub).iterdir())
    return hashlib.sha256(b"".join(p.encode() + (folder / p).read_bytes() for p in paths)).hexdigest()


# ---------------------------------------------------------------- the card on the release layout


def test_the_card_reads_the_release_layout_from_either_folder(release: Path, tmp_path: Path) -> None:
    outer = _load(release, tmp_path / "a")
    inner = _load(release / "Kvasir-SEG", tmp_path / "b")
    assert outer.fingerprint == inner.fingerprint and outer.ids == inner.ids
    names = _names()
    assert outer.name == "kvasir-seg" and set(outer.ids) == {n[:-4] for n in names} and len(outer.ids) == 12
    test_ids = {outer.ids[i] for i in outer.test}
    assert test_ids == {n[:-4] for n in names[:N_TEST]} and len(outer.train) == N_TRAIN
    assert "applied to the 12 of 1000 images present" in outer.split_source
    assert outer.images.shape == (12, 32, 32, 3) and outer.masks.shape == (12, 32, 32)
    for i, stem in enumerate(outer.ids):
        full = raw_mask(release / "Kvasir-SEG" / "masks" / f"{stem}.jpg")
        np.testing.assert_array_equal(outer.masks[i], resize_mask(full, 32), err_msg=stem)


def test_stray_corner_pixels_are_kept_and_counted(release: Path, tmp_path: Path) -> None:
    names = _names()
    stray_names = [names[i] for i in sorted(STRAYS)]
    for size in (32, 128):  # below every source size: lost in resizing; above: still there
        ds = _load(release, tmp_path / str(size), size=size)
        line = next(w for w in ds.warnings if "isolated foreground pixel at (0, 0)" in w)
        survivors = sum(bool(resize_mask(raw_mask(release / "Kvasir-SEG" / "masks" / n), size)[0, 0])
                        for n in stray_names)
        assert line.startswith(f"{len(STRAYS)} masks carry") and f"still foreground in {survivors} of them" in line
        assert all(n in line for n in stray_names) and names[CORNER_POLYP] not in line
        assert f"resized to {size} px" in line
    assert survivors == len(STRAYS)  # at 128 px every stray pixel is kept, as the mask rule reads it
    cached = _load(release, tmp_path / "128", size=128)
    assert cached.warnings == ds.warnings  # the count is stored with the cached arrays


def test_isolated_corner_on_hand_made_masks() -> None:
    mask = np.zeros((4, 5), dtype=bool)
    assert not isolated_corner(mask)
    mask[0, 0] = True
    assert isolated_corner(mask)
    for neighbour in ((0, 1), (1, 0), (1, 1)):
        other = mask.copy()
        other[neighbour] = True
        assert not isolated_corner(other), neighbour
    mask[3, 4] = True  # foreground elsewhere does not matter
    assert isolated_corner(mask)
    assert isolated_corner(np.ones((1, 1), dtype=bool))


def test_a_split_file_replaces_the_standard_split(release: Path, tmp_path: Path) -> None:
    names = _names()
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": names[:8], "test": names[8:]}))
    ds = _load(release, tmp_path / "c", split_file=split)
    assert [ds.ids[i] for i in ds.test] == [n[:-4] for n in names[8:]]
    assert ds.split_source.startswith("split file")
    assert not any("test images are missing" in w for w in ds.warnings)


def test_a_folder_without_the_release_is_refused_with_how_to_get_it(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    for data_dir in (tmp_path / "other", tmp_path / "missing", None):
        with pytest.raises(AlsegUsageError) as info:
            _load(data_dir, None)
        message = str(info.value)
        assert "alseg data fetch kvasir-seg" in message and kvasir_mod.ARCHIVE_URL in message
        assert "--data-dir" in message


# ---------------------------------------------------------------- the manifest check


RELEASE = Release("Demo", 4, ".jpg", frozenset({"t1.jpg", "t2.jpg"}), "get it from X")
COMPLETE = ["a.jpg", "b.jpg", "t1.jpg", "t2.jpg"]


def test_a_complete_copy_has_no_notes() -> None:
    assert check_manifest(RELEASE, COMPLETE, COMPLETE) == []


def test_a_missing_mask_is_refused_naming_the_image() -> None:
    with pytest.raises(AlsegUsageError) as info:
        check_manifest(RELEASE, COMPLETE, ["a.jpg", "t1.jpg", "t2.jpg"])
    message = str(info.value)
    assert "1 image(s) have no mask of the same name: images/b.jpg" in message and "get it from X" in message


def test_an_extra_image_is_named() -> None:
    with pytest.raises(AlsegUsageError, match=r"images/extra\.jpg"):  # without a mask: refused
        check_manifest(RELEASE, [*COMPLETE, "extra.jpg"], COMPLETE)
    with pytest.raises(AlsegUsageError, match=r"masks/lonely\.jpg"):
        check_manifest(RELEASE, COMPLETE, [*COMPLETE, "lonely.jpg"])
    notes = check_manifest(RELEASE, [*COMPLETE, "extra.png"], [*COMPLETE, "extra.png"])  # a pair: warned
    assert notes[0] == ("Demo holds 5 image/mask pairs where the release has 4: results will not compare with "
                        "published ones on the full dataset")
    assert "images/extra.png, masks/extra.png" in notes[1] and "not .jpg files" in notes[1]


def test_a_missing_test_name_is_named() -> None:
    names = ["a.jpg", "b.jpg", "t2.jpg"]
    notes = check_manifest(RELEASE, names, names)
    assert len(notes) == 2 and "3 image/mask pairs where the release has 4" in notes[0]
    assert notes[1].startswith("1 of the 2 standard Demo test images are missing") and "images/t1.jpg" in notes[1]
    assert check_manifest(RELEASE, names, names, check_test_names=False) == notes[:1]  # a split file decides


def test_no_test_name_or_only_test_names_is_refused() -> None:
    with pytest.raises(AlsegUsageError, match="none of the 2 standard Demo test images"):
        check_manifest(RELEASE, ["a.jpg", "b.jpg"], ["a.jpg", "b.jpg"])
    with pytest.raises(AlsegUsageError, match="only standard test images"):
        check_manifest(RELEASE, ["t1.jpg", "t2.jpg"], ["t1.jpg", "t2.jpg"])


@pytest.mark.slow  # the bench command imports torch before it loads the data
def test_the_loader_names_a_missing_mask_and_the_cli_exits_2(tmp_path: Path) -> None:
    folder = make_release(tmp_path / "copy")
    victim = _names()[5]
    (folder / "masks" / victim).unlink()
    with pytest.raises(AlsegUsageError, match=f"images/{re.escape(victim)}"):
        _load(tmp_path / "copy", None)
    result = runner.invoke(app, ["bench", *TINY_ARGS, "--dataset", "kvasir-seg", "--data-dir", str(tmp_path / "copy"),
                                 "--out", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2, result.output
    assert victim in result.output and "Traceback" not in result.output


def test_the_loader_warns_about_a_partial_copy(release: Path, tmp_path: Path) -> None:
    ds = _load(release, tmp_path / "d")
    text = "\n".join(ds.warnings)
    assert "Kvasir-SEG holds 12 image/mask pairs where the release has 1000" in text
    assert "97 of the 100 standard Kvasir-SEG test images are missing" in text


def test_the_packaged_test_names() -> None:
    names = standard_test_names()
    assert len(names) == 100 and all(re.fullmatch(r"[a-z0-9]+\.jpg", n) for n in names)
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "kvasir_test.txt" in package_data["alseg.datasets"]  # shipped in the wheel, not only in the checkout


# ---------------------------------------------------------------- the content hash


def test_content_hash_of_a_two_file_folder(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"\xff\xd8image")
    (tmp_path / "masks" / "a.jpg").write_bytes(b"\xff\xd8mask")
    expected = hashlib.sha256(b"images/a.jpg\xff\xd8imagemasks/a.jpg\xff\xd8mask").hexdigest()
    assert content_sha256(tmp_path, ["masks/a.jpg", "images/a.jpg"]) == expected  # sorted, whatever the order
    assert content_sha256(tmp_path, ["images/a.jpg", "masks/a.jpg"]) == expected
    (tmp_path / "masks" / "a.jpg").write_bytes(b"\xff\xd8mask!")
    assert content_sha256(tmp_path, ["images/a.jpg", "masks/a.jpg"]) != expected


def test_content_hash_is_cached_on_sizes_and_mtimes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "images").mkdir()
    file = tmp_path / "images" / "a.jpg"
    file.write_bytes(b"one")
    first = cached_content_sha256(tmp_path, ["images/a.jpg"], tmp_path / "cache")
    calls = []
    real = manifest_mod.content_sha256
    monkeypatch.setattr(manifest_mod, "content_sha256", lambda *a: calls.append(a) or real(*a))
    assert cached_content_sha256(tmp_path, ["images/a.jpg"], tmp_path / "cache") == first and not calls
    file.write_bytes(b"two")
    os.utime(file, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = cached_content_sha256(tmp_path, ["images/a.jpg"], tmp_path / "cache")
    assert len(calls) == 1 and second == hashlib.sha256(b"images/a.jpgtwo").hexdigest() != first
    for stored in (tmp_path / "cache").rglob("*.json"):
        stored.write_text("{broken")
    assert cached_content_sha256(tmp_path, ["images/a.jpg"], tmp_path / "cache") == second  # recomputed
    assert len(calls) == 2


def test_the_content_hash_is_in_the_manifest_and_a_different_copy_warns(release: Path, tmp_path: Path) -> None:
    ds = _load(release, tmp_path / "e")
    value = independent_hash(release / "Kvasir-SEG")
    assert ds.manifest[CONTENT_KEY] == value != RELEASE_SHA256
    assert len(ds.manifest) == 2 * 12 + 1
    warning = next(w for w in ds.warnings if "content sha256" in w)
    assert value in warning and RELEASE_SHA256 in warning and "different copy" in warning
    assert kvasir_mod.hash_warning(RELEASE_SHA256) == []


@pytest.mark.slow
def test_the_experiment_records_the_content_hash(release: Path, tmp_path: Path) -> None:
    args = [*TINY_ARGS, "--initial", "4", "--budget", "4", "--dataset", "kvasir-seg", "--data-dir", str(release),
            "--out", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), "--name", "kv"]
    result = runner.invoke(app, ["bench", *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "results" / "kv" / "experiment.json").read_text())
    assert info["data_manifest"][CONTENT_KEY] == independent_hash(release / "Kvasir-SEG")
    assert any("different copy" in w for w in info["warnings"])
    assert (info["n_train"], info["n_test"]) == (N_TRAIN, N_TEST)


# ---------------------------------------------------------------- alseg data fetch


def _closed_port() -> int:
    """A local TCP port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fetch_offline_exits_2_with_the_manual_alternative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/kvasir-seg.zip"
    monkeypatch.setattr(kvasir_mod, "ARCHIVE_URL", url)
    start = time.perf_counter()
    result = runner.invoke(app, ["data", "fetch", "kvasir-seg", "--data-root", str(tmp_path / "data")],
                           env={"COLUMNS": "250"})
    assert time.perf_counter() - start < 30
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    text = " ".join(result.output.split())
    assert f"cannot download Kvasir-SEG from {url}" in text and "offline" in text
    assert f"unzip it into {tmp_path / 'data'}" in text and f"--data-dir {tmp_path / 'data'}" in text
    assert not (tmp_path / "data").exists()  # nothing left behind: no folder, no partial archive


@pytest.fixture
def served_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[str]]]:
    """A local HTTP server (not the network) serving tmp/site/kvasir-seg.zip; yields (site folder, request paths)."""
    site = tmp_path / "site"
    site.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(kvasir_mod, "ARCHIVE_URL", f"http://127.0.0.1:{server.server_address[1]}/kvasir-seg.zip")
    try:
        yield site, requests
    finally:
        server.shutdown()
        server.server_close()


def _zip(folder: Path, archive: Path, prefix: str = "Kvasir-SEG") -> None:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}" if prefix else
                     path.relative_to(folder).as_posix())


def test_fetch_downloads_unpacks_and_checks(release: Path, served_zip, tmp_path: Path) -> None:
    site, requests = served_zip
    _zip(release / "Kvasir-SEG", site / "kvasir-seg.zip")
    root = tmp_path / "data"
    result = runner.invoke(app, ["data", "fetch", "kvasir-seg", "--data-root", str(root)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    value = independent_hash(root / "Kvasir-SEG")
    assert value == independent_hash(release / "Kvasir-SEG")
    text = " ".join(result.output.split())
    assert f"12 image/mask pairs, content sha256 {value} (NOT the release's" in text
    assert f"archive sha256 {hashlib.sha256((site / 'kvasir-seg.zip').read_bytes()).hexdigest()}" in text
    assert "97 of the 100 standard Kvasir-SEG test images are missing" in text
    assert f"alseg bench --dataset kvasir-seg --data-dir {root}" in text
    assert requests == ["/kvasir-seg.zip"] and not (root / ".kvasir-seg-unpacking").exists()
    again = runner.invoke(app, ["data", "fetch", "kvasir-seg", "--data-root", str(root)], env={"COLUMNS": "250"})
    assert again.exit_code == 0 and "already in" in again.output and len(requests) == 1  # nothing downloaded
    ds = _load(root, None)
    assert ds.manifest[CONTENT_KEY] == value


def test_fetch_refuses_an_archive_without_the_release(release: Path, served_zip, tmp_path: Path) -> None:
    site, _ = served_zip
    with zipfile.ZipFile(site / "kvasir-seg.zip", "w") as zf:
        zf.writestr("readme.txt", "not the dataset")
    result = runner.invoke(app, ["data", "fetch", "kvasir-seg", "--data-root", str(tmp_path / "data")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "is not the Kvasir-SEG release" in result.output and not (tmp_path / "data" / "Kvasir-SEG").exists()


def test_fetch_of_a_dataset_without_a_download_says_how_to_get_it(tmp_path: Path) -> None:
    cases = {"cvc-clinicdb": "no stable download URL", "synthetic": "generated in memory",
             "folder": "your own images/", "kvasir": "alseg data fetch knows kvasir-seg, cvc-clinicdb"}
    for name, fragment in cases.items():
        result = runner.invoke(app, ["data", "fetch", name, "--data-root", str(tmp_path)], env={"COLUMNS": "250"})
        assert result.exit_code == 2, (name, result.output)
        assert fragment in " ".join(result.output.split()) and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- listing and detection


def test_datasets_shows_licence_and_citation() -> None:
    result = runner.invoke(app, ["datasets"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("kvasir-seg (needs --data-dir):"))
    card = DATASETS["kvasir-seg"]
    assert lines[start + 1] == f"    licence: {card.licence}" and "research and educational use" in card.licence
    assert lines[start + 2] == f"    cite: {card.citation}" and "Kvasir-SEG: A Segmented Polyp Dataset" in card.citation
    assert "alseg data fetch kvasir-seg" in lines[start]
    assert any(line.startswith("    cite: Bernal") for line in lines)  # CVC-ClinicDB's too


def test_detection_of_the_release_layout(release: Path, tmp_path: Path) -> None:
    assert detect_dataset(release)[0] == "kvasir-seg"
    flat = tmp_path / "flat"
    for sub in ("images", "masks"):
        (flat / sub).mkdir(parents=True)
        for name in [*sorted(standard_test_names()), "extra.jpg"]:
            (flat / sub / name).write_bytes(b"")
    name, message = detect_dataset(flat)
    assert name == "kvasir-seg" and "--dataset folder" in message
    (flat / "images" / "extra.jpg").unlink()  # only the 100 test images (e.g. a PraNet test folder): a plain folder
    assert detect_dataset(flat)[0] == "folder"
    assert detect_dataset(release / "Kvasir-SEG")[0] == "folder"  # 3 of the 100 test images only


# ---------------------------------------------------------------- the real copy


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not (REAL / "images").is_dir() or not (REAL / "masks").is_dir(),
                    reason=f"Kvasir-SEG copy not found at {REAL} (images/ + masks/)")
def test_bench_on_the_real_kvasir_seg(tmp_path: Path) -> None:
    split = json.loads((REAL / "splits.json").read_text())
    assert set(split["test"]) == standard_test_names()
    args = [*TINY_ARGS, "--image-size", "64", "--dataset", "kvasir-seg", "--data-dir", str(REAL),
            "--out", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), "--name", "kv"]
    result = runner.invoke(app, ["bench", *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "kvasir-seg: 900 train / 100 test images at 64 px" in result.output
    exp = tmp_path / "results" / "kv"
    info = json.loads((exp / "experiment.json").read_text())
    assert info["data_manifest"][CONTENT_KEY] == RELEASE_SHA256
    assert len(info["data_manifest"]) == 2001
    assert not any("different copy" in w or "image/mask pairs where" in w for w in info["warnings"])
    assert any(w.startswith("143 masks carry a single isolated foreground pixel at (0, 0)") for w in info["warnings"])
    train_ids = {Path(n).stem for n in split["train"]}
    r0, r1 = read_records(exp / "runs" / "random" / "seed-0.jsonl")
    assert r0["dataset"] == "kvasir-seg" and (r0["n_labeled"], r1["n_labeled"]) == (6, 10)
    assert set(r0["added"]) | set(r1["added"]) <= train_ids


def test_a_presets_cvc_folder_is_not_handed_to_kvasir_seg():
    from alseg.config import resolve_config

    assert resolve_config({"preset": "cpu", "dataset": "kvasir-seg"}).data_dir is None
    assert resolve_config({"preset": "cpu"}).data_dir == "datasets/cvc-clinicdb"
