"""CVC-ClinicDB (612 colonoscopy frames with polyp masks) with the standard PraNet test split built in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from alseg.datasets.base import SegDataset, check_image_size
from alseg.datasets.folder import dataset_from_pairs
from alseg.datasets.pairs import find_subdir, scan_pairs
from alseg.datasets.splits import check_split_file
from alseg.errors import AlsegUsageError

N_FRAMES = 612
# Test frames of the PraNet polyp benchmark (TestDataset/CVC-ClinicDB); the other 550 are train.
TEST_FRAMES = frozenset(
    (
        14,
        21,
        25,
        31,
        42,
        50,
        52,
        61,
        65,
        66,
        73,
        80,
        89,
        100,
        106,
        119,
        134,
        148,
        154,
        163,
        166,
        171,
        179,
        181,
        185,
        191,
        205,
        240,
        251,
        266,
        279,
        287,
        300,
        307,
        349,
        353,
        374,
        381,
        388,
        397,
        400,
        404,
        425,
        429,
        431,
        442,
        453,
        459,
        464,
        474,
        481,
        483,
        492,
        526,
        529,
        545,
        555,
        559,
        561,
        569,
        571,
        575,
    )
)
LAYOUTS = (("Original", "Ground Truth"), ("images", "masks"))


def _how_to_get(problem: str) -> AlsegUsageError:
    """Error for a missing or unusable copy, telling the user where the data comes from."""
    return AlsegUsageError(
        f"{problem}. CVC-ClinicDB has no stable download URL: obtain it from the dataset's authors "
        "(Computer Vision Center / Hospital Clinic Barcelona; research and educational use only) or "
        "from a PraNet-style polyp benchmark copy, then run with --data-dir PATH, where PATH holds "
        "Original/ + Ground Truth/ (the release's TIFFs) or images/ + masks/ (PNGs)"
    )


def _frame_number(stem: str) -> int | None:
    """Frame number of a file stem ("14", "014"), or None for a name that is not a number."""
    return int(stem) if stem.isdigit() else None


def standard_split(ids: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, str]:
    """Apply the built-in split to the frames present (a subset is fine if it holds test frames)."""
    is_test = np.array([_frame_number(i) in TEST_FRAMES for i in ids], dtype=bool)
    if not is_test.any():
        raise AlsegUsageError(
            "none of the 62 standard CVC-ClinicDB test frames (14, 21, 25, ...) is in the data folder: "
            "point --data-dir at a complete copy, or pass a split file"
        )
    if is_test.all():
        raise AlsegUsageError(
            "the CVC-ClinicDB data folder holds only test frames: point --data-dir at a complete copy"
        )
    source = "CVC-ClinicDB standard split (PraNet test set: 62 frames; the other frames train)"
    if len(ids) != N_FRAMES:
        source += f", applied to the {len(ids)} of {N_FRAMES} frames present"
    return (
        np.flatnonzero(~is_test).astype(np.int64),
        np.flatnonzero(is_test).astype(np.int64),
        source,
    )


def load_cvc_clinicdb(
    *,
    data_dir: Path | None,
    image_size: int,
    cache_dir: Path | None,
    seed: int = 0,
    split_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SegDataset:
    """Load CVC-ClinicDB from the release layout or the PNG layout; seed is unused (fixed split)."""
    size = check_image_size(image_size)
    if data_dir is None:
        raise _how_to_get("cvc-clinicdb needs a data folder")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise _how_to_get(f"data folder {root} does not exist")
    if not any(root.iterdir()):
        raise _how_to_get(f"data folder {root} is empty")
    for image_name, mask_name in LAYOUTS:
        image_dir, mask_dir = find_subdir(root, image_name), find_subdir(root, mask_name)
        if image_dir is not None and mask_dir is not None:
            break
    else:
        raise _how_to_get(f"data folder {root} holds neither Original/ + Ground Truth/ nor images/ + masks/")
    pairs = scan_pairs(image_dir, mask_dir)
    split_path = check_split_file(split_file) if split_file is not None else None
    return dataset_from_pairs("cvc-clinicdb", root, pairs, size, cache_dir, progress, split_path=split_path,
                              default_split=standard_split)
