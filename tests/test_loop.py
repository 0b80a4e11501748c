"""The active-learning loop: shared seeds, valid and reproducible selections, resume, torn lines, protocol guard."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import read_records, snapshot, strip_timing, tiny_config
from rich.console import Console

import alseg.loop
from alseg.bench import run_benchmark
from alseg.errors import AlsegUsageError
from alseg.experiment import init_seed, initial_labeled
from alseg.models import build_model
from alseg.store import RunFile, TornRecordWarning
from alseg.ui import run_bench_command

BUILTINS = ("asa", "coreset", "entropy", "proposed", "random")
METRICS = ("dice", "iou", "miou")


def run_file(cfg, name: str, seed: int = 0) -> Path:
    return cfg.experiment_dir / "runs" / name / f"seed-{seed}.jsonl"


def statuses(result) -> dict[str, str]:
    return {r.strategy: r.status for r in result.runs}


# --- every built-in strategy, the same command twice -------------------------------------------------


@pytest.fixture(scope="module")
def all_twice(tmp_path_factory, synthetic32):
    """All five built-ins (seed 0, 6 + 1 x 4 labels) run twice, into two separate results folders."""
    cfgs = []
    for label in ("a", "b"):
        cfg = tiny_config(tmp_path_factory.mktemp(label), strategies="all")
        result = run_benchmark(cfg, data=synthetic32)
        assert statuses(result) == dict.fromkeys(BUILTINS, "done"), result.runs
        cfgs.append(cfg)
    return cfgs


@pytest.mark.slow
def test_every_builtin_selects_budget_distinct_pool_ids(all_twice, synthetic32):
    cfg, _ = all_twice
    train_ids = {synthetic32.ids[i] for i in synthetic32.train}
    for name in BUILTINS:
        r0, r1 = read_records(run_file(cfg, name))
        assert (r0["round"], r0["n_labeled"], r1["round"], r1["n_labeled"]) == (0, 6, 1, 10), name
        picked = r0["selected"]
        assert len(picked) == cfg.budget and len(set(picked)) == cfg.budget, name
        assert set(picked) <= train_ids and not set(picked) & set(r0["added"]), name
        assert sorted(r1["added"]) == sorted(picked), name
        assert r1["selected"] == [], name  # the last round trains and evaluates only
        assert r0["status"] == "done" and r0["strategy"] == name


@pytest.mark.slow
def test_same_seed_gives_the_same_selection(all_twice):
    a, b = all_twice
    for name in BUILTINS:
        sel_a = [r["selected"] for r in read_records(run_file(a, name))]
        sel_b = [r["selected"] for r in read_records(run_file(b, name))]
        assert sel_a == sel_b, name


@pytest.mark.slow
def test_same_command_twice_gives_identical_run_files(all_twice):
    a, b = all_twice
    for name in BUILTINS:
        raw_a, raw_b = run_file(a, name).read_bytes(), run_file(b, name).read_bytes()
        assert raw_a.count(b"\n") == 2
        assert strip_timing(raw_a) == strip_timing(raw_b), name
        status = run_file(a, name).with_suffix(".status.json")
        assert status.read_bytes() == run_file(b, name).with_suffix(".status.json").read_bytes()
        assert json.loads(status.read_text())["status"] == "done"
    # Checkpoints are removed once a run is finished.
    assert not list((a.experiment_dir / ".checkpoints").rglob("*.pt"))


@pytest.mark.slow
def test_strategies_of_a_seed_share_the_initial_set_and_round0(all_twice):
    cfg, _ = all_twice
    first = {name: read_records(run_file(cfg, name))[0] for name in BUILTINS}
    added = {name: rec["added"] for name, rec in first.items()}
    assert len(added["random"]) == cfg.initial
    assert all(a == added["random"] for a in added.values()), added
    # Strategies that do not train on unlabeled images train identically in round 0: same weights,
    # same batches, same metrics.
    for name in ("entropy", "coreset", "asa"):
        assert [first[name][m] for m in METRICS] == [first["random"][m] for m in METRICS], name


def test_initial_set_depends_on_the_seed_only(synthetic32):
    l0 = initial_labeled(synthetic32, 6, 0)
    assert np.array_equal(l0, initial_labeled(synthetic32, 6, 0))
    assert len(set(l0.tolist())) == 6 and set(l0.tolist()) <= set(synthetic32.train.tolist())
    assert not np.array_equal(l0, initial_labeled(synthetic32, 6, 1))


def test_initial_weights_are_shared_by_seed(synthetic32):
    seed0 = init_seed(synthetic32, 0)
    a = build_model("tu-test_efficientnet", "none", seed0).state_dict()
    torch.manual_seed(12345)  # the global RNG state must not matter
    b = build_model("tu-test_efficientnet", "none", seed0).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = build_model("tu-test_efficientnet", "none", init_seed(synthetic32, 1)).state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)


# --- resume --------------------------------------------------------------------------------------------

RESUME = {"rounds": 2, "strategies": "proposed,entropy"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, synthetic32):
    """An uninterrupted run with rounds=2 (proposed trains on unlabeled batches, entropy does not)."""
    cfg = tiny_config(tmp_path_factory.mktemp("ref"), **RESUME)
    result = run_benchmark(cfg, data=synthetic32)
    assert set(statuses(result).values()) == {"done"}
    return cfg


def interrupt_round(monkeypatch, at: int) -> list[str]:
    """Make the loop's run_round raise KeyboardInterrupt at round `at`, once per run; returns the runs hit."""
    original = alseg.loop.run_round
    hit: list[str] = []

    def flaky(plan, r, *args, **kwargs):
        if r == at and plan.spec.run_name not in hit:
            hit.append(plan.spec.run_name)
            raise KeyboardInterrupt
        return original(plan, r, *args, **kwargs)

    monkeypatch.setattr(alseg.loop, "run_round", flaky)
    return hit


