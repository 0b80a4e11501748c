"""Tell from a data folder's layout which dataset loader reads it, for `--data-dir` given without `--dataset`."""

from __future__ import annotations

from pathlib import Path

from alseg.datasets.cvc import N_FRAMES
from alseg.datasets.kvasir import RELEASE_FOLDER, has_pairs_folders, looks_like_kvasir
from alseg.datasets.pairs import IMAGE_EXTENSIONS, find_subdir
from alseg.errors import AlsegUsageError

CVC_FRAMES = frozenset(range(1, N_FRAMES + 1))
_EXPECTED = (
    "Original/ + Ground Truth/ (the CVC-ClinicDB release), Kvasir-SEG/ (the Kvasir-SEG release) or images/ + masks/ "
    "(CVC-ClinicDB's PNG layout, Kvasir-SEG's, or any folder of images with masks of the same file names); or choose "
    "the loader with --dataset"
)
_KVASIR = "reading it as --dataset kvasir-seg (built-in 900/100 split)"


def _frame_numbers(folder: Path) -> set[int] | None:
    """Frame numbers of the image files in a folder, or None when some stem is not a number."""
    numbers: set[int] = set()
    for path in folder.iterdir():
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        if not path.stem.isdigit():
            return None
        numbers.add(int(path.stem))
    return numbers


def detect_dataset(data_dir: Path) -> tuple[str, str]:
    """Return (dataset name, one line saying what was detected, why, and how to override with --dataset)."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise AlsegUsageError(f"data folder {root} does not exist: pass --data-dir PATH holding {_EXPECTED}")
    if find_subdir(root, "Original") is not None and find_subdir(root, "Ground Truth") is not None:
        return "cvc-clinicdb", (
            f"{root} has Original/ + Ground Truth/, the CVC-ClinicDB release layout: reading it as --dataset "
            "cvc-clinicdb (built-in 550/62 split); pass --dataset to choose another loader"
        )
    inner = find_subdir(root, RELEASE_FOLDER)
    if inner is not None and has_pairs_folders(inner):
        return "kvasir-seg", (f"{root} has {inner.name}/images + {inner.name}/masks, the Kvasir-SEG release layout: "
                              f"{_KVASIR}; pass --dataset to choose another loader")
    image_dir, mask_dir = find_subdir(root, "images"), find_subdir(root, "masks")
    if image_dir is None or mask_dir is None:
        raise AlsegUsageError(f"cannot tell which dataset {root} holds: expected {_EXPECTED}")
    if looks_like_kvasir(image_dir):
        return "kvasir-seg", (f"{root} has images/ holding the 100 standard Kvasir-SEG test images and more: "
                              f"{_KVASIR}; --dataset folder treats it as a plain folder")
    images, masks = _frame_numbers(image_dir), _frame_numbers(mask_dir)
    if images == CVC_FRAMES and masks == CVC_FRAMES:
        return "cvc-clinicdb", (
            f"{root} has images/ + masks/ named exactly by the {N_FRAMES} CVC-ClinicDB frame numbers: reading it as "
            "--dataset cvc-clinicdb (built-in 550/62 split); --dataset folder treats it as a plain folder"
        )
    return "folder", (
        f"{root} has images/ + masks/: reading it as --dataset folder (images and masks matched by file name, "
        "split from a split file in the folder or a seeded 10 % test split); pass --dataset to choose another loader"
    )
