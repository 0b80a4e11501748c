"""`alseg data fetch NAME`: download a dataset that has an official archive, or say how to obtain one that has not.

Kvasir-SEG is downloaded with pooch from its official URL and unpacked into DATA_ROOT/Kvasir-SEG. The release
publishes no checksum of its archive, so the archive is not checked against one: the unpacked copy is, by its
file manifest (1000 pairs, the 100 standard test images) and its content hash (`alseg.datasets.manifest`).
Without a network the download fails within a few seconds with the manual alternative (exit 2).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alseg.datasets import kvasir
from alseg.datasets.cache import sha256_file
from alseg.datasets.cvc import _how_to_get as cvc_how_to_get
from alseg.datasets.pairs import find_subdir
from alseg.errors import AlsegUsageError

CONNECT_TIMEOUT_S = 5.0  # an offline machine fails at once (refused, no DNS) or after this many seconds
READ_TIMEOUT_S = 60.0  # a stalled server is given up after this many seconds without a byte
ARCHIVE_NAME = "kvasir-seg.zip"
UNPACKING = ".kvasir-seg-unpacking"  # unpacked here first, then moved into place: no half-unpacked Kvasir-SEG/
FETCHABLE = ("kvasir-seg", "cvc-clinicdb")


@dataclass(frozen=True)
class Fetched:
    """A dataset copy in place after `fetch`: where, how many pairs, its content hash and what was noticed."""

    folder: Path
    data_dir: Path  # what to pass as --data-dir
    pairs: int
    content_sha256: str
    matches_release: bool
    downloaded: bool
    notes: tuple[str, ...]
    archive_sha256: str = ""  # of the archive downloaded now ("" when the copy was already there)


def _reason(exc: BaseException) -> str:
    """A short reason for a failed download (the OS error when there is one), not a chain of wrapped messages."""
    text = str(exc)
    errno = re.findall(r"\[Errno -?\d+\] [^'\"\)]+", text)
    if errno:
        return errno[-1].strip()
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def manual_instructions(data_root: Path, url: str) -> str:
    """How to obtain Kvasir-SEG by hand: the archive URL, where to unpack it, the --data-dir to pass."""
    return (f"download {url} by hand (official page: {kvasir.PAGE_URL}), unzip it into {data_root} so that "
            f"{data_root / kvasir.RELEASE_FOLDER / 'images'} and {data_root / kvasir.RELEASE_FOLDER / 'masks'} exist, "
            f"then run with --dataset kvasir-seg --data-dir {data_root}")


def _download(data_root: Path, url: str, progressbar: bool) -> Path:
    """Download the archive into data_root (pooch: temp file, then rename) and unpack it into UNPACKING."""
    try:
        import pooch
        import requests
    except ImportError as exc:
        raise AlsegUsageError(f"downloading needs the pooch package ({exc}): pip install 'pooch>=1.7', or "
                              + manual_instructions(data_root, url)) from exc
    if progressbar:
        try:
            import tqdm  # noqa: F401  (pooch draws its progress bar with tqdm, an optional package of pooch)
        except ImportError:
            progressbar = False
    shutil.rmtree(data_root / UNPACKING, ignore_errors=True)  # left by an interrupted unpack
    downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch's own advice ("use this value as known_hash") is not for alseg's users
    try:
        pooch.retrieve(url, known_hash=None, fname=ARCHIVE_NAME, path=data_root, downloader=downloader,
                       processor=pooch.Unzip(extract_dir=UNPACKING), progressbar=progressbar)
    except requests.RequestException as exc:
        raise AlsegUsageError(f"cannot download Kvasir-SEG from {url} ({_reason(exc)}): is this machine offline? "
                              "To install it without alseg: " + manual_instructions(data_root, url)) from exc
    except zipfile.BadZipFile as exc:
        raise AlsegUsageError(f"{data_root / ARCHIVE_NAME} is not a readable zip archive ({exc}): delete it and run "
                              "`alseg data fetch kvasir-seg` again, or " + manual_instructions(data_root, url)) from exc
    except OSError as exc:
        raise AlsegUsageError(f"cannot download or unpack Kvasir-SEG into {data_root} ({_reason(exc)}): free disk "
                              "space or choose another --data-root, or " + manual_instructions(data_root, url)) from exc
    finally:
        logger.setLevel(level)
    return data_root / UNPACKING


def _move_into_place(unpacked: Path, target: Path, archive: Path) -> None:
    """Move the unpacked Kvasir-SEG/ folder to target; refuse an archive that does not hold one."""
    inner = find_subdir(unpacked, kvasir.RELEASE_FOLDER)
    source = inner if inner is not None else unpacked
    if not kvasir.has_pairs_folders(source):
        shutil.rmtree(unpacked, ignore_errors=True)
        raise AlsegUsageError(f"{archive} does not unpack to {kvasir.RELEASE_FOLDER}/images + "
                              f"{kvasir.RELEASE_FOLDER}/masks, so it is not the Kvasir-SEG release: delete it and run "
                              "`alseg data fetch kvasir-seg` again")
    source.rename(target)
    shutil.rmtree(unpacked, ignore_errors=True)


def _quiet(_: str) -> None:
    """Default for `say`: print nothing."""


def fetch_kvasir(data_root: Path, *, url: str | None = None, progressbar: bool = True, cache_dir: Path | None = None,
                 say: Callable[[str], None] = _quiet) -> Fetched:
    """Put Kvasir-SEG into DATA_ROOT/Kvasir-SEG (downloaded unless there already), then check it.

    `say` receives one line before the download starts (the CLI prints it).
    """
    url = url or kvasir.ARCHIVE_URL
    data_root = Path(data_root).expanduser()
    target = data_root / kvasir.RELEASE_FOLDER
    downloaded = False
    archive_sha256 = ""
    if not target.exists():
        created = not data_root.exists()
        try:
            data_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AlsegUsageError(f"--data-root {data_root} cannot be created ({exc.strerror}): choose a folder you "
                                  "can write to") from exc
        say(f"downloading {url} into {data_root} (the release publishes no checksum: the unpacked files are "
            "checked instead)")
        try:
            unpacked = _download(data_root, url, progressbar)
        except AlsegUsageError:
            if created and not any(data_root.iterdir()):
                data_root.rmdir()  # leave no empty folder behind a failed first download
            raise
        archive_sha256 = sha256_file(data_root / ARCHIVE_NAME)
        _move_into_place(unpacked, target, data_root / ARCHIVE_NAME)
        downloaded = True
    elif not target.is_dir() or not kvasir.has_pairs_folders(target):
        raise AlsegUsageError(f"{target} exists but holds no images/ + masks/: move it aside and run "
                              "`alseg data fetch kvasir-seg` again")
    copy = kvasir.check_copy(target, cache_dir)
    return Fetched(folder=copy.folder, data_dir=data_root, pairs=len(copy.pairs), content_sha256=copy.content_sha256,
                   matches_release=copy.content_sha256 == kvasir.RELEASE_SHA256, downloaded=downloaded,
                   notes=tuple(copy.notes), archive_sha256=archive_sha256)


def fetch_dataset(name: str, data_root: Path, *, progressbar: bool = True, cache_dir: Path | None = None,
                  say: Callable[[str], None] = _quiet) -> Fetched:
    """Fetch a dataset by registry name; one without an official download URL is refused with how to get it."""
    if name == "kvasir-seg":
        return fetch_kvasir(data_root, progressbar=progressbar, cache_dir=cache_dir, say=say)
    if name == "cvc-clinicdb":
        raise cvc_how_to_get("alseg cannot download cvc-clinicdb")
    if name == "synthetic":
        raise AlsegUsageError("the synthetic dataset is generated in memory: there is nothing to fetch; run "
                              "alseg bench --dataset synthetic")
    if name == "folder":
        raise AlsegUsageError("the folder dataset is your own images/ + masks/: there is nothing to fetch; run "
                              "alseg bench --data-dir PATH")
    raise AlsegUsageError(f"unknown dataset {name!r}: alseg data fetch knows {', '.join(FETCHABLE)}")