@pytest.mark.slow
def test_resume_after_interruption_gives_the_same_records(reference, tmp_path, monkeypatch, synthetic32):
    cfg = tiny_config(tmp_path, **RESUME)
    hit = interrupt_round(monkeypatch, at=2)
    interruptions = 0
    for _ in range(4):
        try:
            result = run_benchmark(cfg, data=synthetic32)
            break
        except KeyboardInterrupt:
            interruptions += 1
            name = hit[-1]
            status = json.loads(run_file(cfg, name).with_suffix(".status.json").read_text())
            assert status["status"] == "interrupted"
            assert len(read_records(run_file(cfg, name))) == 2
            assert (cfg.experiment_dir / ".checkpoints" / name / "seed-0.round-1.pt").exists()
    else:
        pytest.fail("the benchmark never finished")
    assert interruptions == 2 and hit == ["proposed", "entropy"]
    assert set(statuses(result).values()) == {"done"}
    for name in ("proposed", "entropy"):
        assert read_records(run_file(cfg, name)) == read_records(run_file(reference, name)), name


@pytest.mark.slow
def test_torn_last_line_is_dropped_and_the_run_resumes(reference, tmp_path, monkeypatch, synthetic32):
    cfg = tiny_config(tmp_path, **{**RESUME, "strategies": "proposed"})
    interrupt_round(monkeypatch, at=2)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg, data=synthetic32)
    monkeypatch.undo()
    # A crash in the middle of writing the last round's line leaves a fragment without a newline.
    last = run_file(reference, "proposed").read_bytes().splitlines(keepends=True)[2]
    path = run_file(cfg, "proposed")
    with open(path, "ab") as fh:
        fh.write(last[: len(last) // 2])
    with pytest.warns(TornRecordWarning, match="partial last line"):
        result = run_benchmark(cfg, data=synthetic32)
    assert statuses(result) == {"proposed": "done"}
    assert read_records(path) == read_records(run_file(reference, "proposed"))
    assert path.read_bytes().endswith(b"\n") and path.read_bytes().count(b"\n") == 3


@pytest.mark.slow
def test_torn_middle_round_resumes(reference, tmp_path, monkeypatch, synthetic32):
    cfg = tiny_config(tmp_path, **{**RESUME, "strategies": "proposed"})
    original = RunFile.append
    torn: list[int] = []

    def tearing_append(self, record):
        if record.round == 1 and not torn:
            torn.append(1)
            line = record.to_line()
            with open(self.path, "ab") as fh:
                fh.write(line[: len(line) // 2])
            raise KeyboardInterrupt
        return original(self, record)

    monkeypatch.setattr(RunFile, "append", tearing_append)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg, data=synthetic32)
    with pytest.warns(TornRecordWarning):
        result = run_benchmark(cfg, data=synthetic32)
    assert statuses(result) == {"proposed": "done"}, result.runs
    assert read_records(run_file(cfg, "proposed")) == read_records(run_file(reference, "proposed"))


# --- a results folder belongs to one protocol -------------------------------------------------------------


def test_other_config_is_refused_and_new_starts_a_fresh_name(tmp_path, synthetic32):
    cfg = tiny_config(tmp_path, rounds=0)
    assert set(statuses(run_benchmark(cfg, data=synthetic32)).values()) == {"done"}
    before = snapshot(cfg.experiment_dir)
    other = tiny_config(tmp_path, rounds=0, lr=0.01)
    with pytest.raises(AlsegUsageError) as exc:
        run_benchmark(other, data=synthetic32)
    msg = str(exc.value)
    assert "another configuration" in msg and "lr: stored 0.001, now 0.01" in msg
    assert "--new" in msg and str(cfg.experiment_dir / "config.toml") in msg
    assert snapshot(cfg.experiment_dir) == before
    # Strategies, seeds and the device only choose runs: the same folder takes them.
    more = run_benchmark(tiny_config(tmp_path, rounds=0, strategies="entropy"), data=synthetic32)
    assert statuses(more) == {"entropy": "done"}

    sink = Console(file=io.StringIO(), width=200)
    code = run_bench_command(other, sink, sink, new=True, quiet=True)
    assert code == 0
    fresh = Path(other.out) / "tiny-2"
    info = json.loads((fresh / "experiment.json").read_text())
    assert info["protocol"]["lr"] == 0.01
    assert (fresh / "runs" / "random" / "seed-0.jsonl").exists()
    assert json.loads((cfg.experiment_dir / "experiment.json").read_text())["protocol"]["lr"] == 0.001
