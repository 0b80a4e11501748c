"""Every registered strategy (and the paper's ablations) passes the conformance kit in alseg.testing.

Parametrised over the registry, so an installed plugin is checked without editing this file.
"""

from __future__ import annotations

import numpy as np
import pytest

from alseg.strategies.base import Strategy
from alseg.strategies.registry import discover
from alseg.testing import check_strategy, parametrize_with_checks

REGISTRY = discover()
INSTANCES = [e.cls() for e in REGISTRY.values() if e.cls is not None] + [
    REGISTRY[n].cls(**p) for n, p in [("proposed", {"uncertainty": False}), ("proposed", {"clustering": False}),
                                      ("proposed", {"discrepancy": False}), ("asa", {"views": "mcdropout"}),
                                      ("entropy", {"aggregate": "max"})] if n in REGISTRY]


@parametrize_with_checks(INSTANCES)
def test_registered_strategies_conform(strategy: Strategy, check) -> None:
    check(strategy)


class GlobalRandom(Strategy):
    """A bad strategy: draws from numpy's global generator and ignores its budget."""

    name = "global-random"
    description = "bad on purpose"

    def select(self, ctx, budget):
        return np.random.choice(ctx.pool, size=budget + 1, replace=False)


def test_the_kit_reports_a_bad_strategy() -> None:
    report = {r["check"]: r for r in check_strategy(GlobalRandom(), on_fail=None)}
    assert report["check_selects_budget_distinct_pool_ids"]["status"] == "failed"
    assert "returned 6 ids for budget 5" in str(report["check_selects_budget_distinct_pool_ids"]["error"])
    assert report["check_leaves_global_rngs_alone"]["status"] == "failed"
    assert report["check_declares_name_and_description"]["status"] == "passed"
    with pytest.raises(Exception, match="budget"):
        check_strategy(GlobalRandom(), on_fail="raise")


def test_expected_failures_are_reported_as_xfail() -> None:
    report = check_strategy(GlobalRandom(), on_fail="raise", expected_failed_checks={
        "check_selects_budget_distinct_pool_ids": "returns one too many on purpose",
        "check_budget_larger_than_pool": "idem", "check_honours_seed": "uses the global generator",
        "check_leaves_global_rngs_alone": "uses the global generator"})
    assert {r["status"] for r in report} == {"passed", "xfail"}
