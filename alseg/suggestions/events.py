"""Progress of suggest's pool pass, counted without touching the pool pass itself.

`alseg.round.select_next` announces the pool pass with `Phase("pool pass")` and the selection with
`Phase("select")`; between the two, every image the model sees belongs to the pool pass. `PoolCounter` sits
between select_next and the real event sink, counts those images with a forward hook and reports
`PoolProgress(done, total)`; `pool_pass_images` says how many to expect (8 views per image with
`tta_variance`, one otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

from alseg.events import Emit, Event, Phase
from alseg.round import DIAGNOSTIC_SIGNAL
from alseg.strategies.needs import Needs
from alseg.strategies.scores import DIHEDRAL

POOL_PHASE = "pool pass"


@dataclass(frozen=True)
class PoolProgress:
    """The pool pass has run `done` of its `total` image forwards."""

    done: int
    total: int


def views(signals: frozenset[str]) -> int:
    """Forwards per image for these signals: the 8 flips/rotations with tta_variance, else 1 (0 for no signal)."""
    if not signals:
        return 0
    return len(DIHEDRAL) if "tta_variance" in signals else 1


def pool_pass_images(needs: Needs, n_pool: int, n_labeled: int) -> int:
    """Image forwards of select_next's pool pass: the pool for its signals (and entropy), the labeled set for its."""
    return n_pool * views(needs.pool_signals | {DIAGNOSTIC_SIGNAL}) + n_labeled * views(needs.labeled_signals)


class PoolCounter:
    """An event sink that forwards every event and, during the pool pass, reports the images the model saw."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.model: nn.Module | None = None
        self.total = self.done = 0
        self.handle: RemovableHandle | None = None

    def watch(self, model: nn.Module, total: int) -> None:
        """Count `model`'s forwards in the next pool pass, expecting `total` images."""
        self.model, self.total, self.done = model, total, 0

    def __call__(self, event: Event | Any) -> None:
        """Forward the event; a Phase starts (pool pass) or stops (anything else) the counting."""
        self.emit(event)
        if isinstance(event, Phase):
            self.close()
            if event.text == POOL_PHASE and self.model is not None:
                self.handle = self.model.register_forward_hook(self._seen)
                self.emit(PoolProgress(0, self.total))

    def _seen(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self.done += int(inputs[0].shape[0])
        self.emit(PoolProgress(min(self.done, self.total), self.total))

    def close(self) -> None:
        """Stop counting (idempotent)."""
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
