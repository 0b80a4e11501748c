"""Checks on option values that need no data: the flags given, each value's range, the name and output folder.

Each refusal is a usage error naming the option and the fix (the budget against the pool is checked once the
data is loaded).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from alseg.config_file import check_regime_value, check_type
from alseg.config_schema import OPTION_NAMES, REGIME_OPTIONS, BenchConfig, flag
from alseg.errors import AlsegUsageError
from alseg.precision import PRECISION_CHOICES
from alseg.regimes import fold_regimes


def check_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """The given (not None) option values, type-checked under their flag names."""
    given: dict[str, Any] = {}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in OPTION_NAMES:
            raise AlsegUsageError(f"unknown option '{name}'; valid options: {', '.join(OPTION_NAMES)}")
        check = check_regime_value if name in REGIME_OPTIONS else check_type
        given[name] = check(name, value, flag(name))
    if given.get("name") == "":
        raise AlsegUsageError("--name must not be empty; leave it out for the default <preset>-<dataset>")
    return given


_SAFE_NAME = re.compile(r"\w([\w.+-]*[\w+-])?")  # no trailing dot: Windows drops it
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def check_name(name: str) -> None:
    """Refuse an experiment name that is not one plain folder name (a path, '..', a hidden or odd name)."""
    if "/" in name or "\\" in name:
        raise AlsegUsageError(f"--name '{name}' is a path; give a plain folder name and choose the parent "
                              "folder with --out")
    if name.startswith("."):
        raise AlsegUsageError(f"--name '{name}' starts with a dot ('.', '..' and hidden folders are refused); "
                              "start it with a letter or digit")
    if not _SAFE_NAME.fullmatch(name) or len(name) > 100 or name.split(".")[0].lower() in _WINDOWS_RESERVED:
        raise AlsegUsageError(f"--name '{name}' is not a safe folder name: use up to 100 letters, digits, '-', "
                              "'_', '.' and '+', starting with a letter or digit (e.g. my-polyps)")


_DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")


def check_schedule(initial: int, budget: int, rounds: int) -> None:
    """The label schedule of one regime: at least 2 initial labels, at least 1 per round, 0 or more rounds."""
    for name, value in (("initial", initial), ("budget", budget)):
        if value < 1:
            raise AlsegUsageError(f"--{name} must be at least 1, got {value}")
    if initial < 2:
        raise AlsegUsageError("--initial must be at least 2 (BatchNorm needs two images per batch)")
    if rounds < 0:
        raise AlsegUsageError(f"--rounds must be 0 or more, got {rounds}")


def check_config(cfg: BenchConfig) -> BenchConfig:
    """Validate values that need no data (the budget against the pool is checked once the data is loaded).

    Lists of initial/budget/rounds values become a grid of regimes (`alseg.regimes.fold_regimes`); every
    regime's schedule is checked.
    """
    cfg = fold_regimes(cfg)
    for name in OPTION_NAMES:
        check_type(name, getattr(cfg, name), flag(name))
    if cfg.seeds < 1:
        raise AlsegUsageError(f"--seeds must be at least 1, got {cfg.seeds}")
    for regime in cfg.regimes or ((cfg.initial, cfg.budget, cfg.rounds),):
        check_schedule(*regime)
    for name in ("epochs", "batch_size", "initial_epochs"):
        if getattr(cfg, name) < 1:
            raise AlsegUsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    if cfg.batch_size < 2:
        raise AlsegUsageError("--batch-size must be at least 2 (BatchNorm needs two images per training batch)")
    if cfg.image_size < 32 or cfg.image_size % 32:
        size = max(32, round(cfg.image_size / 32) * 32)
        raise AlsegUsageError(f"--image-size must be a multiple of 32 (U-Net downsamples 5 times), got "
                              f"{cfg.image_size}; try {size}")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise AlsegUsageError(f"--lr must be a positive finite number (e.g. 0.001), got {cfg.lr}")
    if cfg.schedule not in ("constant", "cosine"):
        raise AlsegUsageError(f"--schedule must be 'constant' or 'cosine', got '{cfg.schedule}'")
    if cfg.train_mode not in ("finetune", "reset"):
        raise AlsegUsageError(f"--train-mode must be 'finetune' or 'reset', got '{cfg.train_mode}'")
    if not (cfg.selection_timeout >= 0 and math.isfinite(cfg.selection_timeout)):
        raise AlsegUsageError(f"--selection-timeout must be 0 (no limit) or a finite number of seconds, "
                              f"got {cfg.selection_timeout}")
    if cfg.threads < 0:
        raise AlsegUsageError(f"--threads must be 0 (torch's default) or a positive count, got {cfg.threads}")
    if not _DEVICE.fullmatch(cfg.device):
        raise AlsegUsageError(f"--device: unknown device '{cfg.device}'; use auto, cpu, cuda or cuda:N (N = 0, 1, ...)"
                              + (" (Apple's mps is not supported: use cpu)" if cfg.device == "mps" else ""))
    if cfg.workers < 1:
        raise AlsegUsageError(f"--workers must be at least 1, got {cfg.workers}")
    for dev in (d.strip() for d in cfg.devices.split(",")) if cfg.devices else ():
        if not _DEVICE.fullmatch(dev) or dev == "auto":
            raise AlsegUsageError(f"--devices: '{dev}' is not a device; give a comma-separated list such as "
                                  "cuda:0,cuda:1 (or cpu)")
    if cfg.executor not in ("local", "ray"):
        raise AlsegUsageError(f"--executor must be 'local' or 'ray', got '{cfg.executor}'")
    if cfg.address and cfg.executor != "ray":
        raise AlsegUsageError(f"--address {cfg.address} only says which Ray cluster --executor ray joins: add "
                              "--executor ray, or drop --address")
    if cfg.devices and cfg.executor == "ray":
        raise AlsegUsageError(f"--devices {cfg.devices}: with --executor ray, Ray gives each run one GPU of its "
                              "nodes; drop --devices (and use --device cuda)")
    if cfg.precision not in PRECISION_CHOICES:
        raise AlsegUsageError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}, got '{cfg.precision}'")
    for name in ("data_dir", "split_file", "cache_dir", "out"):
        if getattr(cfg, name) == "":
            raise AlsegUsageError(f"{flag(name)} must not be empty; give a path or leave the option out")
    if cfg.name:
        check_name(cfg.name)
    if cfg.extra_test:
        from alseg.extra_test import parse_extra_tests

        parse_extra_tests(cfg.extra_test)
    if cfg.replay and cfg.regimes:
        raise AlsegUsageError(f"--replay {cfg.replay} replays one experiment, whose regime is fixed: give "
                              "--initial, --budget and --rounds one value each (the source's)")
    if cfg.replay and not (Path(cfg.replay).expanduser() / "experiment.json").is_file():
        raise AlsegUsageError(f"--replay {cfg.replay}: not an alseg experiment folder (no experiment.json); give a "
                              "results/<experiment> folder written by `alseg bench`")
    return cfg


def _first_existing(path: Path) -> Path:
    """The path itself or its nearest ancestor that exists (a broken link counts as existing)."""
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path


def check_output(cfg: BenchConfig) -> None:
    """Refuse an --out / --name where the experiment folder cannot be created or written, before any data loads."""
    target = cfg.experiment_dir
    existing = _first_existing(target)
    if not existing.is_dir():
        what = "a file" if existing.is_file() else "not a folder"
        if existing == target:
            raise AlsegUsageError(f"--name {cfg.experiment_name}: {target} exists and is {what}, not an experiment "
                                  "folder; choose another --name or --out")
        if existing == Path(cfg.out):
            raise AlsegUsageError(f"--out {cfg.out} is {what}; give a folder (it is created if missing)")
        raise AlsegUsageError(f"--out {cfg.out}: {existing} is {what}, so no folder can be created under it; "
                              "choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AlsegUsageError(f"--out {cfg.out}: {existing} is not writable (permission denied); choose a folder "
                              "you can write to")
