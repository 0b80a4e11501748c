"""Read any `images/` + `masks/` folder (and, through shared helpers, CVC-ClinicDB) into a SegDataset."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np
import tifffile
from PIL import Image

from alseg.datasets.base import SegDataset, check_image_size, readonly
from alseg.datasets.cache import MANIFEST_DIGITS, fingerprint_files, load_or_build
from alseg.errors import AlsegUsageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
SPLIT_FILE_NAMES = ("split.json", "split.csv", "splits.json")
TEST_FRACTION = 0.1
_MAX_LISTED = 10
_TIFF_EXTENSIONS = (".tif", ".tiff")


@dataclass(frozen=True)
class Pair:
    """One image file and its mask file, under a shared id (the file stem)."""

    id: str
    image: Path
    mask: Path


def natural_key(text: str) -> tuple:
    """Sort key that orders "2" before "10" and "img9" before "img10"."""
    parts = re.split(r"(\d+)", text)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), text


def name_some(items: Sequence[str], limit: int = _MAX_LISTED) -> str:
    """Join up to `limit` names, then say how many more, so error messages stay short."""
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def find_subdir(root: Path, name: str) -> Path | None:
    """Find a subfolder by name, ignoring case ("Ground Truth" vs "ground truth")."""
    exact = root / name
    if exact.is_dir():
        return exact
    try:
        for child in sorted(root.iterdir()):
            if child.is_dir() and child.name.lower() == name.lower():
                return child
    except OSError:
        return None
    return None


def _list_files(folder: Path) -> dict[str, Path]:
    """Map stem -> image file in one folder, skipping hidden files and other extensions."""
    by_stem: dict[str, list[Path]] = {}
    for path in folder.iterdir():
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        by_stem.setdefault(path.stem, []).append(path)
    clashes = sorted((stem for stem, paths in by_stem.items() if len(paths) > 1), key=natural_key)
    if clashes:
        examples = [" and ".join(p.name for p in sorted(by_stem[s])) for s in clashes]
        raise AlsegUsageError(
            f"{folder} holds several files with the same name stem ({name_some(examples)}): keep one file per stem"
        )
    return {stem: paths[0] for stem, paths in by_stem.items()}


def scan_pairs(image_dir: Path, mask_dir: Path) -> list[Pair]:
    """Match image and mask files by stem, in natural order, naming any file left without a partner."""
    images = _list_files(image_dir)
    masks = _list_files(mask_dir)
    exts = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
    if not images:
        raise AlsegUsageError(f"no image files ({exts}) in {image_dir}: put the images there")
    if not masks:
        raise AlsegUsageError(f"no mask files ({exts}) in {mask_dir}: put one mask per image there")
    problems = []
    lonely_images = sorted(set(images) - set(masks), key=natural_key)
    lonely_masks = sorted(set(masks) - set(images), key=natural_key)
    if lonely_images:
        names = [images[s].name for s in lonely_images]
        problems.append(f"{len(names)} image(s) in {image_dir} have no mask: {name_some(names)}")
    if lonely_masks:
        names = [masks[s].name for s in lonely_masks]
        problems.append(f"{len(names)} mask(s) in {mask_dir} have no image: {name_some(names)}")
    if problems:
        raise AlsegUsageError(
            "; ".join(problems) + ". Images and masks are matched by file name without extension; "
            "add or remove files so that every image has exactly one mask"
        )
    return [Pair(stem, images[stem], masks[stem]) for stem in sorted(images, key=natural_key)]


def _planar_to_last(arr: np.ndarray) -> np.ndarray:
    """Turn a (C, H, W) planar array into (H, W, C); leave others alone."""
    if arr.ndim == 3 and arr.shape[0] in (1, 2, 3, 4) and arr.shape[-1] not in (1, 2, 3, 4):
        return np.moveaxis(arr, 0, -1)
    return arr


def _read_array(path: Path, *, mask: bool) -> np.ndarray:
    """Read pixels with tifffile for TIFFs (Pillow cannot read the CVC release) and Pillow otherwise."""
    if path.suffix.lower() in _TIFF_EXTENSIONS:
        try:
            return np.asarray(tifffile.imread(path, key=0))
        except Exception:
            pass  # fall back to Pillow, which reads some TIFF flavours that tifffile rejects
    with Image.open(path) as im:
        im.load()
        keep = ("1", "L", "LA", "RGB", "RGBA", "I", "I;16", "F") + (("P",) if mask else ())
        if im.mode not in keep:
            im = im.convert("L" if mask else "RGB")
        return np.asarray(im)


def decode_image(path: Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8; grey and 16-bit images are converted."""
    try:
        arr = _planar_to_last(_read_array(path, mask=False))
    except Exception as exc:
        raise AlsegUsageError(f"cannot decode image {path} ({exc}): replace or remove the file") from exc
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise AlsegUsageError(f"image {path} has unsupported shape {arr.shape}: save it as RGB or grey")
    if arr.shape[2] < 3:
        arr = np.repeat(arr[..., :1], 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(arr)) <= 1.0 else 1.0
        arr = np.clip(np.nan_to_num(arr) * scale, 0, 255).round()
    elif arr.dtype != np.uint8 and arr.size and int(arr.max()) > 255:
        arr = arr / np.iinfo(arr.dtype).max * 255.0
    return np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8))


