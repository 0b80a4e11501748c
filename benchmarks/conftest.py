"""Benchmark helpers: a fixture to record one summary line per result, printed after the run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_LINES: list[str] = []


@pytest.fixture
def bench_report() -> Callable[[str], None]:
    """Return a function that records a summary line (time, peak memory, ratios) for the end of the run."""
    return _LINES.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the recorded lines, so the plain command shows peak memory and ratios next to the timings."""
    if _LINES:
        terminalreporter.section("selection benchmark summary")
        for line in _LINES:
            terminalreporter.write_line(line)
