"""Read any `images/` + `masks/` folder (and, through shared helpers, CVC-ClinicDB and Kvasir-SEG) into a SegDataset.

Decoding rules live in `alseg.datasets.decode` (images) and `alseg.datasets.masks` (masks), pairing files in
`alseg.datasets.pairs` and split files in `alseg.datasets.splits`; this module decodes the pairs, stacks,
resizes and caches the decoded arrays, and assembles the SegDataset (`dataset_from_pairs`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from alseg.datasets.base import MAX_LISTED, SegDataset, check_image_size, name_some, natural_key, readonly
from alseg.datasets.cache import fingerprint_files, load_or_build
from alseg.datasets.decode import DecodeError, Note, decode_image, describe, read_image
from alseg.datasets.masks import decode_mask, read_mask
from alseg.datasets.pairs import IMAGE_EXTENSIONS, Pair, _relative, find_subdir, scan_pairs
from alseg.datasets.splits import (
    add_split_to_manifest,
    check_split_file,
    find_split_file,
    seeded_split,
    split_from_file,
)
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
    load: Callable[[Any, int], tuple[np.ndarray, np.ndarray, list[tuple[Note, str]]]] = load_pair,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Decode all pairs into stacked arrays plus warnings, a few threads at a time (decoding releases the GIL).

    Every pair is tried, so that one error names all the files that cannot be read (up to 10) and the fix.
    `load` decodes one item (default: an image/mask pair; `alseg.datasets.partial` also passes images without masks).
    """
    n = len(pairs)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=bool)

    def attempt(pair: Pair) -> tuple[np.ndarray, np.ndarray, list[tuple[Note, str]]] | FileError:
        try:
            return load(pair, size)
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


Split = tuple[np.ndarray, np.ndarray, str]  # train indices, test indices, where the split came from
Decode = Callable[[Sequence[Pair], int, Callable[[int, int], None] | None, Path],
                  tuple[np.ndarray, np.ndarray, tuple[str, ...]]]


def dataset_from_pairs(
    name: str,
    root: Path,
    pairs: Sequence[Pair],
    image_size: int,
    cache_dir: Path | None,
    progress: Callable[[int, int], None] | None,
    *,
    split_path: Path | None,
    default_split: Callable[[tuple[str, ...]], Split],
    decode: Decode = decode_pairs,
    extra_manifest: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> SegDataset:
    """Split the pairs (the split file, else `default_split(ids)`), decode them via the cache, build the dataset.

    `decode(pairs, image_size, progress, root)` builds the arrays on a cache miss. The manifest holds each source
    file (relative to root) -> short sha256, then `extra_manifest`, then the split file; the warnings are `notes`
    followed by the decoding warnings.
    """
    ids = tuple(p.id for p in pairs)
    # Split before decoding, so that a bad split file fails in a fraction of a second.
    if split_path is not None:
        train, test, source = split_from_file(split_path, pairs, root)
    else:
        train, test, source = default_split(ids)
    manifest: dict[str, str] = {}
    try:
        fingerprint = fingerprint_files(root, [p for pair in pairs for p in (pair.image, pair.mask)], image_size,
                                        manifest)
    except OSError as exc:
        raise AlsegUsageError(f"cannot read {exc.filename} ({exc.strerror}): check the file's permissions") from exc
    manifest.update(extra_manifest or {})
    images, masks, warnings = load_or_build(
        cache_dir=Path(cache_dir) if cache_dir is not None else None,
        dataset=name,
        image_size=image_size,
        fingerprint=fingerprint,
        ids=ids,
        build=lambda: decode(pairs, image_size, progress, root),
    )
    return SegDataset(
        name=name,
        ids=ids,
        images=readonly(images),
        masks=readonly(masks),
        train=train,
        test=test,
        fingerprint=fingerprint,
        split_source=source,
        manifest=add_split_to_manifest(manifest, root, split_path),
        warnings=(*notes, *warnings),
    )


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
    return dataset_from_pairs("folder", root, scan_pairs(image_dir, mask_dir), size, cache_dir, progress,
                              split_path=split_path, default_split=lambda ids: seeded_split(len(ids), seed))
