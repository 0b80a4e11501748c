"""A conformance kit for strategies, shaped like scikit-learn's estimator checks.

Each check is a plain function `check_x(name, strategy)` that raises AssertionError with a message
stating the rule, what was found and the strategy. `strategy_checks(strategy)` yields the contract
checks first, then the ones chosen from what the strategy declares (its `Needs`), never from its
name. Contexts are built from the same `Needs` the harness uses: every pool and labeled-set signal is
present but only the declared ones are visible, a Predictor over a tiny untrained U-Net comes with
'model', a member trainer with 'ensemble'. Two entry points share that generator:

    @parametrize_with_checks([MyStrategy(), MyStrategy(alpha=2)])
    def test_my_strategy(strategy, check):
        check(strategy)

    report = check_strategy(MyStrategy(), on_fail=None)   # [{"check", "status", "error"}]

Test ids are canonical run names (`registry.canonical_run_name`), e.g. `proposed(discrepancy=false)`.
"""

from __future__ import annotations

import copy
import functools
import inspect
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch

from alseg.api import (
    Predictor,
    SegModel,
    SelectionContext,
    Strategy,
    StrategyContractError,
    needs_of,
    validate_selection,
)
from alseg.strategies.context import DeclaredSignals
from alseg.strategies.needs import class_needs
from alseg.strategies.registry import constructor_defaults, run_name_of
from alseg.strategies.signals import SIGNALS

Check = Callable[[str, Strategy], None]
N_POOL, N_LABELED, DIM, SIZE = 24, 6, 8, 32
POOL_START = 100  # pool ids start here, so that positions and ids differ


def _signals(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Plausible synthetic values of every key of the signal table for n images."""
    out: dict[str, np.ndarray] = {}
    for s in SIGNALS:
        if s.name == "embedding":
            out[s.name] = rng.normal(size=(n, DIM)).astype(np.float32)
        elif s.name == "fg_bg_similarity":
            out[s.name] = rng.uniform(-1, 1, n).astype(np.float32)
        elif s.name == "tta_variance":
            out[s.name] = rng.uniform(0, 0.05, n).astype(np.float32)
        else:
            out[s.name] = rng.uniform(0, np.log(2), n).astype(np.float32)
    out["entropy:sum"] = out["entropy"] * np.float32(SIZE * SIZE)
    out["entropy:max"] = np.minimum(out["entropy"] * 2, np.float32(np.log(2)))
    missing = {k for s in SIGNALS for k in s.keys} - set(out)
    assert not missing, f"the conformance kit has no synthetic values for the signals {sorted(missing)}"
    return out


@functools.lru_cache(maxsize=16)
def _tiny_model(seed: int = 0) -> SegModel:
    """An untrained tiny U-Net, for strategies that run the model or train ensemble members."""
    from alseg.models import build_model

    return build_model("tu-test_efficientnet", "none", seed)


@functools.lru_cache(maxsize=1)
def _images() -> np.ndarray:
    """Random uint8 images for the pool and labeled ids of the kit's contexts (ids 0.. and 100..)."""
    return np.random.default_rng(0).integers(0, 256, size=(POOL_START + 4 * N_POOL, SIZE, SIZE, 3), dtype=np.uint8)


def _member(k: int) -> SegModel:
    """Stands in for the harness's member trainer: an untrained tiny model seeded by k."""
    return _tiny_model(1 + int(k))


def make_context(strategy: Strategy, seed: int = 0, n_pool: int = N_POOL) -> SelectionContext:
    """A small selection context built from the strategy's Needs, as the harness builds it (pool ids from 100)."""
    needs = needs_of(strategy)
    rng = np.random.default_rng(1234)
    signals, labeled = _signals(n_pool, rng), _signals(N_LABELED, rng)
    predictor = Predictor(_tiny_model(), _images(), 8, torch.device("cpu")) if needs.model else None
    return SelectionContext(pool=np.arange(POOL_START, POOL_START + n_pool), labeled=np.arange(N_LABELED),
                            signals=signals, labeled_signals=labeled, rng=np.random.default_rng(seed), round=0,
                            predictor=predictor, train_member=_member if needs.ensemble else None,
                            strategy=run_name_of(strategy), needs=needs)


def _select(strategy: Strategy, ctx: SelectionContext, budget: int) -> np.ndarray:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return np.asarray(strategy.select(ctx, budget))


def _raw(view: Any) -> dict[str, np.ndarray]:
    """The arrays behind a context's signal view, without counting as reads."""
    return dict(view.arrays) if isinstance(view, DeclaredSignals) else dict(view)


def check_declares_name_and_description(name: str, strategy: Strategy) -> None:
    """A strategy has a registry name and a one-line description."""
    cls = type(strategy)
    assert cls.name, f"strategy {cls.__name__} must set the class attribute `name`"
    assert cls.description and "\n" not in cls.description, (
        f"strategy '{name}' must set a one-line `description` (shown by `alseg strategies`)")


def check_needs_are_known(name: str, strategy: Strategy) -> None:
    """The class's `needs` and the instance's `declared_needs()` use only the closed vocabulary."""
    try:
        class_needs(type(strategy))
        needs_of(strategy)
    except StrategyContractError as err:
        raise AssertionError(str(err)) from None


def check_init_takes_keyword_parameters(name: str, strategy: Strategy) -> None:
    """Every constructor parameter has a default, so the strategy builds from its name alone."""
    params = inspect.signature(type(strategy).__init__).parameters
    missing = [p for p, v in params.items() if p != "self" and v.default is inspect.Parameter.empty
               and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)]
    assert not missing, f"strategy '{name}': parameters {missing} need defaults (`--strategies {name}` must work)"
    for key in constructor_defaults(type(strategy)):
        assert hasattr(strategy, key), (
            f"strategy '{name}' must store its parameter '{key}' as self.{key} (the run name is built from it)")


