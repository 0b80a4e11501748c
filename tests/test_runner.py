"""The runner and the orchestrator: events, one load of the registry, checkpoints that fail, device in the protocol."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from conftest import read_records, strip_timing, tiny_config

import alseg.bench
from alseg.bench import run_benchmark
from alseg.errors import AlsegUsageError
from alseg.events import (
    BenchPlanned,
    Collect,
    DataLoaded,
    DataLoading,
    EpochDone,
    Note,
    Phase,
    ReportWritten,
    RoundDone,
    RoundStarted,
    RunDone,
    RunStarted,
)
from alseg.experiment import stored_protocol
from alseg.records import RoundRecord
from alseg.store import ExperimentStore

ROUNDS2 = {"rounds": 2, "strategies": "entropy"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, synthetic32):
    """entropy, 3 rounds, fine-tuning, run once without interruption."""
    cfg = tiny_config(tmp_path_factory.mktemp("ref"), **ROUNDS2)
    events = Collect()
    result = run_benchmark(cfg, events, data=synthetic32)
    assert [r.status for r in result.runs] == ["done"]
    return cfg, events


def run_path(cfg, name="entropy", seed=0):
    return cfg.experiment_dir / "runs" / name / f"seed-{seed}.jsonl"


def test_events_describe_the_benchmark_in_order(reference):
    cfg, events = reference
    kinds = [type(e) for e in events]
    # The dataset is handed in, so nothing is loaded: the summary comes first, before the plan.
    assert DataLoading not in kinds and kinds[0] is DataLoaded and kinds.index(DataLoaded) < kinds.index(BenchPlanned)
    assert kinds.index(BenchPlanned) < kinds.index(RunStarted) < kinds.index(RoundStarted)
    assert kinds.count(RoundDone) == 3 and kinds.count(RunDone) == 1 and kinds[-1] is ReportWritten
    assert EpochDone in kinds and {e.text for e in events if isinstance(e, Phase)} >= {"evaluate", "pool pass",
                                                                                          "select"}
    done = [e for e in events if isinstance(e, RoundDone)]
    assert all(isinstance(e.record, RoundRecord) for e in done)
    assert [e.record.round for e in done] == [0, 1, 2]
    planned = next(e for e in events if isinstance(e, BenchPlanned))
    assert planned.runs == (("entropy", 0),)
    report = events[-1]
    assert (cfg.experiment_dir / "leaderboard.md") in report.files


def test_the_registry_is_loaded_once_per_benchmark(tmp_path, synthetic32, monkeypatch):
    calls = []
    original = alseg.bench.discover

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(alseg.bench, "discover", counting)
    run_benchmark(tiny_config(tmp_path, rounds=0), data=synthetic32)
    assert len(calls) == 1


def test_records_round_trip_through_the_record_type(reference):
    cfg, _ = reference
    for line in run_path(cfg).read_bytes().splitlines(keepends=True):
        assert RoundRecord.from_json(json.loads(line)).to_line() == line


def test_round_record_keeps_unknown_keys():
    obj = {**json.loads(_a_line()), "from_the_future": [1, 2]}
    rec = RoundRecord.from_json(obj)
    assert rec.extra == {"from_the_future": [1, 2]} and rec.to_json() == obj


def _a_line() -> str:
    rec = RoundRecord(strategy="random", name="random", params={}, label="Random", provider="alseg==0",
                      alseg_version="0", dataset="synthetic", seed=0, round=0, n_labeled=6, dice=0.5, iou=0.4,
                      miou=0.6, added=["a"], selected=["b"], picked_entropy=0.1, pool_entropy=None, t_train=1.0,
                      t_eval=0.1, t_pool=0.2, t_select=0.0)
    return rec.to_line().decode()


def test_a_round_record_without_a_field_is_refused():
    obj = json.loads(_a_line())
    del obj["dice"]
    with pytest.raises(ValueError, match="lacks dice"):
        RoundRecord.from_json(obj)


# --- checkpoints that are missing or corrupt -------------------------------------------------------------


def half_run(tmp_path, synthetic32, reference_cfg, rounds_kept: int):
    """An experiment folder holding the first `rounds_kept` records of the reference run."""
    cfg = tiny_config(tmp_path, **ROUNDS2)
    run_benchmark(cfg, data=synthetic32)
    lines = run_path(reference_cfg).read_bytes().splitlines(keepends=True)
    run_path(cfg).write_bytes(b"".join(lines[:rounds_kept]))
    (run_path(cfg).with_suffix(".status.json")).unlink()
    return cfg


@pytest.mark.parametrize("damage", ["missing", "corrupt", "foreign"])
def test_an_unusable_checkpoint_restarts_the_run_with_a_warning(tmp_path, synthetic32, reference, damage):
    ref_cfg, _ = reference
    cfg = half_run(tmp_path, synthetic32, ref_cfg, rounds_kept=2)
    ckpt = ExperimentStore(cfg.experiment_dir).checkpoint_path("entropy", 0, 1)
    if damage == "corrupt":
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        ckpt.write_bytes(b"not a checkpoint")
    elif damage == "foreign":
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"round": 1, "state_dict": {"weight": torch.zeros(3)}}, ckpt)
    events = Collect()
    result = run_benchmark(cfg, events, data=synthetic32)
    assert [r.status for r in result.runs] == ["done"]
    notes = [e.text for e in events if isinstance(e, Note)]
    assert any("checkpoint after round 1" in n and "restarting from round 0" in n for n in notes), notes
    status = json.loads(run_path(cfg).with_suffix(".status.json").read_text())
    assert any("restarting from round 0" in w for w in status["warnings"])
    assert strip_timing(run_path(cfg).read_bytes()) == strip_timing(run_path(ref_cfg).read_bytes())


def test_a_run_restarts_from_the_newest_checkpoint_that_loads(tmp_path, synthetic32, reference):
    ref_cfg, _ = reference
    cfg = tiny_config(tmp_path, **ROUNDS2)
    with pytest.raises(KeyboardInterrupt):  # stops after round 0 was stored, with its checkpoint
        run_benchmark(cfg, _interrupt_after_round(0, Collect()), data=synthetic32)
    store = ExperimentStore(cfg.experiment_dir)
    assert store.checkpoint_path("entropy", 0, 0).is_file()
    # Round 1's record is stored, but its checkpoint is torn (as after a disk problem).
    lines = run_path(ref_cfg).read_bytes().splitlines(keepends=True)
    run_path(cfg).write_bytes(b"".join(lines[:2]))
    store.checkpoint_path("entropy", 0, 1).write_bytes(b"torn")
    events = Collect()
    run_benchmark(cfg, events, data=synthetic32)
    notes = [e.text for e in events if isinstance(e, Note)]
    assert any("restarting from round 1 (the newest checkpoint that loads)" in n for n in notes), notes
    assert strip_timing(run_path(cfg).read_bytes()) == strip_timing(run_path(ref_cfg).read_bytes())


def _interrupt_after_round(at: int, sink):
    def emit(event):
        sink(event)
        if isinstance(event, RoundDone) and event.round == at:
            raise KeyboardInterrupt

    return emit


# --- device and precision are part of the protocol ----------------------------------------------------


def test_resuming_under_another_device_is_refused(tmp_path, synthetic32):
    cfg = tiny_config(tmp_path, rounds=0)
    run_benchmark(cfg, data=synthetic32)
    info_path = cfg.experiment_dir / "experiment.json"
    info = json.loads(info_path.read_text())
    assert info["protocol"]["device"] == "cpu" and info["protocol"]["precision"] == "fp32"
    info["protocol"]["device"], info["protocol"]["precision"] = "cuda", "bf16-autocast"
    info_path.write_text(json.dumps(info))
    with pytest.raises(AlsegUsageError) as err:
        run_benchmark(cfg, data=synthetic32)
    msg = str(err.value)
    assert "device: stored 'cuda', now 'cpu'" in msg and "precision: stored 'bf16-autocast', now 'fp32'" in msg
    assert "--name NEW" in msg


def test_an_experiment_stored_before_device_was_in_the_protocol_resumes(tmp_path, synthetic32):
    cfg = tiny_config(tmp_path, rounds=0)
    run_benchmark(cfg, data=synthetic32)
    info_path = cfg.experiment_dir / "experiment.json"
    info = json.loads(info_path.read_text())
    for key in ("device", "precision"):
        del info["protocol"][key]
    info_path.write_text(json.dumps(info))
    store = ExperimentStore(cfg.experiment_dir)
    assert stored_protocol(store, info)["device"] == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_benchmark(tiny_config(tmp_path, rounds=0, strategies="entropy"), data=synthetic32)
    assert [r.status for r in result.runs] == ["done"]
    # ... but an old folder whose environment says it ran on a GPU is refused on this CPU.
    del (info := json.loads(info_path.read_text()))["protocol"]["device"]
    info_path.write_text(json.dumps(info))
    env = json.loads((cfg.experiment_dir / "environment.json").read_text())
    env["device"]["type"] = "cuda"
    (cfg.experiment_dir / "environment.json").write_text(json.dumps(env))
    with pytest.raises(AlsegUsageError, match="device: stored 'cuda', now 'cpu'"):
        run_benchmark(cfg, data=synthetic32)


def test_reference_experiment_is_read_as_cpu_fp32():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "results" / "cvc-clinicdb-cpu"
    store = ExperimentStore(root)
    proto = stored_protocol(store, store.read_experiment())
    assert (proto["device"], proto["precision"]) == ("cpu", "fp32")
    assert read_records(root / "runs" / "random" / "seed-0.jsonl")[0]["n_labeled"] == 30


def test_a_benchmark_whose_every_run_failed_stores_the_statuses_and_no_report(tmp_path, synthetic32, monkeypatch):
    import alseg.round

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(alseg.round, "select_next", broken)
    events = Collect()
    result = run_benchmark(tiny_config(tmp_path, rounds=1), events, data=synthetic32)
    assert [(r.status, "RuntimeError: boom" in r.message) for r in result.failed] == [("error", True)]
    assert any("nothing to report yet" in e.text for e in events if isinstance(e, Note))
    assert result.report_files == [] and not any(isinstance(e, ReportWritten) for e in events)
    status = json.loads((result.experiment_dir / "runs" / "random" / "seed-0.status.json").read_text())
    assert status["status"] == "error"


@pytest.mark.slow
def test_a_detected_dataset_is_said_and_stored_with_the_experiment(tmp_path):
    import numpy as np
    from conftest import TINY_ARGS
    from PIL import Image
    from typer.testing import CliRunner

    from alseg.cli import app

    root = tmp_path / "my_polyps"
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(14):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        mask = np.zeros((32, 32), np.uint8)
        mask[4:20, 6 : 8 + i] = 100  # {0, 100}: foreground is the non-zero level
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    args = ["bench", *TINY_ARGS, "--data-dir", str(root), "--initial", "4", "--budget", "2", "--rounds", "1",
            "--out", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), "--name", "mine"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "note:" in result.output and "folder" in result.output
    info = json.loads((tmp_path / "results" / "mine" / "experiment.json").read_text())
    assert info["protocol"]["dataset"] == "folder"
    assert any("folder" in w for w in info["warnings"]), info["warnings"]
    assert "foreground 0.0%" not in result.output
