"""Whole-benchmark figures: harness overhead, the shared first round, and --workers, on the `quick` preset.

Each case runs a real `alseg bench --preset quick --no-plugins --seeds 1` in a subprocess and reads the stored
round times. Run on an otherwise idle machine (the figures are ratios of wall times):
    python -m pytest benchmarks/test_scaling.py -q -s
(the Ray case needs `pip install "alseg[ray]"`; it skips without it)
The first-round saving on the `cpu` preset is computed from the committed reference experiment's round-0
times (every strategy there trained its own round 0).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "cvc-clinicdb-cpu"
SHARERS = ("random", "entropy", "coreset", "asa")  # the five strategies minus the proposed one (training term)


_RUNS: dict[str, tuple[float, list[dict]]] = {}  # one quick benchmark per configuration, shared by the cases


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scaling")


def quick(tmp: Path, name: str, *args: str) -> tuple[float, list[dict]]:
    """Wall time of one quick benchmark and every stored round record (each configuration runs once per session)."""
    if name in _RUNS:
        return _RUNS[name]
    cmd = [sys.executable, "-m", "alseg.cli", "bench", "--preset", "quick", "--no-plugins", "--seeds", "1",
           "--quiet", "--out", str(tmp), "--name", name, "--cache-dir", str(tmp / "cache"), *args]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "2"}, capture_output=True)
    wall = time.perf_counter() - t0
    records = [json.loads(line) for path in sorted((tmp / name / "runs").glob("*/seed-*.jsonl"))
               for line in path.read_text().splitlines()]
    print(f"\n{name}: {' '.join(args)}: wall {wall:.1f} s", flush=True)
    _RUNS[name] = wall, records
    return _RUNS[name]


def compute_seconds(records: list[dict], fields: tuple[str, ...] = ("t_train", "t_pool", "t_eval")) -> float:
    """The stored time of the given phases over all records."""
    return sum(float(rec[f]) for rec in records for f in fields)


def report(bench_report, line: str) -> None:
    """Record a summary line and print it at once (a long benchmark that is stopped keeps what it measured)."""
    print(f"\n{line}", flush=True)
    bench_report(line)


def test_harness_overhead_on_quick(workdir, bench_report) -> None:
    wall, records = quick(workdir, "unshared", "--threads", "2", "--no-share-round0")
    work = compute_seconds(records)
    select = compute_seconds(records, ("t_select",))
    overhead = (wall - work) / wall
    report(bench_report, f"quick, 1 x 2 threads, unshared: wall {wall:.1f} s, training + pool pass + evaluation "
           f"{work:.1f} s, selection {select:.1f} s; harness overhead {overhead:.1%} "
           f"({(wall - work - select) / wall:.1%} without selection)")
    assert overhead <= 0.05


def test_shared_first_round_and_workers_on_quick(workdir, bench_report) -> None:
    unshared, _ = quick(workdir, "unshared", "--threads", "2", "--no-share-round0")
    shared, _ = quick(workdir, "shared", "--threads", "2")
    parallel, _ = quick(workdir, "parallel", "--threads", "1", "--workers", "2")
    report(bench_report, f"quick, 1 x 2 threads: unshared {unshared:.1f} s, shared round 0 {shared:.1f} s "
           f"({shared / unshared:.3f}); --workers 2 --threads 1 (shared) {parallel:.1f} s "
           f"({parallel / shared:.3f} of --workers 1 --threads 2)")


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the committed reference experiment is not here")
def test_first_round_saving_on_the_cpu_preset(bench_report) -> None:
    runs = REFERENCE / "runs"
    per_seed: dict[int, list[float]] = {}
    total = 0.0
    for name in (*SHARERS, "proposed"):
        for path in sorted((runs / name).glob("seed-*.jsonl")):
            records = [json.loads(line) for line in path.read_text().splitlines()]
            total += compute_seconds(records, ("t_train", "t_pool", "t_eval", "t_select"))
            if name in SHARERS:
                first = records[0]
                per_seed.setdefault(first["seed"], []).append(first["t_train"] + first["t_eval"] + first["t_pool"])
    saved = sum(sum(costs) - min(costs) for costs in per_seed.values())  # every sharer but one skips round 0
    report(bench_report, f"cpu preset, five strategies, {len(per_seed)} seeds: round 0 shared by {len(SHARERS)} "
           f"strategies saves {saved / 60:.1f} min of {total / 60:.1f} min ({saved / total:.1%})")
    assert saved > 0


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='Ray is not installed (pip install "alseg[ray]")')
def test_ray_against_in_process_on_quick(workdir, bench_report) -> None:
    inproc, in_records = quick(workdir, "shared", "--threads", "2")  # the in-process run of the case above
    ray, ray_records = quick(workdir, "ray", "--threads", "2", "--executor", "ray")
    report(bench_report, f"quick, 1 x 2 threads, shared round 0: in-process {inproc:.1f} s, --executor ray (local, "
           f"num_cpus=2) {ray:.1f} s; Ray / in-process {ray / inproc:.3f} (target <= 1.15)")
    strip = ("t_train", "t_eval", "t_pool", "t_select", "workers")
    assert [{k: v for k, v in r.items() if k not in strip} for r in ray_records] == \
        [{k: v for k, v in r.items() if k not in strip} for r in in_records], "Ray stored other records"
    assert ray / inproc <= 1.15