def binarise_mask(arr: np.ndarray) -> np.ndarray:
    """Foreground is > 127; masks that only hold 0 and 1 (label maps) count 1 as foreground."""
    if arr.dtype == np.bool_:
        return arr
    top = float(np.nanmax(arr)) if arr.size else 0.0
    if top <= 1.0:
        return arr > (0.5 if arr.dtype.kind == "f" else 0)
    return arr > 127


def decode_mask(path: Path) -> np.ndarray:
    """Decode a mask file to (H, W) bool; multi-channel masks use their first channel."""
    try:
        arr = _planar_to_last(_read_array(path, mask=True))
    except Exception as exc:
        raise AlsegUsageError(f"cannot decode mask {path} ({exc}): replace or remove the file") from exc
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise AlsegUsageError(f"mask {path} has unsupported shape {arr.shape}: save it as a grey image")
    return binarise_mask(arr)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize (H, W, 3) uint8 to (size, size, 3) with bilinear filtering (antialiased when shrinking)."""
    if image.shape[:2] == (size, size):
        return image
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize a bool mask as float with bilinear filtering and threshold at 0.5, so it stays binary."""
    if mask.shape == (size, size):
        return mask
    resized = Image.fromarray(mask.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized) >= 0.5


def load_pair(pair: Pair, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode, check and resize one image/mask pair."""
    image = decode_image(pair.image)
    mask = decode_mask(pair.mask)
    if image.shape[:2] != mask.shape:
        (ih, iw), (mh, mw) = image.shape[:2], mask.shape
        raise AlsegUsageError(
            f"mask {pair.mask} is {mw}x{mh} but its image {pair.image} is {iw}x{ih}: "
            "masks must match their images pixel for pixel; fix or remove this pair"
        )
    return resize_image(image, size), resize_mask(mask, size)


def decode_pairs(
    pairs: Sequence[Pair], size: int, progress: Callable[[int, int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode all pairs into stacked arrays, a few threads at a time (decoding releases the GIL)."""
    n = len(pairs)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=bool)
    workers = max(1, min(8, os.cpu_count() or 1, n))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, (image, mask) in enumerate(pool.map(lambda p: load_pair(p, size), pairs)):
            images[i], masks[i] = image, mask
            if progress is not None:
                progress(i + 1, n)
    return images, masks


