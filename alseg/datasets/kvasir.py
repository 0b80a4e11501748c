"""Kvasir-SEG (1000 colonoscopy images with polyp masks, Simula) with the standard 900/100 split built in.

The release (`kvasir-seg.zip`) unpacks to `Kvasir-SEG/images/*.jpg` and `Kvasir-SEG/masks/*.jpg`, one mask per
image under the same file name. Images and masks are decoded by the one image rule and mask rule
(`alseg.datasets.decode`, `alseg.datasets.masks`): the masks are 3-channel JPEGs with JPEG noise, binarised at
> 127. 143 released masks carry one isolated bright pixel at (0, 0); the mask rule keeps it, as > 127 of the
released file, and the loader warns with the count and with how many of them survive resizing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePath

import numpy as np

from alseg.datasets.base import SegDataset, check_image_size, name_some
from alseg.datasets.folder import dataset_from_pairs, decode_pairs
from alseg.datasets.manifest import Release, cached_content_sha256, check_manifest
from alseg.datasets.masks import read_mask
from alseg.datasets.pairs import IMAGE_EXTENSIONS, Pair, find_subdir, scan_pairs
from alseg.datasets.splits import check_split_file
from alseg.errors import AlsegUsageError

NAME = "kvasir-seg"
RELEASE_FOLDER = "Kvasir-SEG"
N_PAIRS = 1000
N_TEST = 100
ARCHIVE_URL = "https://datasets.simula.no/downloads/kvasir-seg.zip"
PAGE_URL = "https://datasets.simula.no/kvasir-seg/"
# content_sha256 (alseg.datasets.manifest) of the released images/ and masks/, as unpacked from the archive.
RELEASE_SHA256 = "e89c4ceed59238eeb44cd0966228af0f1afece910cc1e357f0ab22d4e36375b6"
CONTENT_KEY = "content_sha256"  # the data-manifest entry that holds the content hash
LICENCE = "research and educational use only (Simula Research Laboratory); cite the paper when publishing"
CITATION = ("Jha, D., Smedsrud, P. H., Riegler, M. A., Halvorsen, P., de Lange, T., Johansen, D., Johansen, H. D. "
            "\"Kvasir-SEG: A Segmented Polyp Dataset\", MultiMedia Modeling (MMM 2020), Springer, "
            "doi:10.1007/978-3-030-37734-2_37")
HOW_TO_GET = (f"`alseg data fetch kvasir-seg` downloads it; or download {ARCHIVE_URL} by hand, unzip it into a "
              f"folder DIR so that DIR/{RELEASE_FOLDER}/images and DIR/{RELEASE_FOLDER}/masks exist, and pass "
              "--data-dir DIR")


@lru_cache(maxsize=1)
def standard_test_names() -> frozenset[str]:
    """The 100 image file names of the standard (PraNet) test split, read from the package data file."""
    text = resources.files("alseg.datasets").joinpath("kvasir_test.txt").read_text(encoding="utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(names) != N_TEST or len(set(names)) != N_TEST:
        raise RuntimeError(f"alseg/datasets/kvasir_test.txt must list {N_TEST} distinct names, found {len(names)}: "
                           "the installed package is damaged, reinstall alseg")
    return frozenset(names)


def release() -> Release:
    """What a complete Kvasir-SEG copy holds, for the manifest check."""
    return Release("Kvasir-SEG", N_PAIRS, ".jpg", standard_test_names(), HOW_TO_GET)


def _how_to_get(problem: str) -> AlsegUsageError:
    """Error for a missing or unusable copy, saying where a complete one comes from."""
    return AlsegUsageError(f"{problem}. {HOW_TO_GET}")


def has_pairs_folders(folder: Path) -> bool:
    """True when a folder holds images/ and masks/ subfolders (any case)."""
    return find_subdir(folder, "images") is not None and find_subdir(folder, "masks") is not None


def find_release_folder(data_dir: Path) -> Path:
    """The Kvasir-SEG folder: DATA_DIR/Kvasir-SEG when it exists with images/ + masks/, else DATA_DIR itself."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise _how_to_get(f"data folder {root} does not exist")
    inner = find_subdir(root, RELEASE_FOLDER)
    if inner is not None and has_pairs_folders(inner):
        return inner
    if has_pairs_folders(root):
        return root
    raise _how_to_get(f"data folder {root} holds neither {RELEASE_FOLDER}/images + {RELEASE_FOLDER}/masks nor "
                      "images/ + masks/")


def image_file_names(folder: Path) -> list[str]:
    """Names of the image files in a folder (the extensions alseg reads), hidden files skipped."""
    return [p.name for p in folder.iterdir()
            if not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]


def looks_like_kvasir(image_dir: Path) -> bool:
    """True when an images/ folder holds all 100 standard test images and others: a Kvasir-SEG copy."""
    stems = {PurePath(n).stem for n in image_file_names(image_dir)}
    tests = {PurePath(n).stem for n in standard_test_names()}
    return tests < stems


