"""Every registered strategy (and the paper's ablations) passes the conformance kit in alseg.testing.

Parametrised over the registry, so an installed plugin is checked without editing this file.
"""

from __future__ import annotations

import numpy as np
import pytest

from alseg.api import Strategy
from alseg.strategies.registry import discover
from alseg.testing import check_strategy, make_context, parametrize_with_checks, strategy_checks

REGISTRY = discover()
INSTANCES = [e.cls() for e in REGISTRY.values() if e.cls is not None] + [
    REGISTRY[n].cls(**p) for n, p in [("proposed", {"uncertainty": False}), ("proposed", {"clustering": False}),
                                      ("proposed", {"discrepancy": False}), ("asa", {"views": "mcdropout"}),
                                      ("asa", {"views": "ensemble", "passes": 2}),
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


class ReadsUndeclared(Strategy):
    """Reads the pool entropy without declaring it."""

    name = "reads-undeclared"
    description = "bad on purpose"

    def select(self, ctx, budget):
        return ctx.pool[np.argsort(-ctx.signals["entropy"])[:budget]]


class PredictsUndeclared(Strategy):
    """Runs the model without declaring 'model'."""

    name = "predicts-undeclared"
    description = "bad on purpose"

    def select(self, ctx, budget):
        return ctx.pool[np.argsort(ctx.predict_scores(ctx.pool, lambda p: p.mean(dim=(1, 2))))[:budget]]


class LossUndeclared(Strategy):
    """Returns a training term without declaring 'unlabeled_loss' (the trainer would never call it)."""

    name = "loss-undeclared"
    description = "bad on purpose"

    def select(self, ctx, budget):
        return ctx.pool[:budget]

    def extra_loss(self, out, labeled):
        return out.logits.mean()


def _failed(strategy: Strategy) -> dict[str, str]:
    return {r["check"]: str(r["error"]) for r in check_strategy(strategy, on_fail=None) if r["status"] == "failed"}


def test_the_kit_reports_undeclared_reads_and_calls() -> None:
    failed = _failed(ReadsUndeclared())
    assert "check_uses_only_declared_needs" in failed
    assert ("strategy 'reads-undeclared' reads the pool signal 'entropy' but does not declare it: add 'entropy' to "
            "needs") in failed["check_uses_only_declared_needs"]
    failed = _failed(PredictsUndeclared())
    assert failed["check_uses_only_declared_needs"].startswith(
        "strategy 'predicts-undeclared' calls ctx.predict_scores but does not declare the need 'model'")
    failed = _failed(LossUndeclared())
    assert set(failed) == {"check_extra_loss_is_declared"}
    assert "does not declare 'unlabeled_loss', so the trainer never calls it" in failed["check_extra_loss_is_declared"]


def test_the_kit_builds_contexts_from_needs() -> None:
    ctx = make_context(REGISTRY["entropy"].cls(aggregate="max"))
    assert list(ctx.signals) == ["entropy:max"] and len(ctx.labeled_signals) == 0
    assert ctx.predictor is None and ctx.strategy == "entropy(aggregate=max)"
    ctx = make_context(REGISTRY["asa"].cls(views="mcdropout"))
    assert set(ctx.signals) == {"embedding"} and set(ctx.labeled_signals) == {"embedding"}
    assert ctx.predictor is not None
    names = [c.__name__ for c in strategy_checks(REGISTRY["proposed"].cls())]
    assert "check_extra_loss_is_a_differentiable_scalar" in names and "check_extra_loss_is_declared" not in names
    names = [c.__name__ for c in strategy_checks(REGISTRY["proposed"].cls(discrepancy=False))]
    assert "check_extra_loss_is_declared" in names


def test_ids_are_canonical_run_names() -> None:
    marks = parametrize_with_checks([REGISTRY["proposed"].cls(uncertainty=False)]).args[1]
    assert {p.id.split("-check_")[0] for p in marks} == {"proposed(uncertainty=false)"}
