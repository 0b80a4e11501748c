"""The labeled set of `alseg suggest`: read from --labeled (a list of image names, or `masked`) and checked.

An image is labeled when the list names it (it must have a mask); it is in the pool when it has no mask. An image
that has a mask but is not listed is neither: it is not trained on and never suggested (it is annotated already).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alseg.datasets.base import name_some
from alseg.datasets.partial import PartialFolder
from alseg.errors import AlsegUsageError

#: --labeled MASKED: every image that has a mask is labeled.
MASKED = "masked"


@dataclass(frozen=True)
class LabeledSet:
    """Indices into the folder: the labeled images, the unlabeled pool, and masked images left out of both."""

    labeled: np.ndarray
    pool: np.ndarray
    excluded: np.ndarray


def read_names(text: str) -> list[str]:
    """The names of a list file: one per line, surrounding spaces stripped, blank and '#' lines skipped, once each."""
    names = (line.strip() for line in text.splitlines())
    return list(dict.fromkeys(n for n in names if n and not n.startswith("#")))


def match_names(names: Sequence[str], files: Sequence[str], ids: Sequence[str]) -> tuple[list[int], list[str]]:
    """The folder index of each name (an image's file name, or its stem) and the names that match no image."""
    by_file = {f: i for i, f in enumerate(files)}
    by_id = {s: i for i, s in enumerate(ids)}
    found, unknown = [], []
    for name in names:
        index = by_file.get(name, by_id.get(name))
        if index is None:
            unknown.append(name)
        else:
            found.append(index)
    return found, unknown


def read_list(path: Path) -> list[str]:
    """The names in a --labeled file, or a usage error saying why it cannot be read."""
    if not path.is_file():
        raise AlsegUsageError(f"--labeled {path}: no such file; give a text file of image names (one per line, as in "
                              f"images/, e.g. 12.png) or the word '{MASKED}' for every image that has a mask")
    try:
        return read_names(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AlsegUsageError(f"--labeled {path} cannot be read as UTF-8 text ({exc}); save it as a plain text file "
                              "of image names, one per line") from exc


def labeled_set(source: str, folder: PartialFolder) -> LabeledSet:
    """Resolve --labeled against the folder: names must exist and have masks; at least one image must be labeled."""
    everything = np.arange(len(folder.ids), dtype=np.int64)
    if source == MASKED:
        labeled = everything[folder.has_mask]
        if not labeled.size:
            where = folder.mask_dir if folder.mask_dir is not None else folder.root / "masks"
            raise AlsegUsageError(f"--labeled {MASKED}: no image of {folder.root} has a mask yet ({where} is missing "
                                  "or holds no mask): annotate a few images first (suggest trains on them; at least 2) "
                                  "and save each mask under its image's file name in masks/")
    else:
        names = read_list(Path(source))
        found, unknown = match_names(names, folder.files, folder.ids)
        if unknown:
            raise AlsegUsageError(f"--labeled {source} names {len(unknown)} image(s) that are not in "
                                  f"{folder.image_dir}: {name_some(unknown)}; write image file names as they are in "
                                  "images/ (e.g. 12.png) or their stems (12), one per line")
        labeled = np.unique(np.asarray(found, dtype=np.int64))
        missing = [folder.files[i] for i in labeled if not folder.has_mask[i]]
        if missing:
            raise AlsegUsageError(f"--labeled {source} names {len(missing)} image(s) without a mask in "
                                  f"{folder.mask_dir or folder.root / 'masks'}: {name_some(missing)}; add their masks "
                                  "(same file name, in masks/) or remove them from the list")
        if not labeled.size:
            raise AlsegUsageError(f"--labeled {source} names no image: list the images that have masks (one file "
                                  f"name per line), or pass --labeled {MASKED}")
    is_labeled = np.zeros(len(folder.ids), dtype=bool)
    is_labeled[labeled] = True
    pool = everything[~folder.has_mask]
    excluded = everything[folder.has_mask & ~is_labeled]
    return LabeledSet(labeled=labeled, pool=pool, excluded=excluded)


def check_budget(budget: int, folder: PartialFolder, pool: np.ndarray) -> None:
    """The budget must fit in the unlabeled pool (suggest never pads a selection with fewer images)."""
    if not pool.size:
        raise AlsegUsageError(f"every image of {folder.image_dir} has a mask: nothing is left to suggest; add the "
                              "images still to annotate to images/ (without masks)")
    if budget > pool.size:
        raise AlsegUsageError(f"--budget {budget} is more than the {pool.size} unlabeled image(s) of "
                              f"{folder.image_dir} (images without a mask): lower --budget to at most {pool.size}")