def standard_split(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """Apply the built-in 900/100 split to the images present (check_manifest ensures both parts are non-empty)."""
    tests = {PurePath(n).stem for n in standard_test_names()}
    is_test = np.array([i in tests for i in ids], dtype=bool)
    source = f"Kvasir-SEG standard split (PraNet test set: {N_TEST} images; the other images train)"
    if len(ids) != N_PAIRS:
        source += f", applied to the {len(ids)} of {N_PAIRS} images present"
    return np.flatnonzero(~is_test).astype(np.int64), np.flatnonzero(is_test).astype(np.int64), source


def isolated_corner(mask: np.ndarray) -> bool:
    """True when pixel (0, 0) is foreground and its three neighbours are not: the release's stray corner pixel."""
    return bool(mask[0, 0]) and not (mask[0, 1:2].any() or mask[1:2, 0:2].any())


def corner_strays(pairs: Sequence[Pair]) -> list[int]:
    """Indices of the pairs whose full-resolution mask (by the mask rule) has an isolated pixel at (0, 0)."""
    def check(pair: Pair) -> bool:
        return isolated_corner(read_mask(pair.mask)[0])

    workers = max(1, min(8, os.cpu_count() or 1, len(pairs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [i for i, stray in enumerate(pool.map(check, pairs)) if stray]


def stray_warning(names: Sequence[str], kept: int, size: int) -> str:
    """The warning for masks with the stray (0, 0) pixel: how many, what was done, what resizing left."""
    n = len(names)
    has = "mask carries" if n == 1 else "masks carry"
    return (f"{n} {has} a single isolated foreground pixel at (0, 0), an artefact of the release files (not polyp): "
            f"kept, as the mask rule reads the released file (> 127); resized to {size} px it is still foreground "
            f"in {kept} of them: {name_some(list(names))}")


def decode_kvasir(pairs: Sequence[Pair], size: int, progress: Callable[[int, int], None] | None,
                  root: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Decode and resize every pair like any folder, then count the stray corner pixels (stored with the cache)."""
    images, masks, notes = decode_pairs(pairs, size, progress, root)
    strays = corner_strays(pairs)
    if strays:
        kept = int(sum(bool(masks[i, 0, 0]) for i in strays))
        notes = (*notes, stray_warning([pairs[i].mask.name for i in strays], kept, size))
    return images, masks, notes


def hash_warning(content: str) -> list[str]:
    """A warning when the copy's content hash is not the release's: a different copy, which still loads."""
    if content == RELEASE_SHA256:
        return []
    return [f"this Kvasir-SEG copy's content sha256 is {content}, not the release's {RELEASE_SHA256}: it is a "
            "different copy (files added, removed or edited), so results may not compare with ones on the release"]


@dataclass(frozen=True)
class CopyCheck:
    """A Kvasir-SEG copy after its file manifest and content hash were checked."""

    folder: Path
    pairs: list[Pair]
    content_sha256: str
    notes: list[str]


def check_copy(data_dir: Path, cache_dir: Path | None, *, check_test_names: bool = True) -> CopyCheck:
    """Find the copy, check its file manifest, pair its files and hash their content (cached on sizes + mtimes)."""
    folder = find_release_folder(data_dir)
    image_dir, mask_dir = find_subdir(folder, "images"), find_subdir(folder, "masks")
    assert image_dir is not None and mask_dir is not None  # find_release_folder checked both
    notes = check_manifest(release(), image_file_names(image_dir), image_file_names(mask_dir),
                           check_test_names=check_test_names)
    pairs = scan_pairs(image_dir, mask_dir)
    relative = [p.relative_to(folder).as_posix() for pair in pairs for p in (pair.image, pair.mask)]
    content = cached_content_sha256(folder, relative, cache_dir)
    return CopyCheck(folder, pairs, content, notes + hash_warning(content))


def load_kvasir_seg(
    *,
    data_dir: Path | None,
    image_size: int,
    cache_dir: Path | None,
    seed: int = 0,
    split_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SegDataset:
    """Load Kvasir-SEG from DATA_DIR/Kvasir-SEG or DATA_DIR; seed is unused (fixed split)."""
    size = check_image_size(image_size)
    if data_dir is None:
        raise _how_to_get("kvasir-seg needs a data folder")
    split_path = check_split_file(split_file) if split_file is not None else None
    copy = check_copy(Path(data_dir), cache_dir, check_test_names=split_path is None)
    return dataset_from_pairs(NAME, copy.folder, copy.pairs, size, cache_dir, progress, split_path=split_path,
                              default_split=standard_split, decode=decode_kvasir,
                              extra_manifest={CONTENT_KEY: copy.content_sha256}, notes=copy.notes)
