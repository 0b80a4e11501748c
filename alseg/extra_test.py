"""`--extra-test NAME[:PATH]`: every round's model is also evaluated on another dataset's test split.

A polyp model trained on one dataset is always reported on another too (PraNet's protocol); here the question is
whether a strategy's labeled set generalises better. The extra test split is read at the experiment's image size and
used for nothing but this evaluation: no training, no selection, no tuning. Its metrics are stored in each round
record under `extra_test` ({NAME: {dice, iou, miou}}), and the report gives them their own curves, AUBC and tests.
Evaluation does not change training, so the extra tests are not part of the protocol; they are recorded in
experiment.json, and a folder is resumed only with the same ones (records of one folder then always agree).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alseg.datasets.base import SegDataset
from alseg.errors import AlsegUsageError

EXTRA_TEST_KEY = "extra_test"  # the round record's key: {NAME: {metric: value}}


@dataclass(frozen=True)
class ExtraTestSpec:
    """One `--extra-test` entry: a registered dataset name and, optionally, its folder."""

    name: str
    data_dir: str | None = None

    @property
    def text(self) -> str:
        return self.name if self.data_dir is None else f"{self.name}:{self.data_dir}"


def parse_extra_tests(text: str) -> list[ExtraTestSpec]:
    """Parse 'NAME[:PATH],NAME[:PATH]' (the option's value); refuse empty or repeated names."""
    from alseg.datasets import DATASETS

    specs: list[ExtraTestSpec] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, path = item.partition(":")
        name = name.strip()
        if name not in DATASETS or name == "folder":
            valid = ", ".join(n for n in DATASETS if n != "folder")
            raise AlsegUsageError(f"--extra-test {item}: unknown dataset '{name}'; use NAME[:PATH] with NAME one of "
                                  f"{valid} (a dataset with a built-in test split)")
        if any(s.name == name for s in specs):
            raise AlsegUsageError(f"--extra-test names {name} twice: give each extra test dataset once")
        specs.append(ExtraTestSpec(name, path.strip() or None))
    return specs


@dataclass(frozen=True, eq=False)
class ExtraTest:
    """The test split of another dataset, at the experiment's image size: images, masks and identity."""

    name: str
    images: np.ndarray  # (n, S, S, 3) uint8, the test rows only
    masks: np.ndarray  # (n, S, S) bool
    fingerprint: str
    manifest_sha256: str
    placed: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False)  # device -> (images, masks)

    @property
    def rows(self) -> np.ndarray:
        """Indices of every image (the arrays hold the test split only)."""
        return np.arange(len(self.images), dtype=np.int64)

    def on(self, device: torch.device) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]:
        """Images and masks where the model runs (copied to an accelerator once)."""
        from alseg.experiment import on_device

        key = str(device)
        if key not in self.placed:
            self.placed[key] = (on_device(self.images, device), on_device(self.masks, device))
        return self.placed[key]

    def info(self) -> dict[str, Any]:
        """What experiment.json records of it (a resume must use the same split of the same files)."""
        return {"name": self.name, "n_test": len(self.images), "fingerprint": self.fingerprint,
                "manifest_sha256": self.manifest_sha256}


def manifest_digest(manifest: dict[str, str]) -> str:
    """SHA-256 of a dataset's file manifest (name → file hash), '' for generated data."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest() if manifest else ""


def extra_test_of(data: SegDataset) -> ExtraTest:
    """The test split of a loaded dataset as an extra test."""
    if not len(data.test):
        raise AlsegUsageError(f"--extra-test {data.name}: the dataset has no test split to evaluate on")
    return ExtraTest(data.name, np.ascontiguousarray(data.images[data.test]),
                     np.ascontiguousarray(data.masks[data.test]), data.fingerprint, manifest_digest(data.manifest))


def load_extra_tests(specs: Sequence[ExtraTestSpec], main: SegDataset, image_size: int, cache_dir: Path,
                     progress: Callable[[str, int, int], None] | None = None) -> tuple[ExtraTest, ...]:
    """Load each extra test dataset at the experiment's image size; refuse the experiment's own dataset."""
    from alseg.datasets import load_dataset

    tests = []
    for spec in specs:
        if spec.name == main.name:
            raise AlsegUsageError(f"--extra-test {spec.text}: that is the experiment's own dataset, whose test split "
                                  "every round is evaluated on already; name another dataset")
        try:
            data = load_dataset(spec.name, data_dir=Path(spec.data_dir).expanduser() if spec.data_dir else None,
                                image_size=image_size, cache_dir=cache_dir,
                                progress=(lambda done, total, n=spec.name: progress(n, done, total)) if progress
                                else None)
        except AlsegUsageError as err:
            # The dataset's own message speaks of --data-dir, the main dataset's option: say which option failed.
            raise AlsegUsageError(f"--extra-test {spec.text}: {err} (for an extra test, that folder is the DIR of "
                                  f"--extra-test {spec.name}:DIR)") from err
        tests.append(extra_test_of(data))
    return tuple(tests)


def check_extra_tests(stored: list[dict[str, Any]] | None, tests: Sequence[ExtraTest], folder: Path) -> None:
    """Refuse to resume a folder with other extra tests than its runs were evaluated on."""
    stored = stored or []
    now = [t.info() for t in tests]
    if stored == now:
        return

    def names(infos: list[dict[str, Any]]) -> str:
        return ", ".join(i["name"] for i in infos) or "none"

    if [i["name"] for i in stored] == [i["name"] for i in now]:
        raise AlsegUsageError(f"{folder}: its runs were evaluated on another copy of the extra test data "
                              f"({names(stored)}: different files or split); point --extra-test at the same folder, "
                              "or start a new experiment with --name")
    raise AlsegUsageError(f"{folder}: its runs are evaluated on extra tests {names(stored)}, not {names(now)}; "
                          f"rerun with the same --extra-test, or start a new experiment with --name")
