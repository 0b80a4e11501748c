"""Train/test splits of a paired dataset: split files (found, parsed, checked) or a seeded random split."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from alseg.datasets.base import name_some
from alseg.datasets.cache import MANIFEST_DIGITS
from alseg.datasets.pairs import Pair, _relative
from alseg.errors import AlsegUsageError

SPLIT_FILE_NAMES = ("split.json", "split.csv", "splits.json")
TEST_FRACTION = 0.1


def add_split_to_manifest(manifest: dict[str, str], root: Path, split_path: Path | None) -> dict[str, str]:
    """Add the split file (relative to root when inside it) to a data manifest; returns the manifest."""
    if split_path is not None:
        try:
            name = split_path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            name = str(split_path.resolve())
        manifest[name] = hashlib.sha256(split_path.read_bytes()).hexdigest()[:MANIFEST_DIGITS]
    return manifest


def _plural(n: int, one: str, many: str) -> str:
    """'1 entry' / '3 entries'."""
    return f"{n} {one if n == 1 else many}"


def entry_lookup(pairs: Sequence[Pair], root: Path) -> dict[str, dict[str, int]]:
    """The three ways a split entry may name a pair: its id, a file name, or a path relative to root."""
    lookup: dict[str, dict[str, int]] = {"id": {}, "name": {}, "path": {}}
    for i, pair in enumerate(pairs):
        lookup["id"][pair.id] = i
        for path in (pair.image, pair.mask):
            lookup["name"].setdefault(path.name, i)
            lookup["path"][_relative(path, root)] = i
    return lookup


def resolve_entry(entry: object, lookup: dict[str, dict[str, int]]) -> int | str:
    """Index of the pair a split entry names, or why it names none ("outside" or "unknown").

    An entry is an id (the file stem, "7"), a file name ("7.png": the image's or the mask's actual name),
    or a path relative to the data folder ("images/7.png"). Absolute paths and ".." leave the folder and are
    refused, and a name or path must match an actual file: a matching stem alone is not enough.
    """
    if isinstance(entry, bool) or not isinstance(entry, (str, int)):
        return "unknown"
    text = str(entry).strip().replace("\\", "/")
    if not text:
        return "unknown"
    parts = PurePosixPath(text).parts
    if text.startswith("/") or re.match(r"[A-Za-z]:/", text) or ".." in parts:
        return "outside"
    parts = tuple(part for part in parts if part != ".")
    if len(parts) > 1:
        return lookup["path"].get("/".join(parts), "unknown")
    if not parts:
        return "unknown"
    name = parts[0]
    found = lookup["id"].get(name, lookup["name"].get(name))
    return "unknown" if found is None else found


def _check_entries(path: Path, root: Path, ids: Sequence[str], entries: dict[str, list[object]],
                   lookup: dict[str, dict[str, int]]) -> dict[str, list[int]]:
    """Resolve train and test entries, refusing in one message every kind of bad entry (up to 10 of each)."""
    resolved: dict[str, list[int]] = {}
    outside: list[str] = []
    unknown: list[str] = []
    doubled: list[str] = []
    for split, items in entries.items():
        resolved[split] = []
        spelled: dict[int, list[str]] = {}
        for item in items:
            where = resolve_entry(item, lookup)
            shown = repr(item) if isinstance(item, str) else json.dumps(item)
            if where == "outside":
                outside.append(shown)
            elif where == "unknown":
                unknown.append(shown)
            else:
                resolved[split].append(where)
                spelled.setdefault(where, []).append(shown)
        twice = sorted(i for i, count in Counter(resolved[split]).items() if count > 1)
        doubled += [f"{ids[i]} in {split} (as {', '.join(spelled[i])})" for i in twice]
    problems: list[str] = []
    if outside:
        problems.append(f"{_plural(len(outside), 'entry points', 'entries point')} outside the data folder "
                        f"{root}: {name_some(outside)}; name files by id (7), file name (7.png) or a path inside "
                        "the data folder (images/7.png)")
    if unknown:
        problems.append(f"{_plural(len(unknown), 'entry names', 'entries name')} no file of the dataset: "
                        f"{name_some(unknown)}; use ids (file names without extension, e.g. 7), actual file names "
                        "(7.png) or paths relative to the data folder (images/7.png)")
    if doubled:
        problems.append(f"{_plural(len(doubled), 'image is', 'images are')} listed more than once: "
                        f"{name_some(doubled)}; list each image once")
    both = sorted(set(resolved["train"]) & set(resolved["test"]))
    if both:
        problems.append(f"{_plural(len(both), 'image is', 'images are')} in both train and test: "
                        f"{name_some([ids[i] for i in both])}; list each image in one split only")
    for split, items in entries.items():
        if not items:
            problems.append(f"the {split} split is empty; list at least one {split} image")
    if problems:
        raise AlsegUsageError(f"split file {path}: " + "; ".join(problems))
    return resolved


def _parse_split_file(path: Path) -> tuple[list[object], list[object]]:
    """Read train and test entries from a JSON ({"train": [...], "test": [...]}) or CSV (id,split) file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise AlsegUsageError(f"cannot read split file {path} ({exc.strerror}): check the path") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise AlsegUsageError(f"split file {path} is not valid JSON ({exc}): fix the file") from exc
        if not (isinstance(data, dict) and isinstance(data.get("train"), list) and isinstance(data.get("test"), list)):
            raise AlsegUsageError(f'split file {path} must be a JSON object {{"train": [...], "test": [...]}}')
        return data["train"], data["test"]
    if path.suffix.lower() == ".csv":
        rows = csv.DictReader(text.splitlines())
        header = [h.strip().lower() for h in (rows.fieldnames or [])]
        if "id" not in header or "split" not in header:
            raise AlsegUsageError(f"split file {path} needs a header line with columns id,split")
        rows.fieldnames = header
        train, test = [], []
        for line, row in enumerate(rows, start=2):
            which = (row.get("split") or "").strip().lower()
            if which not in ("train", "test"):
                raise AlsegUsageError(
                    f"split file {path}, line {line}: split must be train or test, got {row.get('split')!r}"
                )
            (train if which == "train" else test).append(row.get("id") or "")
        return train, test
    raise AlsegUsageError(f"split file {path} must end in .json or .csv")


