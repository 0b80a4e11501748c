"""Read any `images/` + `masks/` folder (and, through shared helpers, CVC-ClinicDB) into a SegDataset.

Decoding rules live in `alseg.datasets.decode`; this module finds the files, checks split files, and
stacks, resizes and caches the decoded arrays.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from alseg.datasets.base import MAX_LISTED, SegDataset, check_image_size, name_some, natural_key, readonly
from alseg.datasets.cache import MANIFEST_DIGITS, fingerprint_files, load_or_build
from alseg.datasets.decode import DecodeError, Note, decode_image, decode_mask, describe, read_image, read_mask
from alseg.errors import AlsegUsageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "Pair",
    "decode_image",
    "decode_mask",
    "load_folder",
    "name_some",
    "natural_key",
    "scan_pairs",
    "split_from_file",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
SPLIT_FILE_NAMES = ("split.json", "split.csv", "splits.json")
TEST_FRACTION = 0.1


@dataclass(frozen=True)
class Pair:
    """One image file and its mask file, under a shared id (the file stem)."""

    id: str
    image: Path
    mask: Path


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


class FileError(AlsegUsageError):
    """One source file that cannot be read correctly: keeps the parts so that several can be listed at once."""

    def __init__(self, what: str, path: Path, error: DecodeError) -> None:
        super().__init__(f"{describe(what, str(path), error)}: {error.fix}")
        self.what, self.path, self.error = what, path, error


def _decoded(read: Callable[[Path], tuple[np.ndarray, list[Note]]], path: Path, what: str
             ) -> tuple[np.ndarray, list[Note]]:
    """Call a decoder, turning its DecodeError into a FileError that names the file."""
    try:
        return read(path)
    except DecodeError as exc:
        raise FileError(what, path, exc) from exc


def load_pair(pair: Pair, size: int) -> tuple[np.ndarray, np.ndarray, list[tuple[Note, str]]]:
    """Decode, check and resize one image/mask pair; returns (image, mask, notes with their file names)."""
    image, image_notes = _decoded(read_image, pair.image, "image")
    mask, mask_notes = _decoded(read_mask, pair.mask, "mask")
    if image.shape[:2] != mask.shape:
        (ih, iw), (mh, mw) = image.shape[:2], mask.shape
        raise FileError("mask", pair.mask, DecodeError(
            f"is {mw}x{mh} but its image {pair.image} is {iw}x{ih}",
            "masks must match their images pixel for pixel; fix or remove this pair"))
    notes = [(n, pair.image.name) for n in image_notes] + [(n, pair.mask.name) for n in mask_notes]
    return resize_image(image, size), resize_mask(mask, size), notes


def summarise_notes(notes: Iterable[tuple[Note, str]]) -> tuple[str, ...]:
    """One warning line per kind of note, counting and naming (up to 10) the files, in first-seen order."""
    groups: dict[str, tuple[Note, list[str]]] = {}
    for note, name in notes:
        groups.setdefault(note.key, (note, []))[1].append(name)
    return tuple(f"{len(names)} {note.one if len(names) == 1 else note.many}: {name_some(names)}"
                 for note, names in groups.values())


def _relative(path: Path, root: Path | None) -> str:
    """A file's path relative to the data folder when possible, for short messages."""
    try:
        return path.relative_to(root).as_posix() if root is not None else str(path)
    except ValueError:
        return str(path)


def _failures_message(failures: Sequence[FileError], root: Path | None) -> str:
    """One message for several unreadable files: files with the same problem grouped, 10 names at most, the fixes."""
    groups: dict[tuple[str, str], list[str]] = {}
    for failure in failures:
        groups.setdefault((failure.what, failure.error.reason), []).append(_relative(failure.path, root))
    parts: list[str] = []
    budget = named = 0
    for (what, reason), names in groups.items():
        if budget >= MAX_LISTED:
            break
        shown = min(len(names), MAX_LISTED - budget)
        budget, named = budget + shown, named + len(names)
        if len(names) == 1:
            parts.append(describe(what, names[0], DecodeError(reason)))
        else:
            parts.append(f"{name_some(names, shown)} (each: {what} {reason})")
    if named < len(failures):
        parts.append(f"and {len(failures) - named} more file(s)")
    fixes = "; ".join(dict.fromkeys(f.error.fix for f in failures))
    return f"{len(failures)} files cannot be read correctly: {'; '.join(parts)}. To fix: {fixes}"


