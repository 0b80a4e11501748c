"""Find the image and mask files of a data folder and pair them by file stem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alseg.datasets.base import name_some, natural_key
from alseg.errors import AlsegUsageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


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


def _relative(path: Path, root: Path | None) -> str:
    """A file's path relative to the data folder when possible, for short messages."""
    try:
        return path.relative_to(root).as_posix() if root is not None else str(path)
    except ValueError:
        return str(path)