def read_folder_arrays(
    name: str,
    root: Path,
    pairs: Sequence[Pair],
    image_size: int,
    cache_dir: Path | None,
    progress: Callable[[int, int], None] | None,
    manifest: dict[str, str] | None = None,
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, str]:
    """Fingerprint the source files and return (ids, images, masks, fingerprint), via the cache.

    `manifest`, when given, is filled with each source file's name (relative to root) -> short sha256.
    """
    ids = tuple(p.id for p in pairs)
    files: list[Path] = []
    for pair in pairs:
        files += [pair.image, pair.mask]
    try:
        fingerprint = fingerprint_files(root, files, image_size, manifest)
    except OSError as exc:
        raise AlsegUsageError(f"cannot read {exc.filename} ({exc.strerror}): check the file's permissions") from exc
    images, masks = load_or_build(
        cache_dir=Path(cache_dir) if cache_dir is not None else None,
        dataset=name,
        image_size=image_size,
        fingerprint=fingerprint,
        ids=ids,
        build=lambda: decode_pairs(pairs, image_size, progress),
    )
    return ids, readonly(images), readonly(masks), fingerprint


def add_split_to_manifest(manifest: dict[str, str], root: Path, split_path: Path | None) -> dict[str, str]:
    """Add the split file (relative to root when inside it) to a data manifest; returns the manifest."""
    if split_path is not None:
        try:
            name = split_path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            name = str(split_path.resolve())
        manifest[name] = hashlib.sha256(split_path.read_bytes()).hexdigest()[:MANIFEST_DIGITS]
    return manifest


def _resolve_entries(entries: Iterable[object], ids: dict[str, int]) -> tuple[list[int], list[str]]:
    """Map split-file entries (ids, file names or relative paths) to indices; collect unknown ones."""
    found, unknown = [], []
    for entry in entries:
        text = str(entry).strip()
        name = PurePath(text.replace("\\", "/")).name
        stem = PurePath(name).stem if PurePath(name).suffix.lower() in IMAGE_EXTENSIONS else name
        for candidate in (text, name, stem):
            if candidate in ids:
                found.append(ids[candidate])
                break
        else:
            unknown.append(text)
    return found, unknown


def _parse_split_file(path: Path) -> tuple[list[object], list[object]]:
    """Read train and test entries from a JSON ({"train": [...], "test": [...]}) or CSV (id,split) file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise AlsegUsageError(f"cannot read split file {path} ({exc.strerror}): check the path") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise AlsegUsageError(f"split file {path} is not valid JSON ({exc}): fix the file") from exc
        if not (isinstance(data, dict) and isinstance(data.get("train"), list) and isinstance(data.get("test"), list)):
            raise AlsegUsageError(f'split file {path} must be a JSON object {{"train": [...], "test": [...]}}')
        return data["train"], data["test"]
    if path.suffix.lower() == ".csv":
        rows = csv.DictReader(text.splitlines())
        header = [h.strip().lower() for h in (rows.fieldnames or [])]
        if "id" not in header or "split" not in header:
            raise AlsegUsageError(f"split file {path} needs a header line with columns id,split")
        rows.fieldnames = header
        train, test = [], []
        for line, row in enumerate(rows, start=2):
            which = (row.get("split") or "").strip().lower()
            if which not in ("train", "test"):
                raise AlsegUsageError(
                    f"split file {path}, line {line}: split must be train or test, got {row.get('split')!r}"
                )
            (train if which == "train" else test).append(row.get("id") or "")
        return train, test
    raise AlsegUsageError(f"split file {path} must end in .json or .csv")


def split_from_file(path: Path, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """Build train/test indices from a split file; unknown or doubly-listed ids are errors."""
    index = {id_: i for i, id_ in enumerate(ids)}
    train_entries, test_entries = _parse_split_file(path)
    train, unknown_train = _resolve_entries(train_entries, index)
    test, unknown_test = _resolve_entries(test_entries, index)
    unknown = unknown_train + unknown_test
    if unknown:
        raise AlsegUsageError(
            f"split file {path} names {len(unknown)} id(s) not found in the dataset: {name_some(unknown)}. "
            "Use file names or stems of files present in images/"
        )
    both = sorted(set(train) & set(test))
    if both:
        raise AlsegUsageError(
            f"split file {path} puts {len(both)} id(s) in both train and test: "
            f"{name_some([ids[i] for i in both])}. List each id once"
        )
    if not train or not test:
        raise AlsegUsageError(f"split file {path} must list at least one train and one test id")
    train_idx = np.unique(np.asarray(train, dtype=np.int64))
    test_idx = np.unique(np.asarray(test, dtype=np.int64))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    source = f"split file {path} (sha256 {digest})"
    unused = len(ids) - train_idx.size - test_idx.size
    if unused:
        source += f"; {unused} image(s) in neither split, unused"
    return train_idx, test_idx, source


def seeded_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Random split with TEST_FRACTION (at least one) held out, reproducible from the seed."""
    if n < 2:
        raise AlsegUsageError("a dataset needs at least 2 image/mask pairs to split into train and test")
    n_test = min(n - 1, max(1, round(n * TEST_FRACTION)))
    order = np.random.default_rng(seed).permutation(n)
    test = np.sort(order[:n_test]).astype(np.int64)
    train = np.sort(order[n_test:]).astype(np.int64)
    return train, test, f"seeded random split: seed={seed}, test fraction {TEST_FRACTION}"


