"""power(base=NAME): needs follow the base, refusals name the problem, sampling uses ctx.rng and the weights."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from alseg_baselines.power import PowerStrategy

from alseg.api import SelectionContext, StrategyContractError, build_strategy


def entropy_context(scores: np.ndarray, seed: int = 0) -> SelectionContext:
    """A hand-built context whose pool signal 'entropy' is `scores` (pool ids 100, 101, ...)."""
    n = len(scores)
    return SelectionContext(pool=np.arange(100, 100 + n), labeled=np.arange(3), signals={"entropy": scores},
                            labeled_signals={}, rng=np.random.default_rng(seed), round=0)


def test_needs_are_the_bases_needs() -> None:
    assert PowerStrategy(base="entropy").declared_needs() == {"entropy"}
    assert PowerStrategy(base="entropy(aggregate=max)").declared_needs() == {"entropy:max"}
    assert PowerStrategy(base="bald").declared_needs() == {"model"}
    assert PowerStrategy(base="asa").declared_needs() == {"tta_variance", "embedding", "labeled:embedding"}
    assert PowerStrategy().declared_needs() == PowerStrategy.needs == {"model"}  # default base: mc_entropy


def _usage_error(spec: str) -> str:
    """The message of the AlsegUsageError that building `spec` raises (as --strategies resolves it)."""
    with pytest.raises(Exception) as caught:
        build_strategy(spec)
    assert type(caught.value).__name__ == "AlsegUsageError", caught.value
    return str(caught.value)


@pytest.mark.parametrize("base", ["random", "coreset", "power", "proposed"])
def test_a_base_without_scores_is_refused_naming_it(base: str) -> None:
    message = _usage_error(f"power(base={base})")
    assert f"strategy '{base}' exposes no per-image scores" in message
    assert "choose a scored strategy such as entropy" in message


def test_an_unknown_base_is_refused_listing_the_known_ones() -> None:
    message = _usage_error("power(base=entropyy)")
    assert "unknown strategy 'entropyy'; available:" in message
    available = message.split("available:")[1]
    for name in ("entropy", "bald", "mc_entropy", "badge", "typiclust", "random"):
        assert name in available.replace(",", " ").split()


@pytest.mark.parametrize(("spec", "expected"), [
    ("power(beta=0)", "beta must be a finite number > 0"),
    ("power(beta=-1)", "beta must be a finite number > 0"),
    ("power(mode=linear)", "mode must be one of power, softmax, softrank"),
    ("power(base=3)", "base must name a registered strategy"),
    ("power(base='entropy*')", "name exactly one registered strategy"),
    ("power(base='entropy,bald')", "name exactly one registered strategy"),
    ("power(base='entropy(aggregate=median)')", "aggregate must be one of mean, sum, max"),
])
def test_bad_parameters_are_refused(spec: str, expected: str) -> None:
    assert expected in _usage_error(spec)


@pytest.mark.parametrize(("spec", "expected"), [
    ("power(base=random)", "strategy 'random' exposes no per-image scores"),
    # The same resolution as above (build_strategy is what --strategies runs); slow: a process each.
    pytest.param("power(base=nope)", "unknown strategy 'nope'; available:", marks=pytest.mark.slow),
    pytest.param("power(beta=0)", "beta must be a finite number > 0", marks=pytest.mark.slow),
])
def test_the_cli_refuses_with_exit_2_and_no_traceback(tmp_path, spec: str, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ALSEG_DISABLE_PLUGINS"}
    run = subprocess.run([sys.executable, "-m", "alseg.cli", "bench", "--strategies", spec, "--out",
                          str(tmp_path / "res"), "--quiet"], env=env, capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert expected in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "res").exists()  # refused before anything ran


def test_a_large_softmax_beta_is_the_top_k() -> None:
    scores = np.linspace(0.0, 0.6, 30)[np.random.default_rng(3).permutation(30)]
    top = 100 + np.argsort(-scores)[:5]
    for seed in range(5):
        picks = PowerStrategy(base="entropy", mode="softmax", beta=5e4).select(entropy_context(scores, seed), 5)
        assert sorted(picks.tolist()) == sorted(top.tolist())


def test_the_batch_is_drawn_from_ctx_rng() -> None:
    scores = np.full(40, 0.3)
    strategy = PowerStrategy(base="entropy")
    batches = {tuple(sorted(strategy.select(entropy_context(scores, seed), 5).tolist())) for seed in range(6)}
    assert len(batches) > 1
    again = strategy.select(entropy_context(scores, 4), 5)
    assert again.tolist() == strategy.select(entropy_context(scores, 4), 5).tolist()


def test_an_overflowing_beta_is_an_error_naming_beta() -> None:
    with pytest.raises(StrategyContractError, match=r"beta=1e\+308 makes the power log-weights overflow"):
        PowerStrategy(base="entropy", beta=1e308).select(entropy_context(np.array([0.0, 0.1, 0.2])), 2)


def test_scores_of_the_wrong_length_are_refused() -> None:
    strategy = PowerStrategy(base="entropy")
    strategy._base.selection_scores = lambda ctx: np.ones(2)  # a base that breaks its contract
    with pytest.raises(StrategyContractError, match=r"returned scores of shape \(2,\) for 3 pool images"):
        strategy.select(entropy_context(np.array([0.1, 0.2, 0.3])), 1)
