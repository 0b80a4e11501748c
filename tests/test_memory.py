"""Resource limits: selection on a 200,000-image pool of 512-d embeddings stays linear in the pool.

Every built-in strategy's select() runs on synthetic pool signals: 200,000 float32 embeddings of 512
dimensions (200,000 x 512 x 4 B = 410 MB), the scalar signals each strategy declares, and a labeled set
of 180. tracemalloc (numpy reports its buffers to it) measures the peak memory allocated *during*
select(), above the inputs. The bound is twice the embeddings (819 MB): the pool may be copied once
(ASA unit-normalises it) plus O(N) work arrays and O(rows x k) blocks, never an N x N matrix (which
would be 200,000² x 4 B = 160 GB). A second pool of 50,000 checks that the peak grows linearly, not
quadratically, with the pool.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from alseg.api import SelectionContext
from alseg.strategies.needs import needs_of
from alseg.strategies.registry import discover

N_POOL, DIM, N_LABELED, BUDGET = 200_000, 512, 180, 30
EMBEDDING_BYTES = N_POOL * DIM * 4
BOUND = 2 * EMBEDDING_BYTES
BUILTINS = ("random", "entropy", "coreset", "asa", "proposed")


def embeddings(rng: np.random.Generator, n: int, centers: np.ndarray) -> np.ndarray:
    """Non-negative (post-ReLU-like) clustered float32 embeddings, built in blocks to keep memory flat."""
    out = np.empty((n, centers.shape[1]), dtype=np.float32)
    which = rng.integers(0, len(centers), n)
    for start in range(0, n, 20_000):
        stop = min(n, start + 20_000)
        block = centers[which[start:stop]] + 0.3 * rng.standard_normal((stop - start, centers.shape[1]),
                                                                         dtype=np.float32)
        np.maximum(block, 0.0, out=block)
        out[start:stop] = block
    return out


def pool_signals(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.gamma(2.0, 0.5, size=(64, DIM)).astype(np.float32)
    signals = {
        "embedding": embeddings(rng, n, centers),
        "entropy": rng.random(n, dtype=np.float32) * np.float32(np.log(2)),
        "tta_variance": rng.random(n, dtype=np.float32) * np.float32(0.05),
        "fg_bg_similarity": rng.random(n, dtype=np.float32) * np.float32(1.2) - np.float32(0.2),
    }
    return signals, embeddings(rng, N_LABELED, centers)


def selection_peaks(n: int) -> dict[str, tuple[int, float]]:
    """Per strategy: (peak bytes allocated during select() above its inputs, seconds)."""
    signals, labeled_emb = pool_signals(n)
    registry = discover(plugins=False)
    out = {}
    tracemalloc.start()
    try:
        with threadpool_limits(1):
            for name in BUILTINS:
                strategy = registry[name].cls()
                ctx = SelectionContext(
                    pool=np.arange(N_LABELED, N_LABELED + n), labeled=np.arange(N_LABELED),
                    signals={k: signals[k] for k in needs_of(strategy).pool_keys},
                    labeled_signals={k: labeled_emb for k in needs_of(strategy).labeled_keys},
                    rng=np.random.default_rng(1), round=0,
                )
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                t0 = time.perf_counter()
                picks = np.asarray(strategy.select(ctx, BUDGET))
                seconds = time.perf_counter() - t0
                out[name] = (tracemalloc.get_traced_memory()[1] - base, seconds)
                assert len(set(picks.tolist())) == BUDGET and set(picks.tolist()) <= set(ctx.pool.tolist()), name
                del ctx, picks
    finally:
        tracemalloc.stop()
    return out


@pytest.mark.slow
def test_selection_memory_is_linear_in_the_pool(capsys):
    big = selection_peaks(N_POOL)
    small = selection_peaks(N_POOL // 4)
    with capsys.disabled():
        print(f"\nselection on {N_POOL:,} x {DIM} float32 embeddings ({EMBEDDING_BYTES / 1e6:.0f} MB), "
              f"bound {BOUND / 1e6:.0f} MB:")
        for name in BUILTINS:
            print(f"  {name}: peak {big[name][0] / 1e6:.1f} MB in {big[name][1]:.1f} s "
                  f"({small[name][0] / 1e6:.1f} MB at {N_POOL // 4:,})")
    for name in BUILTINS:
        peak = big[name][0]
        assert peak <= BOUND, f"{name}: {peak / 1e6:.0f} MB > {BOUND / 1e6:.0f} MB"
        # Linear, not quadratic: 4x the pool may cost at most ~4x the memory (+ 8 MB of fixed blocks).
        assert peak <= 4.5 * small[name][0] + 8e6, (name, peak, small[name][0])
