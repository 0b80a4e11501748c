"""Whole-benchmark figures: harness overhead, the shared first round, and --workers, on the `quick` preset.

Each case runs a real `alseg bench --preset quick --no-plugins --seeds 1` in a subprocess and reads the stored
round times. Run on an otherwise idle machine (the figures are ratios of wall times):
    python -m pytest benchmarks/test_scaling.py -q -s
The first-round saving on the `cpu` preset is computed from the committed reference experiment's round-0
times (every strategy there trained its own round 0).
"""

from __future__ import annotations

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


def quick(tmp: Path, name: str, *args: str) -> tuple[float, list[dict]]:
    """Wall time of one quick benchmark and every stored round record."""
    cmd = [sys.executable, "-m", "alseg.cli", "bench", "--preset", "quick", "--no-plugins", "--seeds", "1",
           "--quiet", "--out", str(tmp), "--name", name, "--cache-dir", str(tmp / "cache"), *args]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "2"}, capture_output=True)
    wall = time.perf_counter() - t0
    records = [json.loads(line) for path in sorted((tmp / name / "runs").glob("*/seed-*.jsonl"))
               for line in path.read_text().splitlines()]
    return wall, records


def compute_seconds(records: list[dict], fields: tuple[str, ...] = ("t_train", "t_pool", "t_eval")) -> float:
    """The stored time of the given phases over all records."""
    return sum(float(rec[f]) for rec in records for f in fields)


def test_harness_overhead_on_quick(tmp_path, bench_report) -> None:
    wall, records = quick(tmp_path, "overhead", "--threads", "2", "--no-share-round0")
    work = compute_seconds(records)
    select = compute_seconds(records, ("t_select",))
    overhead = (wall - work) / wall
    bench_report(f"quick, 1 x 2 threads, unshared: wall {wall:.1f} s, training + pool pass + evaluation {work:.1f} s, "
                 f"selection {select:.1f} s; harness overhead {overhead:.1%} ({(wall - work - select) / wall:.1%} "
                 "without selection)")
    assert overhead <= 0.05


def test_shared_first_round_and_workers_on_quick(tmp_path, bench_report) -> None:
    unshared, _ = quick(tmp_path, "unshared", "--threads", "2", "--no-share-round0")
    shared, _ = quick(tmp_path, "shared", "--threads", "2")
    parallel, _ = quick(tmp_path, "parallel", "--threads", "1", "--workers", "2")
    bench_report(f"quick, 1 x 2 threads: unshared {unshared:.1f} s, shared round 0 {shared:.1f} s "
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
    bench_report(f"cpu preset, five strategies, {len(per_seed)} seeds: round 0 shared by {len(SHARERS)} strategies "
                 f"saves {saved / 60:.1f} min of {total / 60:.1f} min ({saved / total:.1%})")
    assert saved > 0
