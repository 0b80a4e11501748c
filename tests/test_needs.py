"""The needs vocabulary, the signal table as data, the context's signal views and ctx.predict."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from alseg.api import (
    NEEDS,
    POOL_KEYS,
    Needs,
    Prediction,
    Predictor,
    SelectionContext,
    Strategy,
    StrategyContractError,
    UndeclaredSignalError,
    embedding,
    needs_of,
    parse_needs,
    tta_variance,
)
from alseg.models import build_model
from alseg.pool import COMPUTE, pool_pass
from alseg.strategies import needs as needs_module
from alseg.strategies import signals as signals_module
from alseg.strategies.asa import AsaStrategy
from alseg.strategies.entropy import EntropyStrategy
from alseg.strategies.needs import class_needs
from alseg.strategies.proposed import ProposedStrategy

DOCS = Path(__file__).resolve().parents[1] / "docs" / "strategies.md"
CPU = torch.device("cpu")


# --- the vocabulary ------------------------------------------------------------------------------------------


def test_parse_needs_splits_by_provider():
    n = parse_needs({"entropy:max", "embedding", "labeled:embedding", "labeled:entropy:sum", "unlabeled_loss"})
    assert n.pool_keys == {"entropy:max", "embedding"}
    assert n.pool_signals == {"entropy", "embedding"}  # the pool pass computes the base signal once
    assert n.labeled_keys == {"embedding", "entropy:sum"} and n.labeled_signals == {"embedding", "entropy"}
    assert (n.model, n.ensemble, n.unlabeled_loss) == (False, False, True)
    assert parse_needs(set()) == Needs(frozenset(), *[frozenset()] * 4, False, False, False)


def test_ensemble_implies_model():
    n = parse_needs({"ensemble"})
    assert n.ensemble and n.model
    assert parse_needs({"model"}).model and not parse_needs({"model"}).ensemble


def test_the_vocabulary_is_closed_and_listed():
    assert NEEDS == POOL_KEYS | {f"labeled:{k}" for k in POOL_KEYS} | {"model", "ensemble", "unlabeled_loss"}
    with pytest.raises(StrategyContractError) as exc:
        parse_needs({"entropy.max", "gradients"}, "strategy 'x'")
    msg = str(exc.value)
    assert msg.startswith("strategy 'x' declares unknown needs 'entropy.max' (did you mean 'entropy:max'?), "
                          "'gradients'")
    assert "valid needs: " + ", ".join(sorted(NEEDS)) in msg


@pytest.mark.parametrize(("needs", "fragment"), [("entropy", "must be a set of names"), (3, "must be a set"),
                                                 ({"entropy", 3}, "must be strings, got 3")])
def test_needs_must_be_a_set_of_names(needs, fragment):
    with pytest.raises(StrategyContractError, match=fragment):
        parse_needs(needs, "strategy 'x'")


def test_builtin_needs_follow_their_parameters():
    assert needs_of(EntropyStrategy()).pool_keys == {"entropy"}
    maxed = needs_of(EntropyStrategy(aggregate="max"))
    assert maxed.pool_keys == {"entropy:max"} and maxed.pool_signals == {"entropy"}
    assert needs_of(AsaStrategy()).pool_signals == {"tta_variance", "embedding"}
    mc = needs_of(AsaStrategy(views="mcdropout"))
    assert mc.pool_signals == {"embedding"} and mc.model and not mc.ensemble
    ens = needs_of(AsaStrategy(views="ensemble"))
    assert ens.ensemble and ens.model and ens.labeled_keys == {"embedding"}
    assert needs_of(ProposedStrategy()).unlabeled_loss
    assert not needs_of(ProposedStrategy(discrepancy=False)).unlabeled_loss
    assert needs_of(ProposedStrategy(clustering=False)).pool_keys == {"fg_bg_similarity"}
    assert needs_of(ProposedStrategy(uncertainty=False)).pool_keys == {"embedding"}
    # The class declares what its default instance needs.
    for strategy in (EntropyStrategy(), AsaStrategy(), ProposedStrategy()):
        assert class_needs(type(strategy)) == needs_of(strategy)


class _Old(Strategy):
    name = "old"
    description = "uses the contract before API 1.0"
    needs = frozenset({"embedding"})


@pytest.mark.parametrize(("attr", "value", "replacement"), [
    ("needs_labeled", frozenset({"embedding"}), "declare 'labeled:<signal>' in needs"),
    ("needs_model", True, "declare 'model' in needs and call ctx.predict"),
    ("trains_on_unlabeled", True, "declare 'unlabeled_loss' in needs"),
])
def test_removed_attributes_are_refused_naming_the_replacement(attr, value, replacement):
    cls = type("Old", (_Old,), {attr: value})
    with pytest.raises(StrategyContractError, match=rf"strategy 'old' sets `{attr}`, which alseg API 1.0 removed: "
                                                   rf"{re.escape(replacement)}"):
        class_needs(cls)
    instance = _Old()
    setattr(instance, attr, value)  # set in __init__, as asa and proposed used to
    with pytest.raises(StrategyContractError, match=f"sets `{attr}`"):
        needs_of(instance)


def test_needs_set_on_the_instance_are_refused():
    instance = _Old()
    instance.needs = frozenset({"entropy"})
    with pytest.raises(StrategyContractError, match=r"sets self.needs on the instance.*declared_needs\(\)"):
        needs_of(instance)


# --- the signal table is data, read by the pool pass and the docs -----------------------------------------


def test_pool_pass_computes_exactly_the_table(synthetic32):
    assert set(COMPUTE) == signals_module.POOL_SIGNALS
    model = build_model("tu-test_efficientnet", "none", 0)
    idx = synthetic32.train[:5]
    for s in signals_module.SIGNALS:
        out = pool_pass(model, synthetic32.images, idx, {s.name}, 4, CPU)
        assert tuple(sorted(out)) == tuple(sorted(s.keys)), s.name
        for key, value in out.items():
            assert value.dtype == np.float32 and len(value) == 5
            assert value.ndim == (2 if s.shape.startswith("(N, C)") else 1), key
    # Keys (variants) are accepted too and mean their base signal; an unknown one is refused with the list.
    assert set(pool_pass(model, synthetic32.images, idx, {"entropy:max"}, 4, CPU)) == {"entropy", "entropy:sum",
                                                                                      "entropy:max"}
    with pytest.raises(ValueError, match=r"unknown pool signals \['entropy.max'\]; known: \["):
        pool_pass(model, synthetic32.images, idx, {"entropy.max"}, 4, CPU)


def _docs_block(marker: str) -> str:
    text = DOCS.read_text()
    start = text.index(f"<!-- {marker}:begin -->") + len(f"<!-- {marker}:begin -->")
    return text[start : text.index(f"<!-- {marker}:end -->")].strip()


def test_docs_signal_table_is_the_data():
    assert _docs_block("signals") == signals_module.markdown_table(), (
        "docs/strategies.md's signal table differs from alseg/strategies/signals.py: paste "
        "python -c 'from alseg.strategies.signals import markdown_table; print(markdown_table())'")


def test_docs_needs_table_is_the_data():
    assert _docs_block("needs") == needs_module.markdown_table(), (
        "docs/strategies.md's needs table differs from alseg/strategies/needs.py: paste "
        "python -c 'from alseg.strategies.needs import markdown_table; print(markdown_table())'")


# --- what the context shows ------------------------------------------------------------------------------------


def _ctx(needs: set[str], strategy: str = "x", **kw) -> SelectionContext:
    n = 6
    signals = {"entropy": np.arange(n, dtype=np.float32), "entropy:max": np.ones(n, np.float32),
               "embedding": np.zeros((n, 3), np.float32)}
    return SelectionContext(pool=np.arange(10, 10 + n), labeled=np.arange(2), signals=signals,
                            labeled_signals={"embedding": np.zeros((2, 3), np.float32)},
                            rng=np.random.default_rng(0), round=0, strategy=strategy,
                            needs=parse_needs(needs, f"strategy '{strategy}'"), **kw)


def test_only_declared_signals_are_visible():
    ctx = _ctx({"entropy"})
    assert list(ctx.signals) == ["entropy"] and "entropy:max" not in ctx.signals and len(ctx.labeled_signals) == 0
    assert ctx.signals["entropy"][2] == 2 and ctx.signals.read == {"entropy"}
    with pytest.raises(UndeclaredSignalError) as exc:
        ctx.signals["entropy:max"]
    assert str(exc.value) == ("strategy 'x' reads the pool signal 'entropy:max' but does not declare it: add "
                              "'entropy:max' to needs (or to what declared_needs() returns) (declared: 'entropy')")
    assert isinstance(exc.value, KeyError) and isinstance(exc.value, StrategyContractError)
    assert ctx.signals.get("entropy:max") is None  # Mapping.get still works
    with pytest.raises(UndeclaredSignalError, match="add 'labeled:embedding' to needs"):
        ctx.labeled_signals["embedding"]
    with pytest.raises(UndeclaredSignalError, match="'entropie' is no signal at all; known keys: embedding"):
        ctx.signals["entropie"]


def test_a_declared_signal_the_harness_did_not_pass_is_a_harness_error():
    with pytest.raises(ValueError, match=r"the declared signals tta_variance are missing"):
        _ctx({"tta_variance"})
    with pytest.raises(ValueError, match=r"do not have one row per id"):
        SelectionContext(pool=np.arange(3), labeled=np.arange(0), signals={"entropy": np.zeros(2)},
                         labeled_signals={}, rng=np.random.default_rng(0), round=0, needs=parse_needs({"entropy"}))


def test_predict_and_train_member_need_their_declaration():
    model = build_model("tu-test_efficientnet", "none", 0)
    images = np.zeros((16, 32, 32, 3), np.uint8)
    ctx = _ctx({"entropy"}, strategy="nomodel", predictor=Predictor(model, images, 4, CPU),
               train_member=lambda k: model)
    with pytest.raises(StrategyContractError,
                       match=r"^strategy 'nomodel' calls ctx.predict but does not declare the need 'model'"):
        ctx.predict(ctx.pool)
    with pytest.raises(StrategyContractError, match=r"calls ctx\.predict_scores but does not declare the need 'model'"):
        ctx.predict_scores(ctx.pool, tta_variance)
    with pytest.raises(StrategyContractError,
                       match=r"strategy 'nomodel' calls ctx\.train_member but does not declare the need 'ensemble'"):
        ctx.train_member(0)
    with pytest.raises(StrategyContractError, match="this context was built without it"):
        _ctx({"model"}).predict([10])
    assert _ctx({"model"}, predictor=Predictor(model, images, 4, CPU)).predict([10, 11]).probs.shape == (2, 32, 32)


# --- Predictor ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    from alseg.datasets.synthetic import load_synthetic

    data = load_synthetic(image_size=32)
    return build_model("tu-test_efficientnet", "none", 0), data.images, data.train[:10]


def test_predict_shapes_and_values(tiny):
    model, images, ids = tiny
    pred = Predictor(model, images, 4, CPU).predict(ids, embeddings=True)
    assert isinstance(pred, Prediction) and pred.ids.tolist() == ids.tolist()
    assert pred.probs.shape == (10, 32, 32) and pred.probs.dtype == np.float32
    with torch.no_grad():
        x = torch.from_numpy(images[ids]).permute(0, 3, 1, 2).float() / 255
        out = model(x)
    np.testing.assert_allclose(pred.probs, torch.sigmoid(out.logits)[:, 0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.embeddings, embedding(out.features).numpy(), rtol=1e-5, atol=1e-6)
    # The same embeddings as the pool pass (identical on the CPU, where neither uses autocast).
    emb = pool_pass(model, images, ids, {"embedding"}, 4, CPU)["embedding"]
    np.testing.assert_array_equal(pred.embeddings, emb)
    torch.manual_seed(0)
    many = Predictor(model, images, 4, CPU).predict(ids, mc_dropout=True, passes=3)
    assert many.probs.shape == (3, 10, 32, 32) and many.embeddings is None
    assert not np.array_equal(many.probs[0], many.probs[1])  # dropout differs between passes
    two = Predictor(model, images, 4, CPU).predict(ids, models=[model, model])
    assert two.probs.shape == (2, 10, 32, 32) and np.array_equal(two.probs[0], two.probs[1])
    empty = Predictor(model, images, 4, CPU).predict([])
    assert empty.probs.shape == (0, 32, 32)


def test_predict_scores_streams_what_predict_holds(tiny):
    model, images, ids = tiny
    p = Predictor(model, images, 3, CPU)
    torch.manual_seed(1)
    streamed = p.predict_scores(ids, tta_variance, mc_dropout=True, passes=4)
    torch.manual_seed(1)
    held = p.predict(ids, mc_dropout=True, passes=4).probs
    assert streamed.shape == (10,) and streamed.dtype == np.float32
    np.testing.assert_array_equal(streamed, tta_variance(torch.from_numpy(held)).numpy())
    with pytest.raises(StrategyContractError, match=r"must return one value .* per image"):
        p.predict_scores(ids, lambda probs: probs.mean())
    with pytest.raises(ValueError, match="passes must be an integer >= 1, got 0"):
        p.predict(ids, passes=0)


def test_asa_mcdropout_equals_the_loop_it_replaced(tiny):
    """Bit for bit the variance the hand-written batched loop in asa.py computed before ctx.predict."""
    model, images, ids = tiny

    @torch.no_grad()
    def reference(models, batch_size, mc_dropout, passes):
        for m in models:
            m.eval()
        out = []
        for start in range(0, len(ids), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[ids[start:start + batch_size]]))
            x = x.permute(0, 3, 1, 2).float().div_(255.0)
            probs = [torch.sigmoid(m(x, mc_dropout=mc_dropout).logits.float()) for m in models for _ in range(passes)]
            out.append(tta_variance(torch.stack(probs)).cpu().numpy())
        return np.concatenate(out)

    torch.manual_seed(3)
    expected = reference([model], 4, True, 5)
    torch.manual_seed(3)
    got = Predictor(model, images, 4, CPU).predict_scores(ids, tta_variance, mc_dropout=True, passes=5)
    np.testing.assert_array_equal(got, expected)
    other = build_model("tu-test_efficientnet", "none", 1)
    np.testing.assert_array_equal(Predictor(model, images, 4, CPU).predict_scores(ids, tta_variance,
                                                                                  models=[model, other]),
                                  reference([model, other], 4, False, 1))
