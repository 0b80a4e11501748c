"""Progress hooks: the loop reports what it does; the CLI draws it with rich, tests stay silent."""

from __future__ import annotations


class ProgressHooks:
    """No-op hooks; `alseg.cli` subclasses them with rich progress bars."""

    def run_started(self, run: str, seed: int, rounds_total: int, rounds_done: int) -> None:
        """A (strategy, seed) run starts or resumes."""

    def round_started(self, run: str, seed: int, round_: int, n_labeled: int, epochs: int) -> None:
        """A round's training starts."""

    def epoch_done(self, epoch: int, loss: float) -> None:
        """One epoch finished."""

    def phase(self, text: str) -> None:
        """A named phase (evaluate, pool pass, select) starts."""

    def round_done(self, run: str, seed: int, round_: int, record: dict) -> None:
        """A round record was stored."""

    def run_done(self, run: str, seed: int, status: str, message: str) -> None:
        """A run ended (done, error, timeout, skip)."""