def check_selects_budget_distinct_pool_ids(name: str, strategy: Strategy) -> None:
    """select() returns exactly `budget` distinct ids from the pool."""
    ctx = make_context(strategy)
    validate_selection(name, _select(strategy, ctx, 5), ctx.pool, 5)


def check_budget_larger_than_pool(name: str, strategy: Strategy) -> None:
    """With a budget larger than the pool (the harness passes min(budget, pool)), every id comes back."""
    ctx = make_context(strategy, n_pool=4)
    picks = _select(strategy, ctx, 4)
    assert sorted(picks.tolist()) == ctx.pool.tolist(), (
        f"strategy '{name}' returned {sorted(picks.tolist())} for a budget equal to the pool {ctx.pool.tolist()}")


def check_honours_seed(name: str, strategy: Strategy) -> None:
    """The same ctx.rng seed gives the same selection (strategies use only the generators handed to them)."""
    a = _select(copy.deepcopy(strategy), make_context(strategy, seed=7), 5)
    b = _select(copy.deepcopy(strategy), make_context(strategy, seed=7), 5)
    assert a.tolist() == b.tolist(), f"strategy '{name}' selected {a.tolist()} then {b.tolist()} with the same seed"


def check_leaves_global_rngs_alone(name: str, strategy: Strategy) -> None:
    """select() does not draw from or reseed numpy's global generator."""
    _, key, pos, *_ = np.random.get_state()
    key = key.copy()
    _select(strategy, make_context(strategy), 5)
    _, key_after, pos_after, *_ = np.random.get_state()
    assert pos == pos_after and np.array_equal(key, key_after), (
        f"strategy '{name}' used numpy's global random state; use ctx.rng (seeded per run and round)")


def check_uses_only_declared_needs(name: str, strategy: Strategy) -> None:
    """select() reads only declared signals and calls ctx.predict / ctx.train_member only when declared."""
    ctx = make_context(strategy)
    try:
        _select(strategy, ctx, 5)
    except StrategyContractError as err:  # UndeclaredSignalError, or predict/train_member without the need
        if "does not declare" in str(err):
            raise AssertionError(str(err)) from None
        raise
    for view in (ctx.signals, ctx.labeled_signals):
        assert isinstance(view, DeclaredSignals) and view.read <= view.declared, (
            f"strategy '{name}' read {sorted(view.read - view.declared)} without declaring them")


