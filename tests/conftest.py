"""Shared fixtures: a tiny benchmark config (32 px synthetic, an untrained timm test encoder) in tmp_path."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

# pytest-xdist workers start with COLUMNS=80 in their environment; rich would then fix every console at 80
# columns when alseg.cli is imported, whatever width a test asks for (CliRunner's env sets COLUMNS per call).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

from alseg.config import BenchConfig, resolve_config
from alseg.records import CONTEXT_FIELDS, TIMING_FIELDS

# The smallest protocol that still exercises every part of the loop (a few seconds per strategy on a CPU).
TINY: dict[str, Any] = {
    "dataset": "synthetic",
    "image_size": 32,
    "initial": 6,
    "rounds": 1,
    "budget": 4,
    "epochs": 1,
    "initial_epochs": 1,
    "batch_size": 16,  # one batch per epoch for training; larger batches make the pool pass cheap
    "threads": 1,  # two torch threads on two shared cores can be 50x slower than one (OpenMP spinning)
    "encoder": "tu-test_efficientnet",
    "encoder_weights": "none",
    "device": "cpu",
    "strategies": "random",
    "plugins": False,
    "name": "tiny",
}

# The same protocol as command-line flags (for CliRunner tests).
TINY_ARGS = [
    "--image-size", "32", "--initial", "6", "--rounds", "1", "--budget", "4", "--epochs", "1",
    "--initial-epochs", "1", "--batch-size", "16", "--threads", "1", "--encoder", "tu-test_efficientnet",
    "--encoder-weights", "none", "--device", "cpu", "--no-plugins", "--quiet",
]


def tiny_config(root: Path, **overrides: Any) -> BenchConfig:
    """A tiny BenchConfig whose results (`out`) and dataset cache live under `root`."""
    values = {**TINY, "out": str(root / "results"), "cache_dir": str(root / "cache"), **overrides}
    return resolve_config(values)


@pytest.fixture
def tiny_cfg(tmp_path: Path):
    """Factory: tiny_cfg(**overrides) -> BenchConfig with out and cache_dir in tmp_path."""

    def make(**overrides: Any) -> BenchConfig:
        return tiny_config(tmp_path, **overrides)

    return make


@pytest.fixture(scope="session")
def synthetic32():
    """The synthetic dataset at 32 px (read-only arrays, so sharing it between tests is safe)."""
    from alseg.datasets.synthetic import load_synthetic

    return load_synthetic(image_size=32)


_TIMING = re.compile(rb'"(' + b"|".join(f.encode() for f in TIMING_FIELDS) + rb')": -?[0-9.eE+-]+')
_COMPUTED_ON = re.compile(rb'"computed_on": \{[^{}]*\}')


def strip_timing(raw: bytes) -> bytes:
    """Run-file bytes with the values of the timing fields and the computed_on stamp blanked (the rest kept)."""
    return _COMPUTED_ON.sub(b'"computed_on": {}', _TIMING.sub(rb'"\1": 0', raw))


def read_records(path: Path, drop_timing: bool = True) -> list[dict[str, Any]]:
    """The JSON records of a run file, optionally without the timing fields."""
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if drop_timing:
            for key in TIMING_FIELDS + CONTEXT_FIELDS:
                rec.pop(key, None)
        out.append(rec)
    return out


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under root (to show that nothing was changed)."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
