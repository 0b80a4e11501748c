"""Read an `images/` + `masks/` folder in which only some images have a mask (`alseg suggest`'s input).

Every image is decoded by the image rule and every mask by the mask rule, exactly as `alseg bench` reads a
folder (`alseg.datasets.decode`, `alseg.datasets.masks`, through `alseg.datasets.folder`); the difference is
that an image without a mask is kept, as a member of the unlabeled pool, instead of being refused. Masks are
matched to images by file stem, as in `alseg.datasets.pairs`; a mask without an image is still refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alseg.datasets.base import SegDataset, check_image_size, name_some, natural_key, readonly
from alseg.datasets.cache import fingerprint_files, load_or_build
from alseg.datasets.decode import DecodeError, Note, read_image
from alseg.datasets.folder import FileError, decode_pairs, load_pair, resize_image
from alseg.datasets.pairs import IMAGE_EXTENSIONS, Pair, _list_files, find_subdir
from alseg.errors import AlsegUsageError

DATASET = "folder"  # the same name as the folder loader: the same decoding, the same random streams


@dataclass(frozen=True)
class LoneImage:
    """An image file without a mask (a member of the unlabeled pool)."""

    id: str
    image: Path


Entry = Pair | LoneImage


@dataclass(frozen=True, eq=False, repr=False)
class PartialFolder:
    """Every image of a folder, the masks that exist, and which images have one (aligned by index).

    `masks` rows of images without a mask are all False; nothing may read them (`has_mask` says which rows
    are real). `files` are the image file names inside `images/`, the names users write and read.
    """

    root: Path
    image_dir: Path
    mask_dir: Path | None
    ids: tuple[str, ...]
    files: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray
    has_mask: np.ndarray
    fingerprint: str
    warnings: tuple[str, ...]

    def __repr__(self) -> str:
        """Short summary instead of arrays."""
        return (f"PartialFolder({self.root}, n={len(self.ids)}, with_mask={int(self.has_mask.sum())}, "
                f"size={self.images.shape[1]})")

    def dataset(self, members: np.ndarray) -> SegDataset:
        """A SegDataset whose training pool is `members` (labeled + unlabeled candidates) and with no test split."""
        return SegDataset(
            name=DATASET, ids=self.ids, images=self.images, masks=self.masks,
            train=np.sort(np.asarray(members, dtype=np.int64)), test=np.zeros(0, dtype=np.int64),
            fingerprint=self.fingerprint, split_source="none (alseg suggest evaluates nothing)",
            warnings=self.warnings,
        )


def scan_partial(image_dir: Path, mask_dir: Path | None) -> list[Entry]:
    """Images in natural order, each paired with its mask when one exists; a mask without an image is refused."""
    images = _list_files(image_dir)
    masks = _list_files(mask_dir) if mask_dir is not None else {}
    if not images:
        exts = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
        raise AlsegUsageError(f"no image files ({exts}) in {image_dir}: put every image, with or without a mask, "
                              "there")
    lonely = sorted(set(masks) - set(images), key=natural_key)
    if lonely:
        names = [masks[s].name for s in lonely]
        raise AlsegUsageError(f"{len(names)} mask(s) in {mask_dir} have no image: {name_some(names)}. Masks are "
                              "matched to images by file name without extension; add the images or remove the masks")
    return [Pair(stem, images[stem], masks[stem]) if stem in masks else LoneImage(stem, images[stem])
            for stem in sorted(images, key=natural_key)]


def load_entry(entry: Entry, size: int) -> tuple[np.ndarray, np.ndarray, list[tuple[Note, str]]]:
    """Decode one entry: an image/mask pair as `alseg bench` does, or an image alone with an all-False mask row."""
    if isinstance(entry, Pair):
        return load_pair(entry, size)
    try:
        image, notes = read_image(entry.image)
    except DecodeError as exc:
        raise FileError("image", entry.image, exc) from exc
    return resize_image(image, size), np.zeros((size, size), dtype=bool), [(n, entry.image.name) for n in notes]


def source_files(entries: Sequence[Entry]) -> list[Path]:
    """The files the arrays are decoded from, in order: each image, then its mask when it has one."""
    files: list[Path] = []
    for entry in entries:
        files += [entry.image, entry.mask] if isinstance(entry, Pair) else [entry.image]
    return files


def find_folders(root: Path) -> tuple[Path, Path | None]:
    """images/ (required) and masks/ (optional: no masks/ means no image is labeled yet) of a data folder."""
    if not root.is_dir():
        raise AlsegUsageError(f"data folder {root} does not exist: pass --data-dir PATH holding images/ (every "
                              "image) and masks/ (the masks made so far, same file names)")
    image_dir = find_subdir(root, "images")
    if image_dir is None:
        raise AlsegUsageError(f"data folder {root} has no images/ subfolder: put every image in {root / 'images'} "
                              f"and the masks made so far, with the same file names, in {root / 'masks'}")
    return image_dir, find_subdir(root, "masks")


def load_partial(data_dir: Path, image_size: int, cache_dir: Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> PartialFolder:
    """Decode every image of a folder and the masks it has, resized to `image_size`, via the dataset cache."""
    size = check_image_size(image_size)
    root = Path(data_dir).expanduser()
    image_dir, mask_dir = find_folders(root)
    entries = scan_partial(image_dir, mask_dir)
    ids = tuple(e.id for e in entries)
    try:
        fingerprint = fingerprint_files(root, source_files(entries), size)
    except OSError as exc:
        raise AlsegUsageError(f"cannot read {exc.filename} ({exc.strerror}): check the file's permissions") from exc
    images, masks, warnings = load_or_build(
        cache_dir=Path(cache_dir) if cache_dir is not None else None, dataset=DATASET, image_size=size,
        fingerprint=fingerprint, ids=ids,
        build=lambda: decode_pairs(entries, size, progress, root, load=load_entry),
    )
    return PartialFolder(
        root=root, image_dir=image_dir, mask_dir=mask_dir, ids=ids, files=tuple(e.image.name for e in entries),
        images=readonly(images), masks=readonly(masks),
        has_mask=readonly(np.array([isinstance(e, Pair) for e in entries], dtype=bool)),
        fingerprint=fingerprint, warnings=tuple(warnings),
    )
