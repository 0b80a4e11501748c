"""The Strategy contract: what a strategy declares, the selection validator, and parameter checks.

Plugins import all of this from `alseg.api`; this module is where it is defined. `SelectionContext`
lives in `alseg.strategies.context` (it is also reachable here, lazily, for older imports).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from alseg.errors import AlsegError

if TYPE_CHECKING:
    from torch import Tensor

    from alseg.models import ForwardOutput
    from alseg.strategies.context import SelectionContext

__all__ = [
    "Strategy",
    "StrategyContractError",
    "check_scores",
    "require_bool",
    "require_choice",
    "require_int",
    "require_number",
    "validate_selection",
]


class StrategyContractError(AlsegError):
    """A strategy broke the contract (wrong count, duplicates, ids outside the pool, bad scores, needs)."""


class Strategy:
    """Base class: set `name`, `description` and `needs`; implement `select`; optionally `extra_loss`.

    `__init__` only stores (and checks) keyword parameters: they become the run name, e.g.
    `entropy(aggregate=sum)`. `needs` uses the closed vocabulary of `alseg.api.NEEDS`; when a parameter
    changes what an instance needs, override `declared_needs` (the one hook for that).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    label: ClassVar[str] = ""  # display name in leaderboards; defaults to `name`
    needs: ClassVar[frozenset[str]] = frozenset()  # what the default instance needs (alseg.api.NEEDS)

    def declared_needs(self) -> frozenset[str]:
        """What this instance needs; the class's `needs` unless its parameters change them."""
        return type(self).needs

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """Return `budget` distinct dataset indices taken from `ctx.pool`."""
        raise NotImplementedError

    def extra_loss(self, out: ForwardOutput, labeled: bool) -> Tensor | None:
        """A training term for a labeled or unlabeled batch (called only with the need 'unlabeled_loss')."""
        return None

    def selection_scores(self, ctx: SelectionContext) -> np.ndarray | None:
        """Optional per-pool-image score the strategy ranks by (for diagnostics); None if it has none."""
        return None


def validate_selection(strategy: str, selected: Sequence[int], pool: np.ndarray, budget: int) -> np.ndarray:
    """Check a selection against the contract and return it as an int64 array, or raise naming the strategy."""
    expected = min(budget, len(pool))
    rule = f"select() must return {expected} distinct ids from the pool"
    try:
        arr = np.asarray(selected)
    except Exception as err:
        raise StrategyContractError(f"strategy '{strategy}' returned {type(selected).__name__}; {rule}") from err
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise StrategyContractError(
            f"strategy '{strategy}' returned an array of shape {arr.shape} and dtype {arr.dtype}; "
            f"{rule} as a 1-d sequence of integers"
        )
    arr = arr.astype(np.int64)
    problems = []
    if len(arr) != expected:
        problems.append(f"{len(arr)} ids for budget {budget}")
    uniq, counts = np.unique(arr, return_counts=True)
    dup = uniq[counts > 1]
    if len(dup):
        problems.append(f"duplicates: {', '.join(map(str, dup[:10]))}")
    outside = np.setdiff1d(uniq, pool)
    if len(outside):
        problems.append(f"ids not in the pool: {', '.join(map(str, outside[:10]))}")
    if problems:
        raise StrategyContractError(f"strategy '{strategy}' returned {'; '.join(problems)}; {rule}")
    return arr


def check_scores(strategy: str, scores: np.ndarray, what: str = "scores") -> np.ndarray:
    """Raise naming the strategy when scores hold NaN or infinite values (never silently replaced)."""
    scores = np.asarray(scores, dtype=np.float64)
    bad = ~np.isfinite(scores)
    if bad.any():
        raise StrategyContractError(
            f"strategy '{strategy}' produced {int(bad.sum())} non-finite {what} of {scores.size} "
            "(NaN or infinite); check the model's outputs"
        )
    return scores


# --- parameter checks for constructors: ValueError naming the parameter, the valid range and the value -----


def _why(why: str) -> str:
    return f" ({why})" if why else ""


def require_choice(name: str, value: Any, choices: Sequence[str], why: str = "") -> str:
    """A parameter that must be one of a few words, e.g. aggregate in (mean, sum, max)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}{_why(why)}, got {value!r}")
    return value


def require_bool(name: str, value: Any, why: str = "") -> bool:
    """A parameter that must be true or false (not 0/1, not a word)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false{_why(why)}, got {value!r}")
    return value


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """Readable range: '>= 2', '> 0', 'in [-1, 1)'."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def _in_range(x: float, low: float | None, high: float | None, low_open: bool, high_open: bool) -> bool:
    if low is not None and (x <= low if low_open else x < low):
        return False
    return not (high is not None and (x >= high if high_open else x > high))


def require_int(name: str, value: Any, *, low: int | None = None, high: int | None = None, why: str = "") -> int:
    """An integer parameter in [low, high] (bounds optional); booleans and floats such as 2.5 are refused."""
    rule = f"{name} must be an integer {_bounds(low, high, False, False)}".rstrip()
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not _in_range(value, low, high, False, False):
        raise ValueError(f"{rule}{_why(why)}, got {value!r}")
    return value


def require_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                   low_open: bool = False, high_open: bool = False, why: str = "") -> float:
    """A finite real parameter in a range (open or closed at each end); booleans and words are refused."""
    rule = f"{name} must be a finite number {_bounds(low, high, low_open, high_open)}".rstrip()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not _in_range(value, low, high, low_open, high_open):
        raise ValueError(f"{rule}{_why(why)}, got {value!r}")
    return value
