"""Smoke test on the real CVC-ClinicDB copy in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_ARGS, read_records
from typer.testing import CliRunner

from alseg.cli import app
from alseg.datasets.cvc import TEST_FRAMES

CVC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cvc-clinicdb"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.slow,
    pytest.mark.skipif(not (CVC / "images").is_dir() or not (CVC / "masks").is_dir(),
                       reason=f"CVC-ClinicDB copy not found at {CVC} (images/ + masks/)"),
]


def test_bench_on_cvc_clinicdb_selects_train_frames_only(tmp_path):
    args = [*TINY_ARGS, "--dataset", "cvc-clinicdb", "--data-dir", str(CVC), "--initial", "8", "--rounds", "1",
            "--budget", "8", "--strategies", "random,entropy", "--out", str(tmp_path / "results"),
            "--cache-dir", str(tmp_path / "cache"), "--name", "cvc"]
    result = CliRunner().invoke(app, ["bench", *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "cvc-clinicdb: 550 train / 62 test images at 32 px" in result.output
    test_ids = {str(n) for n in TEST_FRAMES}
    assert {"14", "21", "25"} <= test_ids and len(test_ids) == 62
    split = json.loads((CVC / "splits.json").read_text())
    train_ids = {Path(name).stem for name in split["train"]}
    assert len(train_ids) == 550 and not train_ids & test_ids
    exp = tmp_path / "results" / "cvc"
    info = json.loads((exp / "experiment.json").read_text())
    assert (info["n_train"], info["n_test"]) == (550, 62)
    for name in ("random", "entropy"):
        r0, r1 = read_records(exp / "runs" / name / "seed-0.jsonl")
        assert (r0["n_labeled"], r1["n_labeled"]) == (8, 16)
        assert r0["dataset"] == "cvc-clinicdb"
        for ids in (r0["added"], r0["selected"], r1["added"]):
            assert len(ids) == 8 and len(set(ids)) == 8
            assert set(ids) <= train_ids, ids
            assert not set(ids) & test_ids, ids
        assert not set(r0["added"]) & set(r0["selected"])
        assert 0.0 <= r1["dice"] <= 1.0 and r1["miou"] >= 0.0
    # Both strategies of the seed start from the same frames.
    first = [read_records(exp / "runs" / n / "seed-0.jsonl")[0] for n in ("random", "entropy")]
    assert first[0]["added"] == first[1]["added"]
