"""End-to-end select() time and peak memory of each built-in strategy on large synthetic pools.

Run: python -m pytest benchmarks/test_strategy_select_speed.py -q -s
Unlike benchmarks/test_selection_speed.py (the bare selection rules against reference code), this
times what a round really pays: each strategy's select() on a SelectionContext, normalisation,
filtering and tie-breaking included. Targets (2 CPU cores, 100,000 x 512 float32, budget 30):
coreset <= 0.6 s, proposed <= 5 s, asa <= 1 s.
"""

from __future__ import annotations

import numpy as np
import pytest

from alseg.api import SelectionContext
from alseg.strategies.asa import AsaStrategy
from alseg.strategies.coreset import CoresetStrategy
from alseg.strategies.entropy import EntropyStrategy
from alseg.strategies.proposed import ProposedStrategy
from alseg.strategies.random import RandomStrategy

BUDGET, DIM, N_LABELED = 30, 512, 180
TARGETS = {"coreset": 0.6, "proposed": 5.0, "asa": 1.0}


def make_context(n: int, clustered: bool) -> SelectionContext:
    """Synthetic pool signals: 30 Gaussian blobs (clustered) or a standard normal cloud."""
    rng = np.random.default_rng(0)
    if clustered:
        centres = rng.normal(scale=4.0, size=(30, DIM)).astype(np.float32)
        emb = centres[rng.integers(30, size=n)] + rng.normal(size=(n, DIM)).astype(np.float32)
    else:
        emb = rng.normal(size=(n, DIM)).astype(np.float32)
    signals = {"embedding": emb, "entropy": rng.random(n), "fg_bg_similarity": rng.uniform(-1, 1, n),
               "tta_variance": rng.random(n) * 0.01}
    labeled = {"embedding": rng.normal(size=(N_LABELED, DIM)).astype(np.float32)}
    return SelectionContext(pool=np.arange(N_LABELED, N_LABELED + n), labeled=np.arange(N_LABELED),
                            signals=signals, labeled_signals=labeled, rng=np.random.default_rng(1), round=0)


@pytest.mark.parametrize("n", [10_000, 100_000])
@pytest.mark.parametrize("clustered", [True, False], ids=["clustered", "unclustered"])
@pytest.mark.parametrize("strategy", [RandomStrategy(), EntropyStrategy(), CoresetStrategy(), AsaStrategy(),
                                      ProposedStrategy()], ids=lambda s: s.name)
def test_select_time_and_memory(timed_select, strategy, n: int, clustered: bool) -> None:
    ctx = make_context(n, clustered)
    picks, seconds, peak = timed_select(strategy, ctx, BUDGET)
    pool_mb = ctx.signals["embedding"].nbytes / 2**20
    print(f"\n{strategy.name:9s} n={n:>7,} {'clustered' if clustered else 'unclustered':11s} "
          f"{seconds:7.3f} s  peak {peak / 2**20:7.1f} MiB (embeddings {pool_mb:.0f} MiB)")
    assert len(set(picks)) == BUDGET
    assert peak < 2.5 * ctx.signals["embedding"].nbytes  # linear in the pool, never N x N
    if n == 100_000 and strategy.name in TARGETS:
        assert seconds <= TARGETS[strategy.name], f"{strategy.name} took {seconds:.2f} s"
