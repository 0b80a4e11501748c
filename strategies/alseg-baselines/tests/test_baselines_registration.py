"""The installed package registers its strategies through entry points only, and alseg stores their canonical names."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import alseg_baselines
import numpy as np
import pytest

NAMES = {"bald", "mc_entropy", "power", "badge", "typiclust"}
PACKAGE = Path(alseg_baselines.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent


def cli_env() -> dict[str, str]:
    """The environment for `alseg` subprocesses: plugins on, a wide terminal so table cells are not cut."""
    env = {k: v for k, v in os.environ.items() if k != "ALSEG_DISABLE_PLUGINS"}
    env["COLUMNS"] = "250"
    return env


def alseg_imports(path: Path) -> set[str]:
    """Every alseg module a source file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "alseg"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "alseg":
            found.add(node.module)
    return found


def test_the_distribution_registers_its_strategies_under_their_names() -> None:
    dist = distribution("alseg-baselines")
    assert dist.version == "0.1.0" and alseg_baselines.__version__ == dist.version
    pins = [r.replace(" ", "")[len("alseg"):] for r in dist.requires or [] if r.startswith("alseg") and
            not r.startswith("alseg-")]
    assert len(pins) == 1 and set(pins[0].split(",")) == {">=0.2", "<0.3"}  # alseg.api 1.x
    eps = {ep.name: ep for ep in dist.entry_points if ep.group == "alseg.strategies"}
    assert set(eps) == NAMES
    for name, ep in eps.items():
        assert ep.load().name == name


def test_modules_and_tests_import_alseg_only_through_its_public_modules() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        assert alseg_imports(path) <= {"alseg.api"}, path.name
    for path in sorted(TESTS.glob("*.py")):
        assert alseg_imports(path) <= {"alseg.api", "alseg.testing"}, path.name


def test_alseg_strategies_lists_them() -> None:
    listing = subprocess.run([sys.executable, "-m", "alseg.cli", "strategies"], env=cli_env(), capture_output=True,
                             text=True)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split("│")[1].strip(): line for line in listing.stdout.splitlines() if line.count("│") > 3}
    for name in NAMES:
        assert "alseg-baselines==0.1.0" in rows[name] and " ok " in rows[name], rows.get(name)
    assert "model" in rows["bald"] and "embedding, labeled:embedding" in rows["typiclust"]


@pytest.mark.slow
def test_a_small_benchmark_stores_the_canonical_run_names(tmp_path: Path) -> None:
    specs = "bald,mc_entropy(passes=10),power(base=entropy),power(base=bald,beta=1.0,mode=power),badge,typiclust"
    args = ["bench", "--strategies", specs, "--image-size", "32", "--initial", "6", "--rounds", "1", "--budget", "4",
            "--epochs", "1", "--initial-epochs", "1", "--batch-size", "16", "--encoder", "tu-test_efficientnet",
            "--encoder-weights", "none", "--threads", "1", "--device", "cpu", "--out", str(tmp_path / "res"),
            "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    run = subprocess.run([sys.executable, "-m", "alseg.cli", *args], env=cli_env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    runs = tmp_path / "res" / "quick-synthetic" / "runs"
    expected = {"bald", "mc_entropy", "power(base=entropy)", "power(base=bald)", "badge", "typiclust"}
    assert {p.name for p in runs.iterdir()} == expected  # defaults left out of the names
    for name in expected:
        first = json.loads((runs / name / "seed-0.jsonl").read_text().splitlines()[0])
        assert first["strategy"] == name and first["provider"] == "alseg-baselines==0.1.0"
        assert len(set(first["selected"])) == 4 and np.isfinite(first["dice"])
