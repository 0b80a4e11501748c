"""One frozen config per experiment: presets, a TOML file, CLI overrides, and the protocol it fixes.

Precedence: preset < config file < flags given on the command line (a flag left unset never overrides).

This module resolves a config (`resolve_config`) and defines its protocol; the parts live beside it and are
re-exported here: the options (`alseg.config_schema`), presets (`alseg.presets`), config files in and out
(`alseg.config_file`) and the checks that need no data (`alseg.config_checks`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from alseg.config_checks import check_config, check_name, check_output, check_overrides
from alseg.config_file import bench_table, check_type, load_toml, read_config_text, to_toml, tomllib
from alseg.config_schema import FIELD_NAMES, INTERNAL_FIELDS, OPTION_NAMES, OPTION_TYPES, BenchConfig, flag
from alseg.errors import AlsegUsageError
from alseg.presets import PRESET_HELP, PRESETS

__all__ = [
    "FIELD_NAMES",
    "INTERNAL_FIELDS",
    "OPTION_NAMES",
    "OPTION_TYPES",
    "PRESETS",
    "PRESET_HELP",
    "PROTOCOL_FIELDS",
    "BenchConfig",
    "bench_table",
    "check_config",
    "check_name",
    "check_output",
    "check_overrides",
    "check_type",
    "choose_dataset",
    "detect",
    "flag",
    "load_toml",
    "protocol_hash",
    "protocol_of",
    "read_config_text",
    "resolve_config",
    "to_toml",
    "tomllib",  # the TOML reader in use (tomllib, or tomli before Python 3.11)
    "with_updates",
]

# Settings that change what one (strategy, seed) run computes: results made under different values
# never mix. Strategies, seeds, device, paths and output options only choose or place runs.
PROTOCOL_FIELDS = (
    "dataset",
    "image_size",
    "initial",
    "rounds",
    "budget",
    "epochs",
    "initial_epochs",
    "batch_size",
    "lr",
    "schedule",
    "encoder",
    "encoder_weights",
    "train_mode",
    "augment",
)


def resolve_config(overrides: dict[str, Any], config_file: Path | None = None) -> BenchConfig:
    """Preset, then file, then explicit flags (None means 'not given'); every check that needs no data."""
    given = check_overrides(overrides)
    from_file = load_toml(config_file) if config_file else {}
    user = {**from_file, **given}
    preset = user.get("preset", "quick")
    if preset not in PRESETS:
        raise AlsegUsageError(f"unknown preset '{preset}'; valid presets: {', '.join(PRESETS)}")
    cfg = check_config(BenchConfig(**{"preset": preset, **PRESETS[preset], **user}))
    cfg = choose_dataset(cfg, user)
    check_output(cfg)
    return cfg


def detect(data_dir: Path) -> tuple[str, str]:
    """The dataset in a folder and a one-line message saying so (alseg.datasets.detect, imported when needed)."""
    from alseg.datasets.detect import detect_dataset

    return detect_dataset(data_dir)


def choose_dataset(cfg: BenchConfig, user: dict[str, Any]) -> BenchConfig:
    """Detect the dataset of a user-given data dir when no dataset is given; refuse synthetic with a folder.

    `user` holds what the flags and the config file set. A preset's own data_dir triggers nothing, even when
    repeated by a stored config.toml (older ones kept it beside dataset = "synthetic").
    """
    data_dir = user.get("data_dir")
    if data_dir == PRESETS.get(cfg.preset, {}).get("data_dir"):
        data_dir = None
    if data_dir and "dataset" not in user:
        name, note = detect(Path(data_dir).expanduser())
        return replace(cfg, dataset=name, notes=(*cfg.notes, note))
    if cfg.dataset == "synthetic":
        if data_dir:
            raise AlsegUsageError(f"--dataset synthetic takes no --data-dir (it is generated in memory): drop "
                                  f"--data-dir {data_dir}, or name its dataset with --dataset folder or cvc-clinicdb")
        if cfg.data_dir:  # the preset's folder belongs to its own dataset
            return replace(cfg, data_dir=None)
    preset = PRESETS.get(cfg.preset, {})
    if not data_dir and cfg.data_dir == preset.get("data_dir") and cfg.dataset != preset.get("dataset"):
        return replace(cfg, data_dir=None)  # e.g. --preset cpu --dataset kvasir-seg: not CVC-ClinicDB's folder
    return cfg


def protocol_of(cfg: BenchConfig, data_fingerprint: str, encoder_weights_sha: str = "") -> dict[str, Any]:
    """The settings that must agree for runs to be comparable or resumed, plus the data's fingerprint."""
    proto = {name: getattr(cfg, name) for name in PROTOCOL_FIELDS}
    proto["data_fingerprint"] = data_fingerprint
    if encoder_weights_sha:
        proto["encoder_weights_sha256"] = encoder_weights_sha
    return proto


def protocol_hash(protocol: dict[str, Any]) -> str:
    """A stable short hash of a protocol dict."""
    return hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]


def with_updates(cfg: BenchConfig, **changes: Any) -> BenchConfig:
    """A copy of the config with some fields changed."""
    return replace(cfg, **changes)