def find_split_file(root: Path) -> Path | None:
    """Look for split.json / split.csv / splits.json in the dataset folder; more than one is ambiguous."""
    found = [root / name for name in SPLIT_FILE_NAMES if (root / name).is_file()]
    if len(found) > 1:
        raise AlsegUsageError(
            f"{root} holds several split files ({', '.join(p.name for p in found)}): "
            "keep one, or choose one with the split file option"
        )
    return found[0] if found else None


def check_split_file(split_file: Path | str) -> Path:
    """Resolve a user-given split file path, failing early when it does not exist."""
    path = Path(split_file).expanduser()
    if not path.is_file():
        raise AlsegUsageError(f"split file {path} not found: check the path")
    return path


def load_folder(
    *,
    data_dir: Path | None,
    image_size: int,
    cache_dir: Path | None,
    seed: int = 0,
    split_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SegDataset:
    """Load a generic images/ + masks/ folder with an optional split file or a seeded split."""
    size = check_image_size(image_size)
    if data_dir is None:
        raise AlsegUsageError("the folder dataset needs --data-dir PATH: a folder holding images/ and masks/")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise AlsegUsageError(f"data folder {root} does not exist: pass --data-dir PATH holding images/ and masks/")
    image_dir, mask_dir = find_subdir(root, "images"), find_subdir(root, "masks")
    if image_dir is None or mask_dir is None:
        missing = " and ".join(n for n, d in (("images/", image_dir), ("masks/", mask_dir)) if d is None)
        raise AlsegUsageError(
            f"data folder {root} has no {missing} subfolder: put images in {root / 'images'} "
            f"and masks with the same file names in {root / 'masks'}"
        )
    split_path = check_split_file(split_file) if split_file is not None else find_split_file(root)
    pairs = scan_pairs(image_dir, mask_dir)
    # Split before decoding, so that a bad split file fails in a fraction of a second.
    if split_path is not None:
        train, test, source = split_from_file(split_path, [p.id for p in pairs])
    else:
        train, test, source = seeded_split(len(pairs), seed)
    manifest: dict[str, str] = {}
    ids, images, masks, fingerprint = read_folder_arrays("folder", root, pairs, size, cache_dir, progress, manifest)
    return SegDataset(
        name="folder",
        ids=ids,
        images=images,
        masks=masks,
        train=train,
        test=test,
        fingerprint=fingerprint,
        split_source=source,
        manifest=add_split_to_manifest(manifest, root, split_path),
    )
