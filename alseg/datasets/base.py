"""Shared types of the dataset layer: a loaded segmentation dataset and a registry card."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from alseg.errors import AlsegUsageError

MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 4096
MAX_LISTED = 10  # names shown in one message before "and N more"


def natural_key(text: str) -> tuple:
    """Sort key that orders "2" before "10" and "img9" before "img10"."""
    parts = re.split(r"(\d+)", text)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), text


def name_some(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    """Join up to `limit` names, then say how many more, so error messages stay short."""
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


@dataclass(frozen=True, eq=False, repr=False)
class SegDataset:
    """Images, binary masks and a fixed train/test split, all resized to one square size.

    ``eq=False``: the fields hold arrays, so equality and hashing are by identity.
    """

    name: str
    ids: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray
    train: np.ndarray
    test: np.ndarray
    fingerprint: str
    split_source: str
    # Source file (relative to the data folder) -> short sha256; empty for generated data. Stored with an
    # experiment so that a changed data folder is refused naming the files added, removed or edited.
    manifest: dict[str, str] = field(default_factory=dict)
    # Things worth telling the user that are not errors (masks read from their alpha channel, JPEG noise
    # binarised, CMYK images converted), one aggregated line each; printed and stored with an experiment.
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check shapes and dtypes once, so that downstream code can rely on them."""
        n = len(self.ids)
        if self.images.ndim != 4 or self.images.shape[0] != n or self.images.shape[3] != 3:
            raise ValueError(f"images must be (N, S, S, 3) with N={n}, got {self.images.shape}")
        size = self.images.shape[1]
        if self.images.shape[2] != size or self.images.dtype != np.uint8:
            raise ValueError(f"images must be square uint8, got {self.images.shape} {self.images.dtype}")
        if self.masks.shape != (n, size, size) or self.masks.dtype != np.bool_:
            raise ValueError(f"masks must be ({n}, {size}, {size}) bool, got {self.masks.shape} {self.masks.dtype}")
        for label, idx in (("train", self.train), ("test", self.test)):
            if idx.dtype != np.int64 or idx.ndim != 1:
                raise ValueError(f"{label} must be a 1-D int64 array")
            if idx.size and (idx[0] < 0 or idx[-1] >= n or np.any(np.diff(idx) <= 0)):
                raise ValueError(f"{label} must be sorted unique indices into ids")
        if np.intersect1d(self.train, self.test).size:
            raise ValueError("train and test overlap")
        if not isinstance(self.warnings, tuple) or not all(isinstance(w, str) for w in self.warnings):
            raise ValueError("warnings must be a tuple of strings")

    @property
    def image_size(self) -> int:
        """Side length S of the square images, handy for building models."""
        return int(self.images.shape[1])

    def __len__(self) -> int:
        """Number of images (train + test + any unused)."""
        return len(self.ids)

    def __repr__(self) -> str:
        """Short summary instead of dumping arrays and hundreds of ids."""
        return (
            f"SegDataset(name={self.name!r}, n={len(self.ids)}, size={self.image_size}, "
            f"train={self.train.size}, test={self.test.size}, fingerprint={self.fingerprint[:16]!r}, "
            f"split_source={self.split_source!r})"
        )


@dataclass(frozen=True)
class DatasetCard:
    """Registry entry: what `alseg datasets` shows and which function loads the dataset."""

    name: str
    description: str
    needs_data_dir: bool
    loader: Callable[..., SegDataset]
    licence: str = ""  # terms of use of a released dataset, shown by `alseg datasets`
    citation: str = ""  # the paper to cite when publishing results on it


def check_image_size(image_size: int) -> int:
    """Validate the requested square size early, with a message the CLI can show."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)):
        raise AlsegUsageError(f"image size must be an integer, got {image_size!r}")
    if not MIN_IMAGE_SIZE <= int(image_size) <= MAX_IMAGE_SIZE:
        raise AlsegUsageError(
            f"image size {image_size} is out of range: pick a value between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE}"
        )
    return int(image_size)


def readonly(array: np.ndarray) -> np.ndarray:
    """Mark an in-memory array read-only so that fresh and cached datasets behave alike."""
    array.setflags(write=False)
    return array
