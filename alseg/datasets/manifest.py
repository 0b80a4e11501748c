"""A released dataset's file manifest (which files must be there) and content hash (are they the released bytes).

Content hash
------------
``content_sha256`` is one SHA-256 over the data files of a copy, read in the sorted order of their paths
relative to the dataset folder (``images/NAME``, ``masks/NAME``; Python's ``sorted`` on the strings, i.e.
by Unicode code point, so every ``images/`` path comes before every ``masks/`` path). For each file, the
path encoded as UTF-8 is fed to the hash, then the file's bytes, with nothing between or after them: no
separator, no length, no newline. Two copies hash alike exactly when they hold the same paths with the same
bytes. The value is cached (see ``cached_content_sha256``) under a key made of the paths, sizes and
modification times, so an unchanged folder is not read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath

from alseg.datasets.base import name_some, natural_key
from alseg.datasets.cache import CacheWarning
from alseg.errors import AlsegUsageError

_CHUNK_BYTES = 1 << 20
HASH_CACHE_VERSION = 1


def content_sha256(root: Path, relative_paths: Iterable[str]) -> str:
    """SHA-256 over each path (UTF-8) followed by that file's bytes, in sorted path order (module docstring)."""
    digest = hashlib.sha256()
    for name in sorted(relative_paths):
        digest.update(name.encode("utf-8"))
        with open(Path(root) / name, "rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def stat_key(root: Path, relative_paths: Iterable[str]) -> str:
    """A key that changes when a file is added, removed, resized or touched: paths, sizes and mtimes."""
    digest = hashlib.sha256(f"alseg-content-hash/{HASH_CACHE_VERSION}\n{Path(root).resolve()}\n".encode())
    for name in sorted(relative_paths):
        info = (Path(root) / name).stat()
        digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def cached_content_sha256(root: Path, relative_paths: Collection[str], cache_dir: Path | None) -> str:
    """``content_sha256``, read from cache_dir when the folder's paths, sizes and mtimes are unchanged.

    Without a cache_dir the hash is computed every time. A cache file that cannot be read is ignored and
    one that cannot be written is skipped with a CacheWarning: the hash is always computed correctly.
    """
    try:
        if cache_dir is None:
            return content_sha256(root, relative_paths)
        key = stat_key(root, relative_paths)
        path = Path(cache_dir) / "content-sha256" / f"{key[:32]}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(stored, dict) and stored.get("key") == key and isinstance(stored.get("sha256"), str):
                return stored["sha256"]
        except (OSError, ValueError):
            pass
        value = content_sha256(root, relative_paths)
    except OSError as exc:
        raise AlsegUsageError(f"cannot read {exc.filename} ({exc.strerror}): check the file's permissions") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"key": key, "sha256": value, "files": len(relative_paths)}, handle)
        os.replace(tmp, path)
    except OSError as exc:
        warnings.warn(f"cannot cache the content hash in {cache_dir} ({exc}); it is recomputed next time",
                      CacheWarning, stacklevel=2)
    return value


@dataclass(frozen=True)
class Release:
    """What a complete copy of a released dataset holds: its name, pair count, file extension and test names."""

    name: str
    pairs: int
    extension: str
    test_names: frozenset[str]
    how_to_get: str  # appended to refusals: where a complete copy comes from


def _files(names: Iterable[str], folder: str) -> list[str]:
    """Names sorted naturally, prefixed with their folder, for messages."""
    return [f"{folder}/{n}" for n in sorted(names, key=natural_key)]


def _by_stem(names: Iterable[str]) -> dict[str, str]:
    """File stem -> file name (pairs match by name without extension, as everywhere in alseg)."""
    return {PurePath(n).stem: n for n in names}


def check_manifest(release: Release, images: Collection[str], masks: Collection[str], *,
                   check_test_names: bool = True) -> list[str]:
    """Check a copy's image and mask file names against the release; return warnings, raise on unusable copies.

    Images and masks pair by file name without extension. Refused (AlsegUsageError naming the files): an
    image without its mask or a mask without its image, and, when `check_test_names`, a copy holding none
    of the standard test images or nothing else. Warned (the copy still loads): a pair count other than the
    release's, standard test images missing (named), files of another extension than the release's (named).
    """
    image_stems, mask_stems = _by_stem(images), _by_stem(masks)
    problems = []
    lonely_images = [image_stems[s] for s in set(image_stems) - set(mask_stems)]
    lonely_masks = [mask_stems[s] for s in set(mask_stems) - set(image_stems)]
    if lonely_images:
        problems.append(f"{len(lonely_images)} image(s) have no mask of the same name: "
                        f"{name_some(_files(lonely_images, 'images'))}")
    if lonely_masks:
        problems.append(f"{len(lonely_masks)} mask(s) have no image of the same name: "
                        f"{name_some(_files(lonely_masks, 'masks'))}")
    if problems:
        raise AlsegUsageError(f"this {release.name} copy does not match the release's file manifest (one mask per "
                              "image, by name): " + "; ".join(problems) + ". Remove the extra files or restore the "
                              f"missing ones ({release.how_to_get})")
    notes: list[str] = []
    if len(image_stems) != release.pairs:
        notes.append(f"{release.name} holds {len(image_stems)} image/mask pairs where the release has "
                     f"{release.pairs}: results will not compare with published ones on the full dataset")
    foreign = [f"{folder}/{n}" for folder, names in (("images", images), ("masks", masks))
               for n in sorted(names, key=natural_key) if not n.lower().endswith(release.extension)]
    if foreign:
        notes.append(f"{len(foreign)} file(s) are not {release.extension} files as every file of the release is, "
                     f"so they are not part of it: {name_some(foreign)}")
    if check_test_names:
        test_stems = {PurePath(n).stem: n for n in release.test_names}
        present = set(test_stems) & set(image_stems)
        if not present:
            raise AlsegUsageError(f"none of the {len(test_stems)} standard {release.name} test images "
                                  f"({name_some(sorted(release.test_names, key=natural_key), 3)}) is in this copy, "
                                  f"so the standard split cannot be applied: use a complete copy "
                                  f"({release.how_to_get}), or pass --split-file")
        if present == set(image_stems):
            raise AlsegUsageError(f"this {release.name} copy holds only standard test images, so there is "
                                  f"nothing to train on: use a complete copy ({release.how_to_get})")
        missing = [test_stems[s] for s in set(test_stems) - present]
        if missing:
            notes.append(f"{len(missing)} of the {len(test_stems)} standard {release.name} test images are missing, "
                         f"so the test set is smaller than the published one: {name_some(_files(missing, 'images'))}")
    return notes
