"""One frozen config per experiment: presets, a TOML file, CLI overrides, and the protocol it fixes.

Precedence: preset < config file < flags given on the command line (a flag left unset never overrides).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from alseg.errors import AlsegUsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class BenchConfig:
    """Everything that defines a benchmark run; see `alseg bench --help` for each option."""

    preset: str = "quick"
    dataset: str = "synthetic"
    data_dir: str | None = None
    split_file: str | None = None
    cache_dir: str = "datasets/.cache"
    image_size: int = 64
    strategies: str = "all"
    exclude: str = ""
    seeds: int = 1
    initial: int = 20
    rounds: int = 4
    budget: int = 20
    epochs: int = 6
    initial_epochs: int = 12
    batch_size: int = 16
    lr: float = 1e-3
    schedule: str = "cosine"
    encoder: str = "timm-tf_efficientnet_lite0"
    encoder_weights: str = "imagenet"
    train_mode: str = "finetune"
    augment: bool = True
    device: str = "auto"
    deterministic: bool = False
    threads: int = 0
    full: bool = False
    selection_timeout: float = 0.0
    plugins: bool = True
    out: str = "results"
    name: str = ""

    @property
    def experiment_name(self) -> str:
        """Folder name under `out`: the given name or '<preset>-<dataset>'."""
        return self.name or f"{self.preset}-{self.dataset}"

    @property
    def experiment_dir(self) -> Path:
        return Path(self.out) / self.experiment_name


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

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "dataset": "synthetic",
        "image_size": 64,
        "seeds": 1,
        "initial": 20,
        "rounds": 4,
        "budget": 20,
        "epochs": 6,
        "initial_epochs": 12,
        "batch_size": 16,
        "lr": 1e-3,
        "encoder": "timm-tf_efficientnet_lite0",
        "encoder_weights": "imagenet",
    },
    "cpu": {
        "dataset": "cvc-clinicdb",
        "data_dir": "datasets/cvc-clinicdb",
        "image_size": 160,
        "seeds": 3,
        "initial": 30,
        "rounds": 5,
        "budget": 30,
        "epochs": 8,
        "initial_epochs": 16,
        "batch_size": 16,
        "lr": 1e-3,
        "encoder": "timm-tf_efficientnet_lite0",
        "encoder_weights": "imagenet",
    },
    "paper": {
        "dataset": "cvc-clinicdb",
        "data_dir": "datasets/cvc-clinicdb",
        "image_size": 352,
        "seeds": 3,
        "initial": 30,
        "rounds": 5,
        "budget": 30,
        "epochs": 5,
        "initial_epochs": 5,
        "batch_size": 16,
        "lr": 1e-4,
        "schedule": "constant",
        "encoder": "resnet34",
        "encoder_weights": "imagenet",
    },
}

PRESET_HELP = {
    "quick": "synthetic polyps at 64 px, every strategy, 1 seed: a few minutes on 2 CPU cores",
    "cpu": "CVC-ClinicDB at 160 px, ImageNet EfficientNet-Lite0, 30 + 5 x 30 labels, 3 seeds (docs/presets.md)",
    "paper": "the paper's protocol: 352 px, ResNet-34 ImageNet, 5 epochs per round, Adam 1e-4 (a GPU job)",
}

FIELD_NAMES = tuple(f.name for f in fields(BenchConfig))


def _normalise_keys(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept 'batch-size' and 'batch_size'; reject keys that are not options, naming the valid ones."""
    out = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in FIELD_NAMES:
            valid = ", ".join(f.replace("_", "-") for f in FIELD_NAMES)
            raise AlsegUsageError(f"invalid option '{key}' in {source}; valid options: {valid}")
        out[name] = value
    return out


def load_toml(path: Path) -> dict[str, Any]:
    """Read a config file whose keys are the long option names (a [bench] table or top level)."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise AlsegUsageError(f"--config: file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise AlsegUsageError(f"--config: {path} is not valid TOML: {err}") from err
    if isinstance(data.get("bench"), dict):
        data = data["bench"]
    return _normalise_keys(data, str(path))


def resolve_config(overrides: dict[str, Any], config_file: Path | None = None) -> BenchConfig:
    """Preset, then file, then explicit flags (None means 'not given')."""
    given = {k: v for k, v in overrides.items() if v is not None}
    from_file = load_toml(config_file) if config_file else {}
    preset = given.get("preset", from_file.get("preset", "quick"))
    if preset not in PRESETS:
        raise AlsegUsageError(f"unknown preset '{preset}'; valid presets: {', '.join(PRESETS)}")
    values: dict[str, Any] = {"preset": preset, **PRESETS[preset], **from_file, **given}
    try:
        cfg = BenchConfig(**values)
    except TypeError as err:
        raise AlsegUsageError(f"bad configuration: {err}") from err
    return check_config(cfg)


def check_config(cfg: BenchConfig) -> BenchConfig:
    """Validate values that need no data (the budget against the pool is checked once the data is loaded)."""
    ints = ("image_size", "seeds", "initial", "rounds", "budget", "epochs", "initial_epochs", "batch_size")
    for name in ints:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise AlsegUsageError(f"--{name.replace('_', '-')} must be an integer, got {value!r}")
    if cfg.seeds < 1:
        raise AlsegUsageError(f"--seeds must be at least 1, got {cfg.seeds}")
    for name in ("initial", "budget", "epochs", "batch_size", "initial_epochs"):
        if getattr(cfg, name) < 1:
            raise AlsegUsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    if cfg.initial < 2:
        raise AlsegUsageError("--initial must be at least 2 (BatchNorm needs two images per batch)")
    if cfg.rounds < 0:
        raise AlsegUsageError(f"--rounds must be 0 or more, got {cfg.rounds}")
    if cfg.image_size < 32 or cfg.image_size % 32:
        size = max(32, round(cfg.image_size / 32) * 32)
        raise AlsegUsageError(f"--image-size must be a multiple of 32 (U-Net downsamples 5 times), got "
                              f"{cfg.image_size}; try {size}")
    if not cfg.lr > 0:
        raise AlsegUsageError(f"--lr must be positive, got {cfg.lr}")
    if cfg.schedule not in ("constant", "cosine"):
        raise AlsegUsageError(f"--schedule must be 'constant' or 'cosine', got '{cfg.schedule}'")
    if cfg.train_mode not in ("finetune", "reset"):
        raise AlsegUsageError(f"--train-mode must be 'finetune' or 'reset', got '{cfg.train_mode}'")
    if cfg.selection_timeout < 0:
        raise AlsegUsageError("--selection-timeout must be 0 (no limit) or positive seconds")
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


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def to_toml(cfg: BenchConfig) -> str:
    """The resolved config as TOML that `alseg bench --config` reads back to the same config."""
    lines = ["# alseg bench config: rerun with `alseg bench --config config.toml`", "[bench]"]
    for key, value in asdict(cfg).items():
        if value is None:
            continue
        lines.append(f"{key.replace('_', '-')} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def with_updates(cfg: BenchConfig, **changes: Any) -> BenchConfig:
    """A copy of the config with some fields changed."""
    return replace(cfg, **changes)
