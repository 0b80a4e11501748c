"""alseg.api is a complete plugin surface: a plugin built from it alone installs, registers, conforms and runs.

The plugin is the one in docs/strategies.md ("Writing a plugin"), taken from the docs verbatim, built
into a package and installed with pip into this interpreter's environment (uninstalled afterwards).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import alseg
from alseg.strategies.registry import discover
from alseg.testing import check_strategy

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "strategies.md"
EXAMPLE_PLUGIN = REPO / "strategies" / "alseg-margin" / "alseg_margin" / "__init__.py"
DIST, MODULE, NAME = "alseg-entropy-coreset", "alseg_entropy_coreset", "entropy-coreset"


def alseg_imports(path: Path) -> list[str]:
    """Every alseg module a source file imports (`import alseg.x`, `from alseg.x import y`, relative too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "alseg"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append("." * node.level + (node.module or ""))
            elif node.module and node.module.split(".")[0] == "alseg":
                found.append(node.module)
    return found


# --- the surface -----------------------------------------------------------------------------------------------


def test_api_exports_what_it_lists():
    api = importlib.import_module("alseg.api")
    assert re.fullmatch(r"\d+\.\d+", api.API_VERSION)
    assert sorted(api.__all__) == sorted(set(api.__all__))
    missing = [n for n in api.__all__ if not hasattr(api, n)]
    assert not missing, f"alseg.api.__all__ lists names it does not define: {missing}"
    for name in ("Strategy", "SelectionContext", "StrategyContractError", "check_scores", "top_k",
                 "k_center_greedy", "weighted_kmeans", "nearest_to_centroids", "mmd_greedy", "unit_normalise",
                 "binary_entropy", "reduce_pixels", "fg_bg_similarity", "ForwardOutput", "NEEDS", "needs_of",
                 "parse_needs", "Predictor", "Prediction"):
        assert name in api.__all__, name
    assert alseg.api is api  # reachable as an attribute of the package


def test_import_alseg_stays_cheap():
    code = "import sys, alseg; print('torch' in sys.modules, alseg.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False", "import alseg imported torch; alseg.api must load lazily"


def test_docs_list_the_api_version_and_the_pin():
    text = DOCS.read_text()
    api = importlib.import_module("alseg.api")
    assert f'API_VERSION = "{api.API_VERSION}"' in text
    assert 'dependencies = ["alseg>=0.2,<0.3"]' in text
    pin = re.search(r'dependencies = \["(alseg[^"]*)"\]', (REPO / "strategies" / "alseg-margin" /
                                                           "pyproject.toml").read_text())
    assert pin and pin.group(1) == "alseg>=0.2,<0.3"


def test_example_plugin_imports_only_alseg_api():
    assert alseg_imports(EXAMPLE_PLUGIN) == ["alseg.api"]


def test_builtin_strategies_import_alseg_only_through_the_api():
    modules = {e.target.split(":")[0] for e in discover(plugins=False).values()}
    assert len(modules) == 5
    for module in sorted(modules):
        path = Path(importlib.import_module(module).__file__)
        imports = alseg_imports(path)
        assert imports and set(imports) == {"alseg.api"}, f"{module} imports {imports}; use alseg.api only"


# --- a plugin from the docs, installed with pip -------------------------------------------------------------


def docs_file(relative: str) -> str:
    """The fenced block under `<!-- example-plugin:<relative> -->` in docs/strategies.md."""
    text = DOCS.read_text()
    start = text.index(f"<!-- example-plugin:{relative} -->")
    block = re.search(r"```[a-z]*\n(.*?)```", text[start:], re.S)
    assert block, f"no code block after the marker for {relative}"
    return block.group(1)


def test_docs_plugin_imports_only_alseg_api(tmp_path):
    path = tmp_path / "plugin.py"
    path.write_text(docs_file(f"{MODULE}/__init__.py"))
    assert alseg_imports(path) == ["alseg.api"]


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """The docs' plugin, pip-installed into this environment for the module's tests, then uninstalled."""
    root = tmp_path_factory.mktemp("plugin")
    (root / MODULE).mkdir()
    (root / "pyproject.toml").write_text(docs_file("pyproject.toml"))
    (root / MODULE / "__init__.py").write_text(docs_file(f"{MODULE}/__init__.py"))
    res = _pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(root))
    try:
        assert res.returncode == 0, f"pip install failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        importlib.invalidate_caches()
        yield root
    finally:
        _pip("uninstall", "-y", DIST)
        sys.modules.pop(MODULE, None)
        importlib.invalidate_caches()


def test_installed_plugin_is_discovered(installed_plugin, monkeypatch):
    monkeypatch.delenv("ALSEG_DISABLE_PLUGINS", raising=False)
    entry = discover()[NAME]
    assert not entry.broken, entry.error
    assert entry.provider == f"{DIST}==0.1.0" and not entry.builtin
    assert NAME not in discover(plugins=False)


def test_installed_plugin_passes_the_conformance_kit(installed_plugin, monkeypatch):
    monkeypatch.delenv("ALSEG_DISABLE_PLUGINS", raising=False)
    cls = discover()[NAME].cls
    for strategy in (cls(), cls(candidates=1)):
        report = check_strategy(strategy, on_fail=None)
        failed = {r["check"]: str(r["error"]) for r in report if r["status"] != "passed"}
        assert not failed, failed
        assert "check_uses_only_declared_needs" in {r["check"] for r in report}
    with pytest.raises(ValueError, match=r"candidates must be a finite number >= 1"):
        cls(candidates=0.5)


@pytest.mark.slow
def test_installed_plugin_runs_through_the_cli(installed_plugin, tmp_path):
    """Needs the loop on the needs contract (alseg/round.py); a small benchmark with the plugin and random."""
    env = {k: v for k, v in os.environ.items() if k != "ALSEG_DISABLE_PLUGINS"}
    env["COLUMNS"] = "200"
    cli = [sys.executable, "-m", "alseg.cli"]
    listing = subprocess.run([*cli, "strategies"], env=env, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if f" {NAME} " in line)
    assert f"{DIST}==0.1.0" in row and "embedding" in row and "model" in row
    args = ["bench", "--strategies", f"{NAME},random", "--image-size", "32", "--initial", "6", "--rounds", "1",
            "--budget", "4", "--epochs", "1", "--initial-epochs", "1", "--batch-size", "8",
            "--encoder", "tu-test_efficientnet", "--encoder-weights", "none", "--threads", "1", "--device", "cpu",
            "--out", str(tmp_path / "res"), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    run = subprocess.run([*cli, *args], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    files = list((tmp_path / "res").rglob(f"runs/{NAME}/seed-0.jsonl"))
    assert len(files) == 1, f"no run file of {NAME} under {tmp_path / 'res'}"
    first = json.loads(files[0].read_text().splitlines()[0])
    assert first["provider"] == f"{DIST}==0.1.0" and first["strategy"] == NAME
    assert len(first["selected"]) == 4 and len(set(first["selected"])) == 4
    assert np.isfinite(first["dice"])
