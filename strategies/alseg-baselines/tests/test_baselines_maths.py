"""Known answers for the pure math of alseg-baselines (alseg_baselines.maths), on hand-made arrays."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from alseg_baselines import maths
from alseg_baselines.maths import (
    gumbel_top_k,
    kmeans_pp,
    knn_mean_distance,
    log_weights,
    mutual_information,
    positive_scores,
    predictive_entropy,
    ranks,
    typiclust_select,
)

H_CLIP = -(1e-6 * math.log(1e-6) + (1 - 1e-6) * math.log1p(-1e-6))  # h(1e-6): binary_entropy's clip at p = 0 or 1


# --- BALD and MC entropy ---------------------------------------------------------------------------------------


def test_passes_that_agree_carry_no_information() -> None:
    p = torch.rand(1, 3, 5, 4).expand(6, 3, 5, 4).contiguous()  # 6 identical passes
    assert torch.allclose(mutual_information(p), torch.zeros(3, 5, 4), atol=1e-6)


def test_two_opposite_passes_give_ln2_per_pixel() -> None:
    p = torch.stack([torch.zeros(2, 3, 3), torch.ones(2, 3, 3)])  # pass 1 says p = 0, pass 2 says p = 1
    mi = mutual_information(p)
    assert mi.shape == (2, 3, 3)
    assert torch.allclose(mi, torch.full_like(mi, math.log(2) - H_CLIP), atol=1e-6)
    assert torch.allclose(predictive_entropy(p), torch.full_like(mi, math.log(2)), atol=1e-6)


def test_mutual_information_is_between_zero_and_the_predictive_entropy() -> None:
    p = torch.rand(10, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    mi, h = mutual_information(p), predictive_entropy(p)
    assert (mi >= 0).all() and (mi <= h + 1e-6).all() and (h <= math.log(2) + 1e-6).all()
    half = torch.full((3, 1, 2, 2), 0.5)
    assert torch.allclose(predictive_entropy(half), torch.full((1, 2, 2), math.log(2)))
    assert torch.allclose(mutual_information(half), torch.zeros(1, 2, 2), atol=1e-6)


def test_numpy_in_numpy_out_and_shape_errors() -> None:
    p = np.stack([np.zeros((1, 2, 2)), np.ones((1, 2, 2))]).astype(np.float32)
    out = mutual_information(p)
    assert isinstance(out, np.ndarray) and np.allclose(out, math.log(2) - H_CLIP, atol=1e-6)
    assert isinstance(predictive_entropy(p), np.ndarray)
    with pytest.raises(ValueError, match=r"probs must be shaped \(passes, images, \.\.\.\)"):
        mutual_information(torch.rand(4))


# --- stochastic batches ----------------------------------------------------------------------------------------


def test_power_scores_are_shifted_only_when_negative_and_floored_at_tiny() -> None:
    tiny = np.finfo(np.float64).tiny
    assert np.array_equal(positive_scores(np.array([0.0, 0.5, 2.0])), [tiny, 0.5, 2.0])
    assert np.array_equal(positive_scores(np.array([-1.0, 0.0, 1.0])), [tiny, 1.0, 2.0])
    assert np.all(np.isfinite(log_weights(np.zeros(3), 1.0, "power")))


def test_log_weights_of_each_mode() -> None:
    s = np.array([0.2, 0.8, 0.4, 0.8])
    assert np.array_equal(ranks(s), [4.0, 1.0, 3.0, 2.0])  # equal scores: the lower index ranks first
    assert np.allclose(log_weights(s, 2.0, "power"), 2 * np.log(s))
    assert np.allclose(log_weights(s, 3.0, "softmax"), 3 * s)
    assert np.allclose(log_weights(s, 1.5, "softrank"), -1.5 * np.log([4.0, 1.0, 3.0, 2.0]))
    with pytest.raises(ValueError, match="mode must be one of power, softmax, softrank"):
        log_weights(s, 1.0, "linear")
    with pytest.raises(ValueError, match="scores must be 1-D"):
        log_weights(np.ones((2, 2)), 1.0, "power")


def exact_inclusion(weights: np.ndarray, k: int) -> np.ndarray:
    """P(i is among k successive draws without replacement ∝ weights), summing over every ordered k-tuple."""
    total = weights.sum()
    pi = np.zeros(len(weights))
    for seq in itertools.permutations(range(len(weights)), k):
        prob, left = 1.0, total
        for i in seq:
            prob *= weights[i] / left
            left -= weights[i]
        pi[list(seq)] += prob
    return pi


@pytest.mark.parametrize(("mode", "beta", "k"), [("power", 1.0, 2), ("power", 2.0, 3), ("softmax", 3.0, 2),
                                                  ("softrank", 1.0, 2)])
def test_gumbel_top_k_inclusion_frequencies_match_successive_sampling(mode: str, beta: float, k: int) -> None:
    scores = np.array([0.05, 0.2, 0.3, 0.6, 0.1])
    lw = log_weights(scores, beta, mode)
    pi = exact_inclusion(np.exp(lw - lw.max()), k)
    assert math.isclose(pi.sum(), k)
    rng, draws = np.random.default_rng(2024), 20_000
    counts = np.zeros(5)
    for _ in range(draws):
        picks = gumbel_top_k(lw, k, rng)
        assert len(set(picks.tolist())) == k
        counts[picks] += 1
    freq = counts / draws
    se = np.sqrt(pi * (1 - pi) / draws)
    assert np.all(np.abs(freq - pi) <= 4.5 * se), (freq, pi, se)


def test_gumbel_top_k_refuses_non_finite_log_weights() -> None:
    with pytest.raises(ValueError, match="log-weights must be a 1-D array of finite numbers"):
        gumbel_top_k(np.array([0.0, -np.inf]), 1, np.random.default_rng(0))


# --- BADGE's k-means++ -----------------------------------------------------------------------------------------


def test_kmeans_pp_starts_at_the_largest_norm_and_draws_by_squared_distance() -> None:
    x = np.array([[0.0], [1.0], [3.0]])
    rng, draws = np.random.default_rng(7), 4000
    seconds = [kmeans_pp(x, 2, rng) for _ in range(draws)]
    assert all(s[0] == 2 for s in seconds)  # |3| is the largest norm
    p0 = 9 / 13  # D² to the first centre: 9 for x = 0, 4 for x = 1
    freq = np.mean([s[1] == 0 for s in seconds])
    assert abs(freq - p0) <= 4.5 * math.sqrt(p0 * (1 - p0) / draws)
    assert sorted(kmeans_pp(x, 3, rng).tolist()) == [0, 1, 2]


def test_kmeans_pp_with_duplicates_takes_the_lowest_unchosen_index() -> None:
    x = np.array([[5.0, 0.0]] * 3 + [[0.0, 1.0]])
    assert kmeans_pp(x, 4, np.random.default_rng(0)).tolist() == [0, 3, 1, 2]
    assert kmeans_pp(x, 0, np.random.default_rng(0)).tolist() == []
    with pytest.raises(ValueError, match=r"k must be an integer in \[0, 4\]"):
        kmeans_pp(x, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="x must be 2-D"):
        kmeans_pp(np.ones(3), 1, np.random.default_rng(0))


def test_kmeans_pp_picks_one_point_per_far_apart_blob() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    x = np.concatenate([c + rng.normal(size=(20, 2)) for c in centres])
    for seed in range(5):
        picks = kmeans_pp(x, 3, np.random.default_rng(seed))
        assert sorted((picks // 20).tolist()) == [0, 1, 2]


# --- TypiClust -------------------------------------------------------------------------------------------------


def test_knn_mean_distance_on_a_line() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert np.allclose(knn_mean_distance(x, 1), [1, 1, 1, 1])
    assert np.allclose(knn_mean_distance(x, 2), [1.5, 1, 1, 1.5])
    assert np.allclose(knn_mean_distance(x, 3), [2, 4 / 3, 4 / 3, 2])
    assert np.array_equal(knn_mean_distance(x[:1], 0), [0.0])
    with pytest.raises(ValueError, match=r"k must be an integer in \[0, 3\] for 4 rows"):
        knn_mean_distance(x, 4)


def test_knn_mean_distance_in_small_blocks_equals_the_full_matrix(monkeypatch) -> None:
    x = np.random.default_rng(1).normal(size=(37, 5))
    full = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(full, np.inf)
    expected = np.sort(full, axis=1)[:, :6].mean(1)
    monkeypatch.setattr(maths, "_BLOCK", 50)  # one row per block
    assert np.allclose(knn_mean_distance(x, 6), expected)


def line_cluster(origin: float, size: int) -> np.ndarray:
    """`size` points 1 apart on a line: with k = size − 1 the most typical is the median (lowest index if even)."""
    return np.stack([np.full(size, origin), np.arange(size, dtype=float)], axis=1)


def test_typiclust_select_covers_the_largest_uncovered_clusters_first() -> None:
    x = np.concatenate([line_cluster(0, 5), line_cluster(100, 4), line_cluster(200, 3)])
    labels = np.repeat([0, 1, 2], [5, 4, 3])
    labeled = np.zeros(12, dtype=bool)
    labeled[0] = True  # cluster 0 (the largest) is covered
    assert typiclust_select(x, labels, labeled, 1).tolist() == [6]  # cluster 1's median (rows 5..8: 6 and 7 tie)
    assert typiclust_select(x, labels, labeled, 2).tolist() == [6, 10]  # then cluster 2's median
    # Every cluster covered once: the fewest covered, then the largest (cluster 0, its median row 2)...
    assert typiclust_select(x, labels, labeled, 3).tolist() == [6, 10, 2]
    # ...then cluster 1 again (covered once, larger than cluster 2), its next most typical row.
    assert typiclust_select(x, labels, labeled, 4).tolist() == [6, 10, 2, 7]


def test_typiclust_select_never_picks_a_labeled_row() -> None:
    x = line_cluster(0, 5)
    labeled = np.array([False, False, True, False, False])  # the median is labeled
    picks = typiclust_select(x, np.zeros(5, dtype=int), labeled, 4)
    assert picks.tolist() == [1, 3, 0, 4]  # mean distances 1.75, 1.75, 2.5, 2.5 (ties to the lowest row)
    with pytest.raises(ValueError, match=r"budget must be an integer in \[0, 4\]"):
        typiclust_select(x, np.zeros(5, dtype=int), labeled, 5)
    with pytest.raises(ValueError, match="labels and labeled must have one entry per row"):
        typiclust_select(x, np.zeros(4, dtype=int), labeled, 1)
