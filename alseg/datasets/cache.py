"""On-disk cache of decoded, resized datasets: decode each source file once, verify on every load."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from alseg.datasets.decode import DECODER_VERSION

CACHE_FORMAT = 2  # 2: meta.json holds the decoder version and the decoding warnings
# Frozen: the "decode=1" tag is part of every stored dataset fingerprint (experiments compare fingerprints to
# refuse changed data), so it must never change. Decoding changes bump DECODER_VERSION, which is part of the
# cache key instead: stale cached arrays are rebuilt while fingerprints stay the same.
FINGERPRINT_VERSION = 1
_CHUNK_BYTES = 1 << 20


class CacheWarning(UserWarning):
    """A cache was stale, corrupt or unwritable; alseg went on without trusting it."""


def sha256_file(path: Path) -> str:
    """Stream a file through SHA-256, so large files never sit in memory whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


MANIFEST_DIGITS = 16  # hex digits of a file's sha256 kept in a data manifest


def fingerprint_files(root: Path, files: Iterable[Path], image_size: int,
                      manifest: dict[str, str] | None = None) -> str:
    """Hash file names (relative to root) and bytes plus image_size: any edit gives a new fingerprint.

    `manifest`, when given, is filled with name -> short sha256 of each file (read in the same pass), so
    that a changed data folder can be explained file by file.
    """
    digest = hashlib.sha256()
    digest.update(f"alseg-files/decode={FINGERPRINT_VERSION}/size={int(image_size)}\n".encode())
    for path in files:
        try:
            name = path.relative_to(root).as_posix()
        except ValueError:
            name = path.as_posix()
        encoded = name.encode("utf-8", "surrogateescape")
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
        digest.update(path.stat().st_size.to_bytes(8, "little"))
        own = hashlib.sha256() if manifest is not None else None
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
                if own is not None:
                    own.update(chunk)
        if manifest is not None and own is not None:
            manifest[name] = own.hexdigest()[:MANIFEST_DIGITS]
    return digest.hexdigest()


def cache_folder(cache_dir: Path, dataset: str, image_size: int, fingerprint: str) -> Path:
    """Folder that holds one dataset at one size: fingerprint and decoder version in the name keep versions apart."""
    return Path(cache_dir) / f"{dataset}-{int(image_size)}px-{fingerprint[:16]}-d{DECODER_VERSION}"


def _warn(message: str) -> None:
    """Emit a cache warning; a named category lets callers filter or escalate it."""
    warnings.warn(message, CacheWarning, stacklevel=3)


def _try_load(
    folder: Path, fingerprint: str, ids: tuple[str, ...], image_size: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]] | str:
    """Load a verified cache as read-only memmaps, or return the reason why it cannot be trusted."""
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "meta.json is missing"
    except (OSError, ValueError) as exc:
        return f"meta.json is unreadable ({exc})"
    if not isinstance(meta, dict):
        return "meta.json is not an object"
    if meta.get("format") != CACHE_FORMAT or meta.get("fingerprint") != fingerprint:
        return "meta.json belongs to another format or source"
    if meta.get("decoder") != DECODER_VERSION:
        return "meta.json was written by another decoder version"
    notes = meta.get("warnings")
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        return "meta.json has no list of warnings"
    if meta.get("ids") != list(ids) or meta.get("image_size") != image_size:
        return "meta.json lists other ids or another size"
    checksums = meta.get("sha256")
    if not isinstance(checksums, dict):
        return "meta.json has no checksums"
    n = len(ids)
    expected = {
        "images.npy": ((n, image_size, image_size, 3), np.dtype(np.uint8)),
        "masks.npy": ((n, image_size, image_size), np.dtype(np.bool_)),
    }
    arrays = []
    for filename, (shape, dtype) in expected.items():
        path = folder / filename
        try:
            if sha256_file(path) != checksums.get(filename):
                return f"{filename} fails its checksum"
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            return f"{filename} is missing"
        except (OSError, ValueError) as exc:
            return f"{filename} is unreadable ({exc})"
        if array.shape != shape or array.dtype != dtype:
            return f"{filename} has shape {array.shape} {array.dtype}, expected {shape} {dtype}"
        arrays.append(array)
    return arrays[0], arrays[1], tuple(notes)


def _atomic_write(folder: Path, filename: str, write: Callable[[object], None]) -> None:
    """Write through a temp file in the same folder and os.replace it: readers never see half a file."""
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, folder / filename)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise


def _write(
    folder: Path,
    dataset: str,
    fingerprint: str,
    ids: tuple[str, ...],
    image_size: int,
    images: np.ndarray,
    masks: np.ndarray,
    notes: Sequence[str],
) -> None:
    """Write both arrays, then meta.json last, so a complete meta.json means a complete cache."""
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder, "images.npy", lambda h: np.save(h, images, allow_pickle=False))
    _atomic_write(folder, "masks.npy", lambda h: np.save(h, masks, allow_pickle=False))
    meta = {
        "format": CACHE_FORMAT,
        "decoder": DECODER_VERSION,
        "dataset": dataset,
        "image_size": image_size,
        "fingerprint": fingerprint,
        "ids": list(ids),
        "sha256": {name: sha256_file(folder / name) for name in ("images.npy", "masks.npy")},
        "warnings": list(notes),
    }
    payload = json.dumps(meta, indent=1).encode("utf-8")
    _atomic_write(folder, "meta.json", lambda h: h.write(payload))


def load_or_build(
    *,
    cache_dir: Path | None,
    dataset: str,
    image_size: int,
    fingerprint: str,
    ids: tuple[str, ...],
    build: Callable[[], tuple[np.ndarray, np.ndarray, tuple[str, ...]]],
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Return (images, masks, warnings) from a verified cache, or build them and cache them for next time.

    The decoding warnings are stored with the arrays, so that a cache hit tells the user the same things.
    """
    if cache_dir is None:
        return build()
    folder = cache_folder(cache_dir, dataset, image_size, fingerprint)
    if folder.exists():
        loaded = _try_load(folder, fingerprint, ids, image_size)
        if not isinstance(loaded, str):
            return loaded
        _warn(f"dataset cache {folder} was not trusted ({loaded}); rebuilding it from the source files")
    images, masks, notes = build()
    try:
        _write(folder, dataset, fingerprint, ids, image_size, images, masks, notes)
    except OSError as exc:
        _warn(f"cannot write the dataset cache in {cache_dir} ({exc}); continuing without a cache")
    return images, masks, tuple(notes)