def decode_pairs(
    pairs: Sequence[Pair],
    size: int,
    progress: Callable[[int, int], None] | None = None,
    root: Path | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Decode all pairs into stacked arrays plus warnings, a few threads at a time (decoding releases the GIL).

    Every pair is tried, so that one error names all the files that cannot be read (up to 10) and the fix.
    """
    n = len(pairs)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=bool)

    def attempt(pair: Pair) -> tuple[np.ndarray, np.ndarray, list[tuple[Note, str]]] | FileError:
        try:
            return load_pair(pair, size)
        except FileError as exc:
            return exc

    notes: list[tuple[Note, str]] = []
    failures: list[FileError] = []
    workers = max(1, min(8, os.cpu_count() or 1, n))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, result in enumerate(pool.map(attempt, pairs)):
            if isinstance(result, FileError):
                failures.append(result)
            else:
                images[i], masks[i], pair_notes = result
                notes += pair_notes
            if progress is not None:
                progress(i + 1, n)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise AlsegUsageError(_failures_message(failures, root))
    return images, masks, summarise_notes(notes)


def read_folder_arrays(
    name: str,
    root: Path,
    pairs: Sequence[Pair],
    image_size: int,
    cache_dir: Path | None,
    progress: Callable[[int, int], None] | None,
    manifest: dict[str, str] | None = None,
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, str, tuple[str, ...]]:
    """Fingerprint the source files and return (ids, images, masks, fingerprint, warnings), via the cache.

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
    images, masks, warnings = load_or_build(
        cache_dir=Path(cache_dir) if cache_dir is not None else None,
        dataset=name,
        image_size=image_size,
        fingerprint=fingerprint,
        ids=ids,
        build=lambda: decode_pairs(pairs, image_size, progress, root),
    )
    return ids, readonly(images), readonly(masks), fingerprint, warnings


def add_split_to_manifest(manifest: dict[str, str], root: Path, split_path: Path | None) -> dict[str, str]:
    """Add the split file (relative to root when inside it) to a data manifest; returns the manifest."""
    if split_path is not None:
        try:
            name = split_path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            name = str(split_path.resolve())
        manifest[name] = hashlib.sha256(split_path.read_bytes()).hexdigest()[:MANIFEST_DIGITS]
    return manifest


def _plural(n: int, one: str, many: str) -> str:
    """'1 entry' / '3 entries'."""
    return f"{n} {one if n == 1 else many}"


def entry_lookup(pairs: Sequence[Pair], root: Path) -> dict[str, dict[str, int]]:
    """The three ways a split entry may name a pair: its id, a file name, or a path relative to root."""
    lookup: dict[str, dict[str, int]] = {"id": {}, "name": {}, "path": {}}
    for i, pair in enumerate(pairs):
        lookup["id"][pair.id] = i
        for path in (pair.image, pair.mask):
            lookup["name"].setdefault(path.name, i)
            lookup["path"][_relative(path, root)] = i
    return lookup


def resolve_entry(entry: object, lookup: dict[str, dict[str, int]]) -> int | str:
    """Index of the pair a split entry names, or why it names none ("outside" or "unknown").

    An entry is an id (the file stem, "7"), a file name ("7.png": the image's or the mask's actual name),
    or a path relative to the data folder ("images/7.png"). Absolute paths and ".." leave the folder and are
    refused, and a name or path must match an actual file: a matching stem alone is not enough.
    """
    if isinstance(entry, bool) or not isinstance(entry, (str, int)):
        return "unknown"
    text = str(entry).strip().replace("\\", "/")
    if not text:
        return "unknown"
    parts = PurePosixPath(text).parts
    if text.startswith("/") or re.match(r"[A-Za-z]:/", text) or ".." in parts:
        return "outside"
    parts = tuple(part for part in parts if part != ".")
    if len(parts) > 1:
        return lookup["path"].get("/".join(parts), "unknown")
    if not parts:
        return "unknown"
    name = parts[0]
    found = lookup["id"].get(name, lookup["name"].get(name))
    return "unknown" if found is None else found


def _check_entries(path: Path, root: Path, ids: Sequence[str], entries: dict[str, list[object]],
                   lookup: dict[str, dict[str, int]]) -> dict[str, list[int]]:
    """Resolve train and test entries, refusing in one message every kind of bad entry (up to 10 of each)."""
    resolved: dict[str, list[int]] = {}
    outside: list[str] = []
    unknown: list[str] = []
    doubled: list[str] = []
    for split, items in entries.items():
        resolved[split] = []
        spelled: dict[int, list[str]] = {}
        for item in items:
            where = resolve_entry(item, lookup)
            shown = repr(item) if isinstance(item, str) else json.dumps(item)
            if where == "outside":
                outside.append(shown)
            elif where == "unknown":
                unknown.append(shown)
            else:
                resolved[split].append(where)
                spelled.setdefault(where, []).append(shown)
        twice = sorted(i for i, count in Counter(resolved[split]).items() if count > 1)
        doubled += [f"{ids[i]} in {split} (as {', '.join(spelled[i])})" for i in twice]
    problems: list[str] = []
    if outside:
        problems.append(f"{_plural(len(outside), 'entry points', 'entries point')} outside the data folder "
                        f"{root}: {name_some(outside)}; name files by id (7), file name (7.png) or a path inside "
                        "the data folder (images/7.png)")
    if unknown:
        problems.append(f"{_plural(len(unknown), 'entry names', 'entries name')} no file of the dataset: "
                        f"{name_some(unknown)}; use ids (file names without extension, e.g. 7), actual file names "
                        "(7.png) or paths relative to the data folder (images/7.png)")
    if doubled:
        problems.append(f"{_plural(len(doubled), 'image is', 'images are')} listed more than once: "
                        f"{name_some(doubled)}; list each image once")
    both = sorted(set(resolved["train"]) & set(resolved["test"]))
    if both:
        problems.append(f"{_plural(len(both), 'image is', 'images are')} in both train and test: "
                        f"{name_some([ids[i] for i in both])}; list each image in one split only")
    for split, items in entries.items():
        if not items:
            problems.append(f"the {split} split is empty; list at least one {split} image")
    if problems:
        raise AlsegUsageError(f"split file {path}: " + "; ".join(problems))
    return resolved


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


def split_from_file(path: Path, pairs: Sequence[Pair], root: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Build train/test indices from a split file; entries outside the folder, unknown, doubled or in both
    splits, and empty splits are refused (see `resolve_entry` for what an entry may be)."""
    ids = [p.id for p in pairs]
    train_entries, test_entries = _parse_split_file(path)
    resolved = _check_entries(path, root, ids, {"train": train_entries, "test": test_entries},
                              entry_lookup(pairs, root))
    train_idx = np.unique(np.asarray(resolved["train"], dtype=np.int64))
    test_idx = np.unique(np.asarray(resolved["test"], dtype=np.int64))
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
        train, test, source = split_from_file(split_path, pairs, root)
    else:
        train, test, source = seeded_split(len(pairs), seed)
    manifest: dict[str, str] = {}
    ids, images, masks, fingerprint, warnings = read_folder_arrays("folder", root, pairs, size, cache_dir, progress,
                                                                   manifest)
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
        warnings=warnings,
    )
