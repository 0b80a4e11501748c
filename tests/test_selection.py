"""Known-answer and brute-force tests for the selection rules in alseg.strategies.selection."""

from __future__ import annotations

import numpy as np
import pytest

from alseg.strategies import selection
from alseg.strategies.clustering import weighted_kmeans
from alseg.strategies.matching import mmd_greedy
from alseg.strategies.selection import k_center_greedy, nearest_to_centroids, top_k, unit_normalise


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force many small blocks so the chunk boundaries are exercised on small inputs."""
    monkeypatch.setattr(selection, "CHUNK_ROWS", 7)
    monkeypatch.setattr(selection, "_CHUNK_COLS", 3)
    monkeypatch.setattr(selection, "THIN_ROWS", 5)


# --------------------------------------------------------------------------- top_k


def test_top_k_ties_go_to_lowest_index_in_descending_order() -> None:
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    assert top_k(scores, 3).tolist() == [1, 2, 4]
    assert top_k(scores, 4).tolist() == [1, 2, 4, 3]
    assert top_k(scores.astype(np.float32), 5).tolist() == [1, 2, 4, 3, 0]
    assert top_k(scores, 0).tolist() == []


def test_top_k_rejects_non_finite_and_bad_k() -> None:
    with pytest.raises(ValueError, match="2 non-finite"):
        top_k(np.array([1.0, np.nan, np.inf, 0.0]), 1)
    with pytest.raises(ValueError, match="between 0"):
        top_k(np.zeros(3), 4)


# --------------------------------------------------------------------------- k-center greedy


def _k_center_reference(pool: np.ndarray, labeled: np.ndarray, k: int) -> list[int]:
    """Brute force with a full distance matrix: the definition, not the implementation."""
    dist = np.sqrt(((pool[:, None, :] - pool[None, :, :]) ** 2).sum(-1))
    if len(labeled):
        mind = np.sqrt(((pool[:, None, :] - labeled[None, :, :]) ** 2).sum(-1)).min(axis=1)
        picks: list[int] = []
    else:
        first = int(np.argmax(np.linalg.norm(pool - pool.mean(axis=0), axis=1)))
        picks = [first]
        mind = dist[first].copy()
    while len(picks) < k:
        masked = mind.copy()
        masked[picks] = -np.inf
        j = int(np.argmax(masked))
        picks.append(j)
        mind = np.minimum(mind, dist[j])
    return picks


def test_k_center_on_a_line() -> None:
    pool = np.arange(11, dtype=np.float64)[:, None]
    # 10 is farthest from 0; then 5; then distance 2 ties among 2, 3, 7, 8 → lowest index 2.
    assert k_center_greedy(pool, np.array([[0.0]]), 3).tolist() == [10, 5, 2]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_labeled", [0, 1, 9])
def test_k_center_matches_brute_force(seed: int, n_labeled: int) -> None:
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((60, 5))
    labeled = rng.standard_normal((n_labeled, 5))
    assert k_center_greedy(pool, labeled, 12).tolist() == _k_center_reference(pool, labeled, 12)


def test_k_center_chunked_matches_unchunked(tiny_chunks: None) -> None:
    rng = np.random.default_rng(7)
    pool = rng.standard_normal((50, 4))
    labeled = rng.standard_normal((11, 4))
    assert k_center_greedy(pool, labeled, 10).tolist() == _k_center_reference(pool, labeled, 10)


def test_k_center_empty_labeled_starts_farthest_from_mean() -> None:
    pool = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    picks = k_center_greedy(pool, np.empty((0, 2)), 2)
    assert picks[0] == 3
    assert picks[1] == 0  # farthest from (5, 5)


def test_k_center_distinct_even_with_duplicates() -> None:
    pool = np.repeat(np.array([[0.0], [1.0]]), 3, axis=0).astype(np.float32)
    picks = k_center_greedy(pool, np.array([[0.0]], dtype=np.float32), 6)
    assert sorted(picks.tolist()) == list(range(6))
    assert picks[0] == 3  # the first copy of 1.0


def test_k_center_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        k_center_greedy(np.array([[0.0], [np.nan]]), np.empty((0, 1)), 1)
    with pytest.raises(ValueError, match="columns"):
        k_center_greedy(np.zeros((3, 2)), np.zeros((1, 3)), 1)
    with pytest.raises(ValueError, match="between 0"):
        k_center_greedy(np.zeros((3, 2)), np.zeros((0, 2)), 4)


# --------------------------------------------------------------------------- weighted k-means


def _blobs(seed: int, per: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    truth = np.repeat(np.arange(4), per)
    return centers[truth] + rng.standard_normal((4 * per, 2)), truth, centers


def test_kmeans_weights_pull_the_centroid() -> None:
    x = np.array([[0.0, 0.0], [1.0, 2.0]])
    res = weighted_kmeans(x, 1, np.array([1.0, 9.0]), seed=0)
    assert np.allclose(res.centroids, [[0.9, 1.8]])  # 0.9 of the way towards the heavy point
    assert res.inertia == pytest.approx(1 * 0.9**2 * 5 + 9 * 0.1**2 * 5)
    assert res.converged


def test_kmeans_heavy_points_move_a_shared_centroid() -> None:
    # Two tight pairs and a loose middle point: weighting the middle point drags its cluster's centroid.
    x = np.array([[0.0], [0.2], [10.0], [10.2], [4.0]])
    light = weighted_kmeans(x, 2, np.array([1.0, 1.0, 1.0, 1.0, 0.01]), seed=0)
    heavy = weighted_kmeans(x, 2, np.array([1.0, 1.0, 1.0, 1.0, 100.0]), seed=0)
    lo_light = light.centroids[light.labels[4], 0]
    lo_heavy = heavy.centroids[heavy.labels[4], 0]
    assert abs(lo_heavy - 4.0) < abs(lo_light - 4.0)
    assert abs(lo_heavy - 4.0) < 0.2  # weight 100 against at most 2 unit-weight neighbours
    w = np.array([1.0, 1.0, 1.0, 1.0, 100.0])
    members = heavy.labels == heavy.labels[4]
    assert lo_heavy == pytest.approx(float((w[members] * x[members, 0]).sum() / w[members].sum()))


def test_kmeans_none_equals_all_ones_exactly() -> None:
    x = np.random.default_rng(3).standard_normal((300, 6)).astype(np.float32)
    a = weighted_kmeans(x, 7, None, seed=5)
    b = weighted_kmeans(x, 7, np.ones(300), seed=5)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.centroids, b.centroids)
    assert a.inertia == b.inertia and a.n_iter == b.n_iter


def test_kmeans_recovers_separated_blobs() -> None:
    x, truth, centers = _blobs(0)
    res = weighted_kmeans(x, 4, np.random.default_rng(1).uniform(0.1, 1.0, len(x)), seed=2)
    assert res.converged
    for c in range(4):
        members = np.unique(res.labels[truth == c])
        assert len(members) == 1  # one blob → one cluster
        assert np.linalg.norm(res.centroids[members[0]] - centers[c]) < 0.5
    assert len(np.unique(res.labels)) == 4


def test_kmeans_same_seed_same_result() -> None:
    x = np.random.default_rng(4).standard_normal((200, 3))
    w = np.random.default_rng(5).uniform(size=200)
    a, b = weighted_kmeans(x, 5, w, seed=11), weighted_kmeans(x, 5, w, seed=11)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.centroids, b.centroids)


def test_kmeans_fixed_point_at_tol_zero() -> None:
    # With tol=0 the run stops only when nothing moves: a weighted Lloyd fixed point.
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((250, 4)), rng.uniform(0.0, 2.0, 250)
    res = weighted_kmeans(x, 6, w, seed=0, tol=0.0)
    assert res.converged and res.centroids.shape == (6, 4) and res.labels.shape == (250,)
    d2 = ((x[:, None, :] - res.centroids[None]) ** 2).sum(-1)
    assert np.array_equal(res.labels, d2.argmin(axis=1))
    for j in range(6):
        m = res.labels == j
        assert np.allclose(res.centroids[j], (w[m, None] * x[m]).sum(0) / w[m].sum())
    assert res.inertia == pytest.approx(float((w * d2.min(axis=1)).sum()))


def test_kmeans_not_converged_flag() -> None:
    x = np.random.default_rng(8).standard_normal((400, 8))
    res = weighted_kmeans(x, 10, None, seed=0, tol=0.0, max_iter=1)
    assert res.n_iter == 1 and not res.converged
    d2 = ((x[:, None, :] - res.centroids[None]) ** 2).sum(-1)
    assert np.array_equal(res.labels, d2.argmin(axis=1))  # labels always match the returned centroids


def test_kmeans_chunked_matches_unchunked(tiny_chunks: None) -> None:
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((90, 3)), rng.uniform(size=90)
    chunked = weighted_kmeans(x, 5, w, seed=1, tol=0.0)
    selection.CHUNK_ROWS, selection.THIN_ROWS = 8192, 32768  # monkeypatch restores them afterwards
    whole = weighted_kmeans(x, 5, w, seed=1, tol=0.0)
    assert np.array_equal(chunked.labels, whole.labels)
    assert np.allclose(chunked.centroids, whole.centroids)


def test_kmeans_zero_weight_points_and_empty_clusters() -> None:
    # Only two points carry weight but k = 3: the third centroid is re-seeded, never NaN.
    x = np.array([[0.0], [1.0], [5.0], [6.0], [10.0]])
    w = np.array([1.0, 0.0, 0.0, 0.0, 1.0])
    res = weighted_kmeans(x, 3, w, seed=0)
    assert np.isfinite(res.centroids).all()
    d2 = (x - res.centroids.T) ** 2
    assert np.array_equal(res.labels, d2.argmin(axis=1))


def test_kmeans_rejects_bad_weights() -> None:
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="sum to zero"):
        weighted_kmeans(x, 1, np.zeros(3), seed=0)
    with pytest.raises(ValueError, match="negative"):
        weighted_kmeans(x, 1, np.array([1.0, -1.0, 1.0]), seed=0)
    with pytest.raises(ValueError, match="shape"):
        weighted_kmeans(x, 1, np.ones(2), seed=0)
    with pytest.raises(ValueError, match="at least 1"):
        weighted_kmeans(x, 0, None, seed=0)


def test_kmeans_n_init_keeps_the_best() -> None:
    x = np.random.default_rng(10).standard_normal((150, 2))
    single = weighted_kmeans(x, 8, None, seed=3, n_init=1)
    multi = weighted_kmeans(x, 8, None, seed=3, n_init=4)
    assert multi.inertia <= single.inertia  # the first of the four runs is the single run


# --------------------------------------------------------------------------- nearest to centroids


def test_nearest_to_centroids_picks_nearest_member() -> None:
    x = np.array([[0.0], [1.0], [1.9], [2.0]])
    # index 2 (1.9) is the closest point to centroid 0 overall, but it belongs to cluster 1.
    picks = nearest_to_centroids(x, np.array([[1.8], [2.0]]), np.array([0, 0, 1, 1]))
    assert picks.tolist() == [1, 3]


def test_nearest_to_centroids_distinct_under_collapsed_centroids() -> None:
    x = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    centroids = np.array([[1.0], [1.0], [11.0]])  # centroid 1 duplicates centroid 0 and owns nothing
    picks = nearest_to_centroids(x, centroids, np.array([0, 0, 0, 2, 2, 2]))
    # cluster 0 → x=1; cluster 1 → next unused nearest to 1.0: 0 and 2 tie at distance 1 → index 0
    assert picks.tolist() == [1, 0, 4]


def test_nearest_to_centroids_after_kmeans_with_duplicate_points() -> None:
    x = np.repeat(np.array([[0.0, 0.0], [3.0, 3.0]]), 5, axis=0)
    res = weighted_kmeans(x, 4, None, seed=0)
    picks = nearest_to_centroids(x, res.centroids, res.labels)
    assert len(set(picks.tolist())) == 4


def test_nearest_to_centroids_chunked(tiny_chunks: None) -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal((40, 3))
    res = weighted_kmeans(x, 5, None, seed=0)
    picks = nearest_to_centroids(x, res.centroids, res.labels)
    for j, i in enumerate(picks):
        members = np.flatnonzero(res.labels == j)
        d = np.linalg.norm(x[members] - res.centroids[j], axis=1)
        assert i == members[np.argmin(d)]


def test_nearest_to_centroids_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match="labels"):
        nearest_to_centroids(np.zeros((3, 1)), np.zeros((2, 1)), np.array([0, 1, 2]))


# --------------------------------------------------------------------------- MMD greedy


def _mmd_reference(cand: np.ndarray, mu_u: np.ndarray, labeled: np.ndarray, k: int) -> list[int]:
    """Brute force: at each step add the candidate minimising ||mean(A ∪ {x}) − μ_U||²."""
    chosen: list[int] = []
    members = list(labeled)
    for _ in range(k):
        best, best_val = -1, np.inf
        for i in range(len(cand)):
            if i in chosen:
                continue
            val = float(((np.mean(np.array([*members, cand[i]]), axis=0) - mu_u) ** 2).sum())
            if val < best_val - 1e-12:
                best, best_val = i, val
        chosen.append(best)
        members.append(cand[best])
    return chosen


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_labeled", [0, 6])
def test_mmd_greedy_matches_brute_force(seed: int, n_labeled: int) -> None:
    rng = np.random.default_rng(seed)
    pool = unit_normalise(rng.standard_normal((80, 6)) + 0.3)
    mu_u = pool.mean(axis=0)
    cand = pool[rng.choice(80, 25, replace=False)]
    labeled = unit_normalise(rng.standard_normal((n_labeled, 6)) + 0.3) if n_labeled else np.empty((0, 6))
    assert mmd_greedy(cand, mu_u, labeled, 10).tolist() == _mmd_reference(cand, mu_u, labeled, 10)


def test_mmd_greedy_first_pick_follows_pool_mean_when_nothing_is_labeled() -> None:
    cand = np.array([[1.0, 0.0], [0.0, 1.0], [np.sqrt(0.5), np.sqrt(0.5)]])
    assert mmd_greedy(cand, np.array([0.9, 0.1]), np.empty((0, 2)), 1).tolist() == [0]
    assert mmd_greedy(cand, np.array([0.5, 0.5]), np.empty((0, 2)), 3).tolist()[0] == 2


def test_mmd_greedy_distinct_and_bad_k() -> None:
    cand = unit_normalise(np.ones((4, 3)))  # all equal: ties → 0, 1, 2, 3
    assert mmd_greedy(cand, cand[0], np.empty((0, 3)), 4).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="between 0"):
        mmd_greedy(cand, cand[0], np.empty((0, 3)), 5)


def test_unit_normalise() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    out = unit_normalise(x)
    assert out.dtype == np.float32
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])
