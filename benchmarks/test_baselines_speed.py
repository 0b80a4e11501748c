"""select() time and peak memory of the alseg-baselines strategies, and BALD's cost per pool image.

Run: OMP_NUM_THREADS=1 python -m pytest benchmarks/test_baselines_speed.py -q -s   (add -k "not 100k" for 10k only)
typiclust, badge (its k-means++ on given gradient embeddings) and power(base=entropy) select 30 images from
pools of 10,000 and 100,000 × 512 float32 (180 labeled); peak memory is tracemalloc's (numpy and sklearn).
BALD: T = 10 MC-dropout passes per pool image at 160 px on the EfficientNet-Lite0 U-Net (CPU, float32).
Needs the plugin installed (pip install --no-build-isolation --no-deps -e ./strategies/alseg-baselines).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from alseg.api import Predictor, SelectionContext, needs_of

baselines = pytest.importorskip("alseg_baselines", reason="the alseg-baselines plugin is not installed")
from alseg_baselines.badge import BadgeStrategy  # noqa: E402
from alseg_baselines.bald import BaldStrategy  # noqa: E402
from alseg_baselines.power import PowerStrategy  # noqa: E402
from alseg_baselines.typiclust import TypiClustStrategy  # noqa: E402

BUDGET, DIM, N_LABELED = 30, 512, 180
BALD_IMAGES, BALD_SIZE, BALD_PASSES = 32, 160, 10


def make_context(n: int) -> SelectionContext:
    """30 Gaussian blobs of 512-d embeddings, entropies in [0, ln 2), 180 labeled embeddings."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(30, DIM)).astype(np.float32)
    emb = centres[rng.integers(30, size=n)] + rng.normal(size=(n, DIM)).astype(np.float32)
    labeled = centres[rng.integers(30, size=N_LABELED)] + rng.normal(size=(N_LABELED, DIM)).astype(np.float32)
    signals = {"embedding": emb, "entropy": (rng.random(n) * np.log(2)).astype(np.float32)}
    return SelectionContext(pool=np.arange(N_LABELED, N_LABELED + n), labeled=np.arange(N_LABELED),
                            signals=signals, labeled_signals={"embedding": labeled}, rng=np.random.default_rng(1),
                            round=0)


def badge_on_given_embeddings() -> BadgeStrategy:
    """BADGE whose gradient embeddings are the context's 512-d embeddings: times its k-means++ selection only."""
    strategy = BadgeStrategy()
    strategy.embeddings = lambda ctx: ctx.signals["embedding"]
    return strategy


STRATEGIES = {"typiclust": TypiClustStrategy, "badge-kmeans++": badge_on_given_embeddings,
              "power(base=entropy)": lambda: PowerStrategy(base="entropy")}


@pytest.mark.parametrize("n", [10_000, 100_000], ids=["10k", "100k"])
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_select_time_and_memory(timed_select, bench_report, name: str, n: int) -> None:
    strategy, ctx = STRATEGIES[name](), make_context(n)
    picks, seconds, peak = timed_select(strategy, ctx, BUDGET)
    pool_mib = ctx.signals["embedding"].nbytes / 2**20
    bench_report(f"{name:20s} n={n:>7,} select {seconds:7.3f} s  peak {peak / 2**20:7.1f} MiB "
                 f"(embeddings {pool_mib:.0f} MiB)")
    assert len(set(np.asarray(picks).tolist())) == BUDGET
    assert peak < 3 * ctx.signals["embedding"].nbytes  # linear in the pool, never N x N


def test_bald_seconds_per_pool_image(benchmark, bench_report) -> None:
    from alseg.models import LITE0, build_model

    torch.set_num_threads(1)
    model = build_model(LITE0, "none", 0)
    images = np.random.default_rng(0).integers(0, 256, size=(BALD_IMAGES, BALD_SIZE, BALD_SIZE, 3), dtype=np.uint8)
    strategy = BaldStrategy(passes=BALD_PASSES)
    ctx = SelectionContext(pool=np.arange(BALD_IMAGES), labeled=np.zeros(0, dtype=np.int64), signals={},
                           labeled_signals={}, rng=np.random.default_rng(0), round=0,
                           predictor=Predictor(model, images, 16, torch.device("cpu")), needs=needs_of(strategy))
    torch.manual_seed(0)
    t = time.perf_counter()
    scores = strategy.selection_scores(ctx)
    seconds = time.perf_counter() - t
    benchmark.pedantic(lambda: strategy.selection_scores(ctx), rounds=1, iterations=1)
    bench_report(f"bald T={BALD_PASSES} at {BALD_SIZE} px, Lite0 U-Net: {seconds / BALD_IMAGES:.3f} s per pool image "
                 f"({BALD_IMAGES} images in {seconds:.1f} s, {torch.get_num_threads()} thread)")
    assert scores.shape == (BALD_IMAGES,) and np.all(np.isfinite(scores))
