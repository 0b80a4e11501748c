"""The shared first round: computed once per seed, the same records as unshared runs apart from the times."""

from __future__ import annotations

import json

from conftest import read_records

from alseg.bench import run_benchmark
from alseg.records import TIMING_FIELDS
from alseg.shared_round import load_shared_round, shared_dir

SHARERS = "random,entropy,coreset"


def _records(cfg, run: str, seed: int = 0) -> list[dict]:
    return read_records(cfg.experiment_dir / "runs" / run / f"seed-{seed}.jsonl")


def _timed(cfg, run: str, seed: int = 0) -> list[dict]:
    return read_records(cfg.experiment_dir / "runs" / run / f"seed-{seed}.jsonl", drop_timing=False)


def test_shared_round_zero_gives_the_records_of_unshared_runs(tiny_cfg, tmp_path):
    shared = tiny_cfg(strategies=f"{SHARERS},proposed", seeds=2, name="shared")
    alone = tiny_cfg(strategies=f"{SHARERS},proposed", seeds=2, name="alone", share_round0=False)
    run_benchmark(shared)
    run_benchmark(alone)
    for run in [*SHARERS.split(","), "proposed"]:
        for seed in (0, 1):
            assert _records(shared, run, seed) == _records(alone, run, seed), (run, seed)
    for run in SHARERS.split(","):  # the sharers' round 0 cost nothing of their own
        first = _timed(shared, run)[0]
        assert first["t_train"] == first["t_eval"] == first["t_pool"] == 0.0
        assert _timed(alone, run)[0]["t_train"] > 0
    assert _timed(shared, "proposed")[0]["t_train"] > 0  # a training term (discrepancy): it trains its own
    summary = json.loads((shared.experiment_dir / "shared-round0.json").read_text())
    assert sorted(summary) == ["0", "1"]
    assert summary["0"]["users"] == sorted(SHARERS.split(",")) and summary["0"]["t_train"] > 0
    assert not (alone.experiment_dir / "shared-round0.json").exists()
    assert not (alone.experiment_dir / ".shared").exists()


def test_a_later_strategy_reuses_the_stored_round_and_adds_the_signals_it_needs(tiny_cfg):
    first = tiny_cfg(strategies="random,entropy", name="grow")
    run_benchmark(first)
    stored = load_shared_round(first.experiment_dir, 0)
    assert stored is not None and "tta_variance" not in stored.signals
    later = tiny_cfg(strategies="asa", name="grow")  # ASA needs tta_variance and labeled embeddings
    run_benchmark(later)
    grown = load_shared_round(first.experiment_dir, 0)
    assert "tta_variance" in grown.signals and "embedding" in grown.labeled_signals
    assert grown.users == ["asa", "entropy", "random"]
    alone = tiny_cfg(strategies="asa", name="asa-alone", share_round0=False)
    run_benchmark(alone)
    assert _records(later, "asa") == _records(alone, "asa")
    assert _timed(later, "asa")[0]["t_train"] == 0.0


def test_a_damaged_shared_round_is_recomputed_with_the_same_result(tiny_cfg):
    cfg = tiny_cfg(strategies="random,entropy", name="damaged")
    run_benchmark(cfg)
    before = _records(cfg, "entropy")
    (shared_dir(cfg.experiment_dir, 0) / "round-0.pt").write_bytes(b"torn")
    assert load_shared_round(cfg.experiment_dir, 0) is None
    for path in (cfg.experiment_dir / "runs").rglob("*"):
        if path.is_file():
            path.unlink()
    run_benchmark(cfg)
    assert _records(cfg, "entropy") == before
    assert load_shared_round(cfg.experiment_dir, 0) is not None


def test_one_new_run_alone_does_not_store_a_shared_round(tiny_cfg):
    cfg = tiny_cfg(strategies="entropy", name="single")
    run_benchmark(cfg)
    assert not (cfg.experiment_dir / ".shared").exists()
    assert set(TIMING_FIELDS) <= set(_timed(cfg, "entropy")[0])


def test_the_times_table_marks_shared_runs_and_leaves_their_round_zero_out(tiny_cfg):
    cfg = tiny_cfg(strategies="random,entropy", name="marks")
    run_benchmark(cfg)
    text = (cfg.experiment_dir / "leaderboard.md").read_text()
    assert "Random‡" in text and "‡ round 0 came from the seed's shared first round" in text
    own = _timed(cfg, "random")[1]["t_train"]  # the one round it trained itself
    row = next(line for line in text.splitlines() if line.startswith("| Random‡"))
    assert f"{own:.2f}" in row


def test_records_say_where_they_were_computed_and_a_sharer_names_the_shared_rounds_machine(tiny_cfg):
    import torch

    from alseg.environment import cpu_model

    cfg = tiny_cfg(strategies="random,entropy", name="stamped")
    run_benchmark(cfg)
    here = {"cpu": cpu_model(), "threads": torch.get_num_threads()}
    assert all(rec["computed_on"] == here for rec in _timed(cfg, "random"))  # _records leaves context out
    summary = json.loads((shared_dir(cfg.experiment_dir, 0) / "round-0.json").read_text())
    assert summary["computed_on"] == here
    # a round 0 taken from a shared round computed elsewhere says so: rewrite where the stored one was computed
    summary["computed_on"] = {"cpu": "Some Other CPU", "threads": 7}
    (shared_dir(cfg.experiment_dir, 0) / "round-0.json").write_text(json.dumps(summary))
    later = tiny_cfg(strategies="coreset,asa", name="stamped")
    run_benchmark(later)
    coreset = _timed(later, "coreset")
    assert coreset[0]["computed_on"] == {"cpu": "Some Other CPU", "threads": 7}
    assert all(rec["computed_on"] == here for rec in coreset[1:])


def test_a_recomputed_shared_round_keeps_the_earlier_ones_cost_and_users(tiny_cfg):
    cfg = tiny_cfg(strategies="random,entropy", name="lost")
    run_benchmark(cfg)
    first = json.loads((cfg.experiment_dir / "shared-round0.json").read_text())["0"]
    assert first["users"] == ["entropy", "random"] and "dice" in first and "earlier" not in first
    for path in sorted(shared_dir(cfg.experiment_dir, 0).iterdir()):  # the weights are not committed: lost
        path.unlink()
    run_benchmark(tiny_cfg(strategies="coreset,asa", name="lost"))  # needs round 0 again: recomputed
    entry = json.loads((cfg.experiment_dir / "shared-round0.json").read_text())["0"]
    assert entry["users"] == ["asa", "coreset"]
    assert entry["earlier"] == [first]
    run_benchmark(tiny_cfg(strategies="coreset,asa,random", name="lost"))  # all stored: the entry stays
    assert json.loads((cfg.experiment_dir / "shared-round0.json").read_text())["0"] == entry
