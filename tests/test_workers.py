"""--workers N: worker processes store the records of --workers 1 (apart from times); dead workers are replaced."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import TINY_ARGS, read_records

from alseg.errors import AlsegUsageError
from alseg.workers import worker_devices, worker_threads

RUNS = "random,entropy,proposed"


def _bench(tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None):
    """`alseg bench` in a real subprocess (workers are spawned processes; CliRunner cannot host them)."""
    import os
    import subprocess

    cmd = [sys.executable, "-m", "alseg.cli", "bench", *TINY_ARGS, "--strategies", RUNS, "--seeds", "2", "--full",
           "--name", name, "--out", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def _all_records(root: Path) -> dict[tuple[str, str], list[dict]]:
    out = {}
    for path in sorted((root / "runs").glob("*/seed-*.jsonl")):
        out[(path.parent.name, path.name)] = read_records(path)  # without times, workers and computed_on
    return out


@pytest.mark.slow
def test_two_workers_store_the_records_of_one(tmp_path):
    one = _bench(tmp_path, "one", "--workers", "1")
    assert one.returncode == 0, one.stderr
    two = _bench(tmp_path, "two", "--workers", "2")
    assert two.returncode == 0, two.stderr
    assert "2 worker processes, 1 torch thread(s) each" in two.stderr + two.stdout
    a, b = _all_records(tmp_path / "results" / "one"), _all_records(tmp_path / "results" / "two")
    assert len(a) == 8 and a == b
    timed = read_records(tmp_path / "results" / "two" / "runs" / "random" / "seed-0.jsonl", drop_timing=False)
    assert all(rec["workers"] == 2 for rec in timed)
    alone = read_records(tmp_path / "results" / "one" / "runs" / "random" / "seed-0.jsonl", drop_timing=False)
    assert "workers" not in alone[0] and alone[0]["computed_on"]["cpu"] == timed[0]["computed_on"]["cpu"]
    assert all(rec["computed_on"]["threads"] == 1 for rec in timed)  # --workers 2 split the two cores
    for status in (tmp_path / "results" / "two" / "runs").glob("*/seed-*.status.json"):
        assert json.loads(status.read_text())["status"] == "done"
    assert (tmp_path / "results" / "two" / "leaderboard.md").is_file()


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_run_continues_from_the_stored_rounds(tmp_path):
    ref = _bench(tmp_path, "ref", "--workers", "1")
    assert ref.returncode == 0, ref.stderr
    crashed = _bench(tmp_path, "crash", "--workers", "2", env={"ALSEG_FAULT": "train-step:3"})
    assert crashed.returncode == 0, crashed.stderr
    said = " ".join(crashed.stderr.split())  # rich wraps long lines
    assert "its worker process died (exit code -9); resubmitted from its stored rounds" in said
    assert _all_records(tmp_path / "results" / "ref") == _all_records(tmp_path / "results" / "crash")


@pytest.mark.parametrize("workers, threads, cores, expected", [(2, 0, 2, 1), (1, 0, 2, 2), (2, 0, 16, 8),
                                                               (3, 0, 2, 1), (2, 1, 2, 1)])
def test_threads_are_split_so_that_workers_times_threads_fit_the_cores(workers, threads, cores, expected):
    if workers > cores:
        with pytest.raises(AlsegUsageError, match=f"--workers {workers} × --threads 1 = {workers} threads on "
                                                  f"{cores} CPU core"):
            worker_threads(workers, threads, cores, "cpu")
    else:
        assert worker_threads(workers, threads, cores, "cpu") == expected


def test_oversubscribing_the_cpu_is_refused_with_the_fix():
    with pytest.raises(AlsegUsageError, match=r"oversubscribed .* use --threads 1"):
        worker_threads(2, 2, 2, "cpu")
    assert worker_threads(2, 4, 2, "cuda") == 4  # GPU workers: the CPU threads only feed the card


def test_devices_are_given_to_workers_round_robin():
    assert worker_devices("cuda:0,cuda:1", 3, "cuda") == ["cuda:0", "cuda:1", "cuda:0"]
    assert worker_devices("", 2, "cpu") == ["cpu", "cpu"]


@pytest.mark.parametrize("args, message", [(["--workers", "0"], "--workers must be at least 1, got 0"),
                                           (["--devices", "cuda:0,gpu1"], "--devices: 'gpu1' is not a device")])
def test_bad_worker_options_are_refused(tmp_path, args, message):
    from typer.testing import CliRunner

    from alseg.cli import app

    result = CliRunner().invoke(app, ["bench", *TINY_ARGS, "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
