"""The example plugin in strategies/alseg-margin registers through its entry point and runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alseg.config import tomllib

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "strategies" / "alseg-margin"


def install_by_metadata(site: Path) -> dict[str, str]:
    """Make the plugin importable with its declared entry points, as pip would (without a build)."""
    meta = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    info = site / f"alseg_margin-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    eps = meta["entry-points"]["alseg.strategies"]
    (info / "entry_points.txt").write_text(
        "[alseg.strategies]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(PLUGIN), env.get("PYTHONPATH", "")])
    env.pop("ALSEG_DISABLE_PLUGINS", None)
    env["COLUMNS"] = "200"  # rich wraps table cells at the terminal width
    return env


def test_mean_margin_known_answers() -> None:
    sys.path.insert(0, str(PLUGIN))
    try:
        from alseg_margin import mean_margin
    finally:
        sys.path.remove(str(PLUGIN))
    prob = torch.tensor([[[[0.5, 0.5]]], [[[1.0, 0.0]]], [[[0.75, 0.25]]]])
    assert torch.allclose(mean_margin(prob), torch.tensor([0.0, 1.0, 0.5]))
    assert np.allclose(mean_margin(prob.numpy()), [0.0, 1.0, 0.5])  # numpy arrays work as well


@pytest.mark.slow
def test_plugin_listed_and_runs(tmp_path: Path) -> None:
    env = install_by_metadata(tmp_path / "site")
    alseg = [sys.executable, "-m", "alseg.cli"]
    version = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]["version"]
    listing = subprocess.run([*alseg, "strategies"], env=env, capture_output=True, text=True, check=True)
    assert "margin" in listing.stdout and f"alseg-margin=={version}" in listing.stdout
    off = subprocess.run([*alseg, "strategies", "--no-plugins"], env=env, capture_output=True, text=True, check=True)
    assert "margin" not in off.stdout and "random" in off.stdout
    args = ["bench", "--strategies", "random,margin", "--image-size", "32", "--initial", "6", "--rounds", "1",
            "--budget", "4", "--epochs", "1", "--initial-epochs", "1", "--batch-size", "8",
            "--encoder", "tu-test_efficientnet", "--encoder-weights", "none", "--threads", "1",
            "--out", str(tmp_path / "res"),
            "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    run = subprocess.run([*alseg, *args], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = (tmp_path / "res" / "quick-synthetic" / "runs" / "margin" / "seed-0.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["provider"] == f"alseg-margin=={version}"
    assert len(first["selected"]) == 4 and len(set(first["selected"])) == 4
    assert np.isfinite(first["dice"])