def split_from_file(path: Path, pairs: Sequence[Pair], root: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Build train/test indices from a split file; entries outside the folder, unknown, doubled or in both
    splits, and empty splits are refused (see `resolve_entry` for what an entry may be)."""
    ids = [p.id for p in pairs]
    train_entries, test_entries = _parse_split_file(path)
    resolved = _check_entries(path, root, ids, {"train": train_entries, "test": test_entries},
                              entry_lookup(pairs, root))
    train_idx = np.unique(np.asarray(resolved["train"], dtype=np.int64))
    test_idx = np.unique(np.asarray(resolved["test"], dtype=np.int64))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    source = f"split file {path} (sha256 {digest})"
    unused = len(ids) - train_idx.size - test_idx.size
    if unused:
        source += f"; {unused} image(s) in neither split, unused"
    return train_idx, test_idx, source


def seeded_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Random split with TEST_FRACTION (at least one) held out, reproducible from the seed."""
    if n < 2:
        raise AlsegUsageError("a dataset needs at least 2 image/mask pairs to split into train and test")
    n_test = min(n - 1, max(1, round(n * TEST_FRACTION)))
    order = np.random.default_rng(seed).permutation(n)
    test = np.sort(order[:n_test]).astype(np.int64)
    train = np.sort(order[n_test:]).astype(np.int64)
    return train, test, f"seeded random split: seed={seed}, test fraction {TEST_FRACTION}"


def find_split_file(root: Path) -> Path | None:
    """Look for split.json / split.csv / splits.json in the dataset folder; more than one is ambiguous."""
    found = [root / name for name in SPLIT_FILE_NAMES if (root / name).is_file()]
    if len(found) > 1:
        raise AlsegUsageError(
            f"{root} holds several split files ({', '.join(p.name for p in found)}): "
            "keep one, or choose one with the split file option"
        )
    return found[0] if found else None


def check_split_file(split_file: Path | str) -> Path:
    """Resolve a user-given split file path, failing early when it does not exist."""
    path = Path(split_file).expanduser()
    if not path.is_file():
        raise AlsegUsageError(f"split file {path} not found: check the path")
    return path