def check_does_not_modify_signals(name: str, strategy: Strategy) -> None:
    """select() leaves the context's signal arrays unchanged (they are shared)."""
    ctx = make_context(strategy)
    before = {k: v.copy() for k, v in {**_raw(ctx.signals), **_raw(ctx.labeled_signals)}.items()}
    _select(strategy, ctx, 5)
    after = {**_raw(ctx.signals), **_raw(ctx.labeled_signals)}
    changed = [k for k in before if not np.array_equal(before[k], after[k])]
    assert not changed, f"strategy '{name}' modified the signals {changed} in place"


def _forward() -> Any:
    x = torch.from_numpy(_images()[:4]).permute(0, 3, 1, 2).float() / 255
    return _tiny_model()(x)


def check_extra_loss_is_a_differentiable_scalar(name: str, strategy: Strategy) -> None:
    """A strategy that declares 'unlabeled_loss' returns a finite scalar with a gradient on unlabeled batches."""
    loss = strategy.extra_loss(_forward(), False)
    assert loss is not None, f"strategy '{name}' declares 'unlabeled_loss' but extra_loss(out, False) is None"
    assert loss.ndim == 0 and torch.isfinite(loss), f"strategy '{name}': extra_loss must be a finite scalar"
    assert loss.requires_grad, f"strategy '{name}': extra_loss must be differentiable (it is added to the loss)"


def check_extra_loss_is_declared(name: str, strategy: Strategy) -> None:
    """An extra_loss that returns a term is only called with 'unlabeled_loss' declared: declare it."""
    out = _forward()
    for labeled in (False, True):
        assert strategy.extra_loss(out, labeled) is None, (
            f"strategy '{name}' returns a term from extra_loss(out, labeled={labeled}) but does not declare "
            "'unlabeled_loss', so the trainer never calls it; add 'unlabeled_loss' to needs")


def strategy_checks(strategy: Strategy) -> Iterator[Check]:
    """The contract checks, then the ones that follow from what the strategy declares."""
    yield check_declares_name_and_description
    yield check_needs_are_known
    yield check_init_takes_keyword_parameters
    try:
        needs = needs_of(strategy)
    except StrategyContractError:
        return  # check_needs_are_known reports it; the other checks need a context built from the needs
    yield check_selects_budget_distinct_pool_ids
    yield check_budget_larger_than_pool
    yield check_honours_seed
    yield check_leaves_global_rngs_alone
    yield check_uses_only_declared_needs
    if needs.pool_keys or needs.labeled_keys:
        yield check_does_not_modify_signals
    if needs.unlabeled_loss:
        yield check_extra_loss_is_a_differentiable_scalar
    elif type(strategy).extra_loss is not Strategy.extra_loss:
        yield check_extra_loss_is_declared


def check_strategy(strategy: Strategy, on_fail: str | None = "raise",
                   expected_failed_checks: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run every check; returns [{check, status, error}]; on_fail: 'raise' | 'warn' | None."""
    expected = expected_failed_checks or {}
    name = run_name_of(strategy)
    report = []
    for check in strategy_checks(strategy):
        try:
            check(name, strategy)
            status, error = "passed", None
        except Exception as err:
            if check.__name__ in expected:
                status, error = "xfail", err
            else:
                status, error = "failed", err
                if on_fail == "raise":
                    raise
                if on_fail == "warn":
                    warnings.warn(f"{name} failed {check.__name__}: {err}", stacklevel=2)
        report.append({"check": check.__name__, "status": status, "error": error})
    return report


def parametrize_with_checks(strategies: Iterable[Strategy],
                            expected_failed_checks: Callable[[Strategy], dict[str, str]] | None = None):
    """A pytest.mark.parametrize over (strategy, check) pairs with ids like 'entropy-check_honours_seed'."""
    import pytest

    params = []
    for strategy in strategies:
        expected = expected_failed_checks(strategy) if expected_failed_checks else {}
        name = run_name_of(strategy)
        for check in strategy_checks(strategy):
            marks = [pytest.mark.xfail(reason=expected[check.__name__])] if check.__name__ in expected else []
            params.append(pytest.param(strategy, functools.partial(check, name), id=f"{name}-{check.__name__}",
                                       marks=marks))
    return pytest.mark.parametrize("strategy, check", params)
