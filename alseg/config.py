"""One frozen config per experiment: presets, a TOML file, CLI overrides, and the protocol it fixes.

Precedence: preset < config file < flags given on the command line (a flag left unset never overrides).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import re
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_args, get_type_hints

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
    allow_empty_masks: bool = False
    allow_majority_foreground: bool = False
    # Messages for the user made while resolving (e.g. which dataset was detected): printed and stored in
    # experiment.json, never part of config.toml or the protocol.
    notes: tuple[str, ...] = field(default=(), compare=False)

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
# Fields that resolving fills in: not options, so no flag, no config-file key, not in config.toml.
INTERNAL_FIELDS = ("notes",)
OPTION_NAMES = tuple(name for name in FIELD_NAMES if name not in INTERNAL_FIELDS)

_KIND = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _option_types() -> dict[str, tuple[type, bool]]:
    """Each option's scalar type and whether it may be None, read from BenchConfig's annotations (the one rule)."""
    hints = get_type_hints(BenchConfig)
    types: dict[str, tuple[type, bool]] = {}
    for name in OPTION_NAMES:
        args = get_args(hints[name])
        scalars = [a for a in args if a is not type(None)] if args else [hints[name]]
        if len(scalars) != 1 or scalars[0] not in _KIND:
            raise TypeError(f"BenchConfig.{name}: option type {hints[name]} is not bool, int, float, str or X | None")
        types[name] = (scalars[0], type(None) in args)
    return types


OPTION_TYPES = _option_types()


def flag(name: str) -> str:
    """The command-line flag of a field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def _describe(value: Any) -> str:
    """A value as the user wrote it, for messages: the string '2', the boolean true, a list [1, 2]."""
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, list):
        text = repr(value)
        return f"a list {text if len(text) <= 40 else text[:37] + '...'}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.date, datetime.time)):
        return f"the date/time {value.isoformat()}"
    return f"a {type(value).__name__} {value!r}"


_TRUE_WORDS, _FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _toml_hint(key: str, kind: type, value: Any) -> str:
    """How to write a mistyped config-file value correctly, when the intent is clear ('' when it is not)."""
    if isinstance(value, str) and kind in (int, float):
        try:
            number = int(value.strip()) if kind is int else float(value.strip())
        except ValueError:
            return ""
        return f" (write {key} = {number!r} without quotes)" if math.isfinite(number) else ""
    if isinstance(value, float) and kind is int and math.isfinite(value) and value.is_integer():
        return f" (write {key} = {int(value)})"
    if kind is bool and isinstance(value, (str, int)):
        word = str(value).strip().lower()
        if word in _TRUE_WORDS + _FALSE_WORDS:
            quotes = " without quotes" if isinstance(value, str) else ""
            return f" (write {key} = {'true' if word in _TRUE_WORDS else 'false'}{quotes})"
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f' (write {key} = "{value}" with quotes)'
    if kind is str and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return f" (write {key} = {_toml_string(','.join(value))}, one comma-separated string)"
    return ""


def check_type(name: str, value: Any, where: str, key: str = "") -> Any:
    """The value if it fits the option's annotated type (an int is widened to float), else a usage error.

    `where` starts the message ('--lr' or "config.toml: key 'lr'"); `key` (config files) adds how to write it.
    """
    kind, optional = OPTION_TYPES[name]
    if value is None and optional:
        return None
    is_bool = isinstance(value, bool)  # a bool is an int to Python, never to alseg
    if kind is float and isinstance(value, int) and not is_bool:
        return float(value)
    if isinstance(value, kind) and is_bool == (kind is bool):
        return value
    hint = _toml_hint(key, kind, value) if key else ""
    raise AlsegUsageError(f"{where} must be {_KIND[kind]}, got {_describe(value)}{hint}")


