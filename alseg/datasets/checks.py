"""Sanity checks on a loaded dataset's masks: refuse data that would make every strategy score Dice 0."""

from __future__ import annotations

import numpy as np

from alseg.datasets.base import SegDataset, name_some
from alseg.errors import AlsegUsageError

MAJORITY = 0.5  # mean training foreground above this suggests inverted masks
_CHUNK = 256  # masks per step, so that memory-mapped datasets are read a slice at a time


def foreground_fractions(masks: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Foreground fraction of each selected mask, read in chunks (works on memmaps without loading them)."""
    out = np.empty(indices.size, dtype=np.float64)
    for start in range(0, indices.size, _CHUNK):
        part = indices[start : start + _CHUNK]
        out[start : start + part.size] = np.asarray(masks[part]).mean(axis=(1, 2))
    return out


def _empty_line(data: SegDataset, indices: np.ndarray, fractions: np.ndarray, split: str) -> str | None:
    """'12 of 550 training masks are empty: a, b ...' or None when none is."""
    empty = indices[fractions == 0]
    if not empty.size:
        return None
    verb = "is" if empty.size == 1 else "are"
    return f"{empty.size} of {indices.size} {split} masks {verb} empty: {name_some([data.ids[i] for i in empty])}"


def check_masks(data: SegDataset, *, allow_empty: bool = False, allow_majority_foreground: bool = False) -> list[str]:
    """Refuse all-empty or mostly-foreground training masks (unless allowed); return warnings worth printing."""
    train = foreground_fractions(data.masks, data.train)
    test = foreground_fractions(data.masks, data.test)
    warnings: list[str] = []
    if train.size and not train.any():
        message = (f"every one of the {train.size} training masks of {data.name} is empty, so every strategy would "
                   "learn to predict nothing: check that masks mark the foreground with non-zero (bright) pixels")
        if not allow_empty:
            raise AlsegUsageError(f"{message}; pass --allow-empty-masks to run anyway")
        warnings.append(f"{message} (allowed by --allow-empty-masks)")
    else:
        line = _empty_line(data, data.train, train, "training")
        if line:
            warnings.append(line)
    if train.size and train.mean() > MAJORITY:
        message = (f"the training masks of {data.name} are {train.mean():.0%} foreground on average: are they "
                   "inverted (background bright)? alseg counts non-zero (bright) mask pixels as foreground")
        if not allow_majority_foreground:
            raise AlsegUsageError(f"{message}; fix the masks, or pass --allow-majority-foreground if that is right")
        warnings.append(f"{message} (allowed by --allow-majority-foreground)")
    line = _empty_line(data, data.test, test, "test")
    if line:
        warnings.append(line)
    return warnings
