"""A conformance kit for strategies, shaped like scikit-learn's estimator checks.

Each check is a plain function `check_x(name, strategy)` that raises AssertionError with a message
stating the rule, what was found and the strategy. `strategy_checks(strategy)` yields the contract
checks first, then the ones chosen from what the strategy declares (`needs`, `needs_model`,
`trains_on_unlabeled`), never from its name. Two entry points share that generator:

    @parametrize_with_checks([MyStrategy(), MyStrategy(alpha=2)])
    def test_my_strategy(strategy, check):
        check(strategy)

    report = check_strategy(MyStrategy(), on_fail=None)   # [{"check", "status", "error"}]
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

from alseg.strategies.base import POOL_SIGNALS, SelectionContext, Strategy, validate_selection
from alseg.strategies.registry import constructor_defaults

Check = Callable[[str, Strategy], None]
N_POOL, N_LABELED, DIM, SIZE = 24, 6, 8, 32


def _signal(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """A plausible synthetic value of a pool signal for n images."""
    if name == "embedding":
        return rng.normal(size=(n, DIM)).astype(np.float32)
    if name == "fg_bg_similarity":
        return rng.uniform(-1, 1, n)
    if name == "tta_variance":
        return rng.uniform(0, 0.05, n)
    return rng.uniform(0, np.log(2), n)  # entropy and its reductions


@functools.lru_cache(maxsize=1)
def _tiny_model_and_images() -> tuple[Any, np.ndarray]:
    """An untrained tiny U-Net and random images, for strategies that run their own passes."""
    from alseg.models import build_model

    images = np.random.default_rng(0).integers(0, 256, size=(N_POOL + N_LABELED, SIZE, SIZE, 3), dtype=np.uint8)
    return build_model("tu-test_efficientnet", "none", 0), images


def make_context(strategy: Strategy, seed: int = 0, n_pool: int = N_POOL) -> SelectionContext:
    """A small selection context holding every signal the strategy declares (pool ids start at 100)."""
    rng = np.random.default_rng(1234)
    signals = {s: _signal(s, n_pool, rng) for s in strategy.needs}
    if "entropy" in strategy.needs:
        signals["entropy.sum"] = signals["entropy"] * SIZE * SIZE
        signals["entropy.max"] = np.minimum(signals["entropy"] * 2, np.log(2))
    labeled = {s: _signal(s, N_LABELED, rng) for s in strategy.needs_labeled}
    ctx = SelectionContext(pool=np.arange(100, 100 + n_pool), labeled=np.arange(N_LABELED), signals=signals,
                           labeled_signals=labeled, rng=np.random.default_rng(seed), round=0, batch_size=8)
    if strategy.needs_model:
        model, images = _tiny_model_and_images()
        big = np.zeros((100 + n_pool, SIZE, SIZE, 3), dtype=np.uint8)
        big[:N_LABELED] = images[:N_LABELED]
        big[100:] = images[N_LABELED : N_LABELED + n_pool] if n_pool <= N_POOL else images[N_LABELED]
        ctx.model, ctx.images, ctx.device = model, big, torch.device("cpu")
    return ctx


def _select(strategy: Strategy, ctx: SelectionContext, budget: int) -> np.ndarray:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return np.asarray(strategy.select(ctx, budget))


def check_declares_name_and_description(name: str, strategy: Strategy) -> None:
    """A strategy has a registry name and a one-line description."""
    cls = type(strategy)
    assert cls.name, f"strategy {cls.__name__} must set the class attribute `name`"
    assert cls.description and "\n" not in cls.description, (
        f"strategy '{name}' must set a one-line `description` (shown by `alseg strategies`)")


def check_needs_are_known(name: str, strategy: Strategy) -> None:
    """`needs` and `needs_labeled` name only signals the pool pass computes."""
    unknown = (set(strategy.needs) | set(strategy.needs_labeled)) - POOL_SIGNALS
    assert not unknown, f"strategy '{name}' needs unknown signals {sorted(unknown)}; known: {sorted(POOL_SIGNALS)}"


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


def check_does_not_modify_signals(name: str, strategy: Strategy) -> None:
    """select() leaves the context's signal arrays unchanged (they are shared)."""
    ctx = make_context(strategy)
    before = {k: v.copy() for k, v in {**ctx.signals, **ctx.labeled_signals}.items()}
    _select(strategy, ctx, 5)
    after = {**ctx.signals, **ctx.labeled_signals}
    changed = [k for k in before if not np.array_equal(before[k], after[k])]
    assert not changed, f"strategy '{name}' modified the signals {changed} in place"


def check_extra_loss_is_a_differentiable_scalar(name: str, strategy: Strategy) -> None:
    """A strategy that trains on unlabeled batches returns a finite scalar with a gradient."""
    model, images = _tiny_model_and_images()
    x = torch.from_numpy(images[:4]).permute(0, 3, 1, 2).float() / 255
    loss = strategy.extra_loss(model(x), False)
    assert loss is not None, f"strategy '{name}' sets trains_on_unlabeled but extra_loss(out, False) is None"
    assert loss.ndim == 0 and torch.isfinite(loss), f"strategy '{name}': extra_loss must be a finite scalar"
    assert loss.requires_grad, f"strategy '{name}': extra_loss must be differentiable (it is added to the loss)"


def strategy_checks(strategy: Strategy) -> Iterator[Check]:
    """The contract checks, then the ones that follow from what the strategy declares."""
    yield check_declares_name_and_description
    yield check_needs_are_known
    yield check_init_takes_keyword_parameters
    yield check_selects_budget_distinct_pool_ids
    yield check_budget_larger_than_pool
    yield check_honours_seed
    yield check_leaves_global_rngs_alone
    if strategy.needs or strategy.needs_labeled:
        yield check_does_not_modify_signals
    if strategy.trains_on_unlabeled:
        yield check_extra_loss_is_a_differentiable_scalar


def _strategy_id(strategy: Strategy) -> str:
    params = constructor_defaults(type(strategy))
    changed = {k: getattr(strategy, k) for k, v in params.items() if getattr(strategy, k, v) != v}
    return type(strategy).name + (f"({','.join(f'{k}={v}' for k, v in sorted(changed.items()))})" if changed else "")


def check_strategy(strategy: Strategy, on_fail: str | None = "raise",
                   expected_failed_checks: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run every check; returns [{check, status, error}]; on_fail: 'raise' | 'warn' | None."""
    expected = expected_failed_checks or {}
    name = _strategy_id(strategy)
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
        for check in strategy_checks(strategy):
            marks = [pytest.mark.xfail(reason=expected[check.__name__])] if check.__name__ in expected else []
            params.append(pytest.param(strategy, functools.partial(check, _strategy_id(strategy)),
                                       id=f"{_strategy_id(strategy)}-{check.__name__}", marks=marks))
    return pytest.mark.parametrize("strategy, check", params)
