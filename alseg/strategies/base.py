"""The Strategy contract: what a strategy declares, what it receives, and the one selection validator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from alseg.errors import AlsegError

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from alseg.models import ForwardOutput, SegModel

# Pool signals the pool pass knows how to compute (alseg/pool.py); a strategy's `needs` is a subset.
POOL_SIGNALS = frozenset({"entropy", "embedding", "fg_bg_similarity", "tta_variance"})


class StrategyContractError(AlsegError):
    """A strategy broke the contract (wrong count, duplicates, ids outside the pool, bad scores)."""


@dataclass
class SelectionContext:
    """Everything a strategy may look at when it selects; signals are aligned with the id arrays."""

    pool: np.ndarray  # dataset indices of the unlabeled pool, ascending
    labeled: np.ndarray  # dataset indices of the labeled set, ascending
    signals: dict[str, np.ndarray]  # pool signal name -> array with len(pool) rows
    labeled_signals: dict[str, np.ndarray]  # signal name -> array with len(labeled) rows
    rng: np.random.Generator  # seeded from (seed, dataset, strategy run name, round)
    round: int
    model: SegModel | None = None  # the current model, for strategies that run their own passes
    images: np.ndarray | None = None  # uint8 (N,H,W,3) of the whole dataset, indexed by the ids above
    device: torch.device | None = None
    batch_size: int = 16
    # Trains a fresh model on the labeled set (ensembles); takes a member index, returns the model.
    train_member: Callable[[int], SegModel] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Strategy:
    """Base class: set `name`, `description` and `needs`; implement `select`; optionally `extra_loss`.

    `__init__` only stores keyword parameters (they become the run name, e.g. `entropy(aggregate=sum)`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    label: ClassVar[str] = ""  # display name in leaderboards; defaults to `name`
    needs: ClassVar[frozenset[str]] = frozenset()  # pool signals, computed in one pass
    needs_labeled: ClassVar[frozenset[str]] = frozenset()  # signals of the labeled set (e.g. coreset)
    needs_model: ClassVar[bool] = False  # True: select() runs its own passes with ctx.model
    trains_on_unlabeled: bool = False  # True: the trainer feeds unlabeled batches to extra_loss

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """Return `budget` distinct dataset indices taken from `ctx.pool`."""
        raise NotImplementedError

    def extra_loss(self, out: ForwardOutput, labeled: bool) -> Tensor | None:
        """An extra training term for a labeled or unlabeled batch; None adds nothing."""
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