def _normalise_keys(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept 'batch-size' and 'batch_size'; reject keys that are not options (naming the valid ones) or repeats."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in OPTION_NAMES:
            valid = ", ".join(f.replace("_", "-") for f in OPTION_NAMES)
            raise AlsegUsageError(f"invalid option '{key}' in {source}; valid options: {valid}")
        if name in spelled:
            raise AlsegUsageError(f"{source}: keys '{spelled[name]}' and '{key}' are the same option; keep one")
        spelled[name] = key
        out[name] = check_type(name, value, f"{source}: key '{key}'", key)
    return out


def read_config_text(path: Path) -> str:
    """The text of a --config file, or a usage error naming the path (missing, a folder, unreadable, not UTF-8)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise AlsegUsageError(f"--config: file {path} does not exist") from err
    except IsADirectoryError as err:
        hint = f"; did you mean {path / 'config.toml'}?" if (path / "config.toml").is_file() else ""
        raise AlsegUsageError(f"--config: {path} is a folder, not a TOML file{hint}") from err
    except PermissionError as err:
        raise AlsegUsageError(f"--config: cannot read {path}: permission denied") from err
    except OSError as err:
        raise AlsegUsageError(f"--config: cannot read {path}: {err.strerror or err}") from err
    try:
        return raw.decode("utf-8-sig")  # a BOM (Windows editors) is harmless
    except UnicodeDecodeError as err:
        raise AlsegUsageError(f"--config: {path} is not UTF-8 text (bad byte at offset {err.start}); "
                              "save it as UTF-8") from err


def bench_table(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The options of a parsed config file: its [bench] table (nothing beside it), or its top level."""
    if "bench" not in data:
        tables = [f"[{k}]" for k, v in data.items() if isinstance(v, dict) and k.replace("-", "_") not in OPTION_NAMES]
        if tables:
            raise AlsegUsageError(f"{source}: table {', '.join(tables)} is not part of an alseg config; "
                                  "put the options in a [bench] table")
        return data
    if not isinstance(data["bench"], dict):
        raise AlsegUsageError(f"{source}: 'bench' must be the table [bench] holding the options, "
                              f"got {_describe(data['bench'])}")
    outside = [f"[{k}]" if isinstance(v, dict) else f"'{k}'" for k, v in data.items() if k != "bench"]
    if outside:
        raise AlsegUsageError(f"{source}: {', '.join(outside)} outside the [bench] table would be ignored; "
                              "move the options into [bench] or remove them")
    return data["bench"]


def load_toml(path: Path) -> dict[str, Any]:
    """Read a config file whose keys are the long option names (a [bench] table or top level), type-checked."""
    try:
        data = tomllib.loads(read_config_text(path))
    except tomllib.TOMLDecodeError as err:
        raise AlsegUsageError(f"--config: {path} is not valid TOML: {err}") from err
    return _normalise_keys(bench_table(data, str(path)), str(path))


def check_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """The given (not None) option values, type-checked under their flag names."""
    given: dict[str, Any] = {}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in OPTION_NAMES:
            raise AlsegUsageError(f"unknown option '{name}'; valid options: {', '.join(OPTION_NAMES)}")
        given[name] = check_type(name, value, flag(name))
    if given.get("name") == "":
        raise AlsegUsageError("--name must not be empty; leave it out for the default <preset>-<dataset>")
    return given


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
    return cfg


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


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")


def check_config(cfg: BenchConfig) -> BenchConfig:
    """Validate values that need no data (the budget against the pool is checked once the data is loaded)."""
    for name in OPTION_NAMES:
        check_type(name, getattr(cfg, name), flag(name))
    if cfg.seeds < 1:
        raise AlsegUsageError(f"--seeds must be at least 1, got {cfg.seeds}")
    for name in ("initial", "budget", "epochs", "batch_size", "initial_epochs"):
        if getattr(cfg, name) < 1:
            raise AlsegUsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    if cfg.initial < 2:
        raise AlsegUsageError("--initial must be at least 2 (BatchNorm needs two images per batch)")
    if cfg.batch_size < 2:
        raise AlsegUsageError("--batch-size must be at least 2 (BatchNorm needs two images per training batch)")
    if cfg.rounds < 0:
        raise AlsegUsageError(f"--rounds must be 0 or more, got {cfg.rounds}")
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
        raise AlsegUsageError(f"--device: unknown device '{cfg.device}'; use auto, cpu, cuda, cuda:N (N = 0, 1, ...) "
                              "or mps")
    for name in ("data_dir", "split_file", "cache_dir", "out"):
        if getattr(cfg, name) == "":
            raise AlsegUsageError(f"{flag(name)} must not be empty; give a path or leave the option out")
    if cfg.name:
        check_name(cfg.name)
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


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON escapes, but non-ASCII kept as is: JSON's surrogate pairs are not TOML)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    """One value as TOML (bool, int, float or string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return _toml_string(str(value))


def to_toml(cfg: BenchConfig) -> str:
    """The resolved config as TOML that `alseg bench --config` reads back to the same config."""
    lines = ["# alseg bench config: rerun with `alseg bench --config config.toml`", "[bench]"]
    for key, value in asdict(cfg).items():
        if value is None or key in INTERNAL_FIELDS:
            continue
        lines.append(f"{key.replace('_', '-')} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def with_updates(cfg: BenchConfig, **changes: Any) -> BenchConfig:
    """A copy of the config with some fields changed."""
    return replace(cfg, **changes)
