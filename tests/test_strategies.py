"""Strategy-level known answers: each built-in's select() and extra_loss() on hand-made contexts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alseg.api import Predictor, SelectionContext, StrategyContractError, needs_of
from alseg.models import build_model
from alseg.pool import pool_pass
from alseg.strategies.asa import AsaStrategy
from alseg.strategies.clustering import weighted_kmeans
from alseg.strategies.coreset import CoresetStrategy
from alseg.strategies.entropy import EntropyStrategy
from alseg.strategies.proposed import ProposedStrategy
from alseg.strategies.random import RandomStrategy


def ctx(signals: dict, labeled_signals: dict | None = None, n_labeled: int = 0, seed: int = 0) -> SelectionContext:
    """A context whose pool ids are 100, 101, ... so that positions and ids differ."""
    n = len(next(iter(signals.values())))
    return SelectionContext(pool=np.arange(100, 100 + n), labeled=np.arange(n_labeled), signals=signals,
                            labeled_signals=labeled_signals or {}, rng=np.random.default_rng(seed), round=0)


def test_random_is_seeded_and_distinct() -> None:
    signals = {"entropy": np.zeros(50)}
    a = RandomStrategy().select(ctx(signals, seed=3), 10)
    b = RandomStrategy().select(ctx(signals, seed=3), 10)
    c = RandomStrategy().select(ctx(signals, seed=4), 10)
    assert list(a) == list(b) and list(a) != list(c) and len(set(a)) == 10


def test_entropy_takes_the_most_uncertain_with_ties_to_lowest_id() -> None:
    ent = np.array([0.1, 0.6, 0.3, 0.6, 0.0])
    assert list(EntropyStrategy().select(ctx({"entropy": ent}), 3)) == [101, 103, 102]


def test_entropy_aggregate_max_reads_the_max_signal() -> None:
    signals = {"entropy": np.array([0.5, 0.1]), "entropy:max": np.array([0.2, 0.7])}
    assert list(EntropyStrategy(aggregate="max").select(ctx(signals), 1)) == [101]


def test_entropy_refuses_nan_scores() -> None:
    with pytest.raises(StrategyContractError, match=r"entropy.*non-finite"):
        EntropyStrategy().select(ctx({"entropy": np.array([0.1, np.nan])}), 1)


def test_coreset_on_a_line_picks_far_end_then_midpoint() -> None:
    pool = np.arange(1, 11, dtype=np.float32)[:, None]  # points 1..10
    picks = CoresetStrategy().select(ctx({"embedding": pool}, {"embedding": np.zeros((1, 1), np.float32)}), 2)
    assert list(picks) == [109, 104]  # 10 first (farthest from 0), then 5 (distance 5 to both ends)


def test_proposed_without_clustering_is_top_similarity() -> None:
    cos = np.array([0.1, 0.9, -0.3, 0.5])
    emb = np.eye(4, dtype=np.float32)
    picks = ProposedStrategy(clustering=False).select(ctx({"fg_bg_similarity": cos, "embedding": emb}), 2)
    assert list(picks) == [101, 103]


def test_proposed_without_uncertainty_equals_plain_kmeans() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 5)).astype(np.float32)
    cos = rng.uniform(-1, 1, size=60)
    signals = {"fg_bg_similarity": cos, "embedding": emb}
    plain = ProposedStrategy(uncertainty=False).select(ctx(signals, seed=1), 4)
    seed = int(np.random.default_rng(1).integers(2**32))
    km = weighted_kmeans(emb, 4, None, seed=seed)
    d = ((emb[:, None, :] - km.centroids[None]) ** 2).sum(-1)
    expected = [100 + int(np.argmin(np.where(km.labels == c, d[:, c], np.inf))) for c in range(4)]
    assert list(plain) == expected


def test_proposed_weights_move_picks_toward_uncertain_images() -> None:
    # One cluster of 11 points on a line; the uncertain end should pull the single centroid and the pick.
    emb = np.linspace(0, 10, 11, dtype=np.float32)[:, None]
    cos = np.where(np.arange(11) >= 8, 1.0, -1.0)  # weights (shift): 1 for the last three, 0 elsewhere
    weighted = ProposedStrategy().select(ctx({"fg_bg_similarity": cos, "embedding": emb}), 1)
    plain = ProposedStrategy(uncertainty=False).select(ctx({"fg_bg_similarity": cos, "embedding": emb}), 1)
    assert list(plain) == [105] and list(weighted) == [109]


def test_proposed_switches_must_be_booleans() -> None:
    with pytest.raises(ValueError, match="discrepancy must be true or false"):
        ProposedStrategy(discrepancy="maybe")


def test_proposed_rejects_ablating_both_rules() -> None:
    with pytest.raises(ValueError, match="no selection rule"):
        ProposedStrategy(uncertainty=False, clustering=False)


def test_discrepancy_loss_reaches_encoder_parameters() -> None:
    model = build_model("tu-test_efficientnet", "none", 0)
    out = model(torch.rand(2, 3, 32, 32))
    strategy = ProposedStrategy()
    assert strategy.extra_loss(out, labeled=True) is None
    loss = strategy.extra_loss(out, labeled=False)
    assert loss is not None
    # Push cos above delta so the hinge is active: a zero margin makes any untrained model qualify.
    ProposedStrategy(delta=-1.0).extra_loss(model(torch.rand(2, 3, 32, 32)), labeled=False).backward()
    grads = [p.grad for p in model.net.encoder.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    assert needs_of(ProposedStrategy(discrepancy=False)).unlabeled_loss is False
    assert needs_of(ProposedStrategy()).unlabeled_loss is True


def test_asa_keeps_only_the_most_uncertain_candidates() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(40, 8)).astype(np.float32)
    var = np.arange(40, dtype=np.float64)  # the last images are the most uncertain
    c = ctx({"tta_variance": var, "embedding": emb}, {"embedding": rng.normal(size=(5, 8)).astype(np.float32)})
    picks = AsaStrategy(candidates=2).select(c, 5)
    assert all(p - 100 >= 30 for p in picks)  # only the top 2 x 5 = 10 by variance qualify
    assert len(set(picks)) == 5


def test_asa_needs_follow_views() -> None:
    assert "tta_variance" in needs_of(AsaStrategy()).pool_keys
    assert "tta_variance" not in needs_of(AsaStrategy(views="mcdropout")).pool_keys
    assert needs_of(AsaStrategy(views="mcdropout")).model
    with pytest.raises(ValueError, match="views"):
        AsaStrategy(views="bogus")


def test_asa_mcdropout_is_seeded_by_the_torch_stream(synthetic32) -> None:
    model = build_model("tu-test_efficientnet", "none", 0)
    pool = synthetic32.train[:12]
    emb = pool_pass(model, synthetic32.images, pool, {"embedding"}, 6, torch.device("cpu"))["embedding"]

    def select() -> list[int]:
        strategy = AsaStrategy(views="mcdropout", passes=3)
        c = SelectionContext(pool=pool, labeled=synthetic32.train[20:24], signals={"embedding": emb},
                             labeled_signals={"embedding": emb[:4]}, rng=np.random.default_rng(0), round=0,
                             predictor=Predictor(model, synthetic32.images, 6, torch.device("cpu")),
                             strategy="asa(passes=3,views=mcdropout)", needs=needs_of(strategy))
        with torch.random.fork_rng():
            torch.manual_seed(7)
            return list(strategy.select(c, 3))

    assert select() == select()


def test_asa_ensemble_trains_members_and_predicts_with_them(synthetic32) -> None:
    model = build_model("tu-test_efficientnet", "none", 0)
    pool = synthetic32.train[:12]
    emb = pool_pass(model, synthetic32.images, pool, {"embedding"}, 6, torch.device("cpu"))["embedding"]
    trained: list[int] = []

    def train_member(k: int):
        trained.append(k)
        return build_model("tu-test_efficientnet", "none", 10 + k)

    strategy = AsaStrategy(views="ensemble", passes=3)
    c = SelectionContext(pool=pool, labeled=synthetic32.train[20:24], signals={"embedding": emb},
                         labeled_signals={"embedding": emb[:4]}, rng=np.random.default_rng(0), round=0,
                         predictor=Predictor(model, synthetic32.images, 6, torch.device("cpu")),
                         train_member=train_member, needs=needs_of(strategy))
    u = strategy.uncertainty(c)
    assert trained == [0, 1, 2] and u.shape == (12,) and np.all(u > 0)
    assert len(set(strategy.select(c, 3))) == 3
