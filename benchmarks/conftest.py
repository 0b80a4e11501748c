"""Benchmark helpers: fixtures to time one select() and to record one summary line per result, printed after the run."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import pytest

_LINES: list[str] = []


@pytest.fixture
def bench_report() -> Callable[[str], None]:
    """Return a function that records a summary line (time, peak memory, ratios) for the end of the run."""
    return _LINES.append


@pytest.fixture
def timed_select(benchmark: Any) -> Callable[[Any, Any, int], tuple[Sequence[int], float, int]]:
    """Return a function that runs strategy.select(ctx, budget) once under tracemalloc, then once for pytest-benchmark.

    It returns (picks, seconds, peak traced bytes) of the first run; the second only fills the benchmark table.
    """
    def run(strategy: Any, ctx: Any, budget: int) -> tuple[Sequence[int], float, int]:
        tracemalloc.start()
        t = time.perf_counter()
        picks = strategy.select(ctx, budget)
        seconds = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        benchmark.pedantic(lambda: strategy.select(ctx, budget), rounds=1, iterations=1)
        return picks, seconds, peak

    return run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the recorded lines, so the plain command shows peak memory and ratios next to the timings."""
    if _LINES:
        terminalreporter.section("selection benchmark summary")
        for line in _LINES:
            terminalreporter.write_line(line)
