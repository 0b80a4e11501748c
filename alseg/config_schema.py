"""The options of a benchmark run: the frozen BenchConfig and what its annotations say about each option.

Everything else about configs (presets, files, checks, the protocol) builds on this module; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import get_args, get_type_hints


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
    precision: str = "auto"
    deterministic: bool = False
    threads: int = 0
    workers: int = 1
    devices: str = ""
    executor: str = "local"  # local (in-process or --workers processes) | ray
    address: str = ""  # --executor ray: a Ray cluster to join (auto | HOST:PORT); empty: a private local Ray
    share_round0: bool = True
    full: bool = False
    extra_test: str = ""  # --extra-test NAME[:PATH],...: other datasets' test splits, evaluated every round
    replay: str = ""  # --replay FOLDER: take that experiment's stored selections instead of selecting
    selection_timeout: float = 0.0
    plugins: bool = True
    out: str = "results"
    name: str = ""
    allow_empty_masks: bool = False
    allow_majority_foreground: bool = False
    # Messages for the user made while resolving (e.g. which dataset was detected): printed and stored in
    # experiment.json, never part of config.toml or the protocol.
    notes: tuple[str, ...] = field(default=(), compare=False)
    # A grid of budget regimes (`--initial 10,30 --budget 10,30`): its (initial, budget, rounds) triples in run
    # order, with the first one in the three fields; empty for one regime. `alseg.regimes` expands it into
    # single-regime configs, each its own experiment; never part of config.toml or the protocol.
    regimes: tuple[tuple[int, int, int], ...] = ()

    @property
    def experiment_name(self) -> str:
        """Folder name under `out`: the given name or '<preset>-<dataset>'."""
        return self.name or f"{self.preset}-{self.dataset}"

    @property
    def experiment_dir(self) -> Path:
        return Path(self.out) / self.experiment_name


FIELD_NAMES = tuple(f.name for f in fields(BenchConfig))
# Fields that resolving fills in: not options, so no flag, no config-file key, not in config.toml.
INTERNAL_FIELDS = ("notes", "regimes")
OPTION_NAMES = tuple(name for name in FIELD_NAMES if name not in INTERNAL_FIELDS)

# The options that may list several values (`--budget 10,30`): together they span a grid of budget regimes.
REGIME_OPTIONS = ("initial", "budget", "rounds")

# The scalar types an option may have, each with how messages name it.
TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _option_types() -> dict[str, tuple[type, bool]]:
    """Each option's scalar type and whether it may be None, read from BenchConfig's annotations (the one rule)."""
    hints = get_type_hints(BenchConfig)
    types: dict[str, tuple[type, bool]] = {}
    for name in OPTION_NAMES:
        args = get_args(hints[name])
        scalars = [a for a in args if a is not type(None)] if args else [hints[name]]
        if len(scalars) != 1 or scalars[0] not in TYPE_WORDS:
            raise TypeError(f"BenchConfig.{name}: option type {hints[name]} is not bool, int, float, str or X | None")
        types[name] = (scalars[0], type(None) in args)
    return types


OPTION_TYPES = _option_types()


def flag(name: str) -> str:
    """The command-line flag of a field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")
