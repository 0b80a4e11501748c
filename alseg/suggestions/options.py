"""The options of `alseg suggest`: the data and training options borrowed from `alseg bench`, and its config.

`borrow_options` copies parameters (flag, type, help text, help panel) from the `bench` command into the
`suggest` command, so the two never drift apart and an option added to bench and BenchConfig (such as
`--precision`) appears in suggest without a second definition. No torch here: the CLI imports this module.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from alseg.config_schema import FIELD_NAMES, BenchConfig
from alseg.errors import AlsegUsageError

#: The preset suggest starts from: the CPU recipe (ImageNet EfficientNet-Lite0 at 160 px).
DEFAULT_PRESET = "cpu"

#: bench's parameters that suggest takes too (those bench does not have are skipped).
SHARED_OPTIONS = (
    "cache_dir", "image_size", "allow_empty_masks", "allow_majority_foreground", "selection_timeout", "no_plugins",
    "epochs", "initial_epochs", "batch_size", "lr", "schedule", "encoder", "encoder_weights", "train_mode",
    "augment", "device", "precision", "threads", "deterministic",
)

#: The BenchConfig fields that shape a suggestion (stored in model.pt and suggest.json); absent ones are skipped.
CONFIG_FIELDS = (
    "preset", "data_dir", "cache_dir", "image_size", "budget", "strategies", "epochs", "initial_epochs", "batch_size",
    "lr", "schedule", "encoder", "encoder_weights", "train_mode", "augment", "device", "precision", "deterministic",
    "threads", "selection_timeout", "plugins", "allow_empty_masks", "allow_majority_foreground",
)

# Switch-only flags (no --no-... form): False means "not given", so the preset's value stands.
_SWITCHES = ("allow_empty_masks", "allow_majority_foreground")


Command = Callable[..., Any]


def borrow_options(source: Command, names: Sequence[str]) -> Callable[[Command], Command]:
    """Decorator: add `source`'s parameters `names` (those it has) to a command that takes them as **options."""
    borrowed = [p for p in inspect.signature(source, eval_str=True).parameters.values() if p.name in names]

    def decorate(func: Command) -> Command:
        own = [p for p in inspect.signature(func, eval_str=True).parameters.values()
               if p.kind is not inspect.Parameter.VAR_KEYWORD]
        params = [*own, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in borrowed)]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            return func(**kwargs)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate


def bench_overrides(options: Mapping[str, Any]) -> dict[str, Any]:
    """BenchConfig overrides from the borrowed options' values (None: not given, the preset's value stands)."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name == "no_plugins":
            out["plugins"] = False if value else None
        elif name in _SWITCHES:
            out[name] = True if value else None
        else:
            out[name] = value
    return out


#: Settings suggest fixes itself or takes as its own arguments: refused among the options.
OWN_FIELDS = ("preset", "dataset", "data_dir", "budget", "strategies", "out")


def option_fields() -> tuple[str, ...]:
    """The BenchConfig options a suggest call may set besides its own arguments."""
    return tuple(name for name in CONFIG_FIELDS if name in FIELD_NAMES and name not in OWN_FIELDS)


def suggest_overrides(data_dir: Path, budget: int, strategy: str, out: Path, preset: str | None,
                      options: Mapping[str, Any]) -> dict[str, Any]:
    """What suggest hands to `resolve_config`: its own arguments, the folder dataset and the options (field names)."""
    allowed = option_fields()
    wrong = sorted(set(options) - set(allowed))
    if wrong:
        raise AlsegUsageError(f"suggest takes no option {', '.join(map(repr, wrong))} (its own arguments are data_dir, "
                              f"labeled, budget, strategy, out, preset, model and seed); its options: "
                              f"{', '.join(allowed)}")
    return {"preset": preset or DEFAULT_PRESET, "dataset": "folder", "data_dir": str(data_dir), "budget": budget,
            "strategies": strategy, "out": str(out), **options}


def config_record(cfg: BenchConfig) -> dict[str, Any]:
    """The resolved settings of a suggest call, by BenchConfig field name (stored with the model and the picks)."""
    return {name: getattr(cfg, name) for name in CONFIG_FIELDS if name in FIELD_NAMES}
