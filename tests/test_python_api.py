"""The Python API: alseg.run_benchmark / load_experiment / suggest give what the CLI gives, one call away."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY, TINY_ARGS
from test_suggest import make_folder
from typer.testing import CliRunner

import alseg
import alseg.python_api as api
from alseg.cli import app
from alseg.config import resolve_config
from alseg.errors import AlsegUsageError
from alseg.events import Collect, RunDone
from alseg.report.load import NothingToReport

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
STRATEGIES = "random,entropy"


def tiny_options(root: Path) -> dict:
    """The tiny protocol of conftest as run_benchmark options, written under root."""
    return {**TINY, "strategies": STRATEGIES, "out": str(root / "results"), "cache_dir": str(root / "cache")}


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    """One tiny benchmark run through alseg.run_benchmark (events collected)."""
    root = tmp_path_factory.mktemp("api")
    events = Collect()
    return alseg.run_benchmark(emit=events, **tiny_options(root)), events, root


def test_import_alseg_stays_cheap_and_exports_the_api():
    code = ("import sys, alseg; print('alseg.python_api' in sys.modules, 'torch' in sys.modules, "
            "'pandas' in sys.modules); f = alseg.suggest; print('alseg.python_api' in sys.modules, callable(f), "
            "sorted(n for n in dir(alseg) if n in alseg.PYTHON_API))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "False False False"
    assert out[1] == "True True ['BenchmarkResult', 'load_experiment', 'run_benchmark', 'suggest']"
    assert alseg.run_benchmark is api.run_benchmark and alseg.BenchmarkResult is api.BenchmarkResult
    with pytest.raises(AttributeError):
        alseg.nothing_here  # noqa: B018


def test_run_benchmark_returns_what_the_cli_writes(api_run, tmp_path):
    result, events, _ = api_run
    cli = CliRunner().invoke(app, ["bench", *TINY_ARGS, "--out", str(tmp_path / "results"), "--cache-dir",
                                   str(tmp_path / "cache"), "--name", "tiny", "--strategies", STRATEGIES],
                             env={"COLUMNS": "250", "ALSEG_DEBUG": None})
    assert cli.exit_code == 0, cli.output
    folder = tmp_path / "results" / "tiny"
    pd.testing.assert_frame_equal(result.leaderboard, pd.read_csv(folder / "leaderboard.csv"))
    from_cli = alseg.load_experiment(folder)
    pd.testing.assert_frame_equal(result.rounds, from_cli.rounds)
    pd.testing.assert_frame_equal(result.runs.drop(columns="experiment"), from_cli.runs.drop(columns="experiment"))
    assert [p.name for p in result.files] == [p.name for p in from_cli.files]
    assert result.protocol == from_cli.protocol
    done = sorted((e.run, e.seed, e.status) for e in events if isinstance(e, RunDone))
    assert done == [("entropy", 0, "done"), ("random", 0, "done")]


def test_the_result_holds_the_leaderboard_the_tidy_rounds_and_the_runs(api_run):
    result, _, root = api_run
    assert result.experiment_dir == root / "results" / "tiny"
    assert set(result.leaderboard["strategy"]) == {"random", "entropy"}
    assert {"n_labeled", "dice_mean", "dice_std", "n_seeds"} <= set(result.leaderboard.columns)
    rounds = result.rounds
    assert list(rounds.columns) == ["dataset", "strategy", "label", "seed", "round", "n_labeled", "metric", "value"]
    assert len(rounds) == 2 * 2 * 3  # strategies x rounds (6 and 10 labeled) x metrics
    assert sorted(set(rounds["n_labeled"])) == [6, 10] and set(rounds["metric"]) == {"dice", "iou", "miou"}
    means = rounds.groupby(["strategy", "n_labeled", "metric"])["value"].mean()  # one seed: mean = the value
    for row in result.leaderboard.to_dict("records"):
        assert means[(row["strategy"], row["n_labeled"], "dice")] == pytest.approx(row["dice_mean"], abs=1e-6)
    assert list(result.runs["status"]) == ["done", "done"] and result.failed.empty
    names = [p.name for p in result.files]
    assert names == sorted(names) and {"leaderboard.md", "leaderboard.csv", "leaderboard.tex", "aubc.csv"} <= set(names)
    assert all(p.suffix in api.REPORT_SUFFIXES and p.is_file() for p in result.files)
    assert result.warnings == () and result.protocol["image_size"] == 32


def test_load_experiment_gives_the_same_result(api_run):
    result, _, _ = api_run
    loaded = alseg.load_experiment(result.experiment_dir)
    pd.testing.assert_frame_equal(loaded.leaderboard, result.leaderboard)
    pd.testing.assert_frame_equal(loaded.rounds, result.rounds)
    pd.testing.assert_frame_equal(loaded.runs, result.runs)
    assert (loaded.files, loaded.warnings, loaded.protocol) == (result.files, result.warnings, result.protocol)


def test_a_second_call_resumes_the_finished_experiment(api_run):
    result, _, root = api_run
    mtimes = {p: p.stat().st_mtime_ns for p in (result.experiment_dir / "runs").rglob("*.jsonl")}
    again = alseg.run_benchmark(**tiny_options(root))
    pd.testing.assert_frame_equal(again.leaderboard, result.leaderboard)
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes  # nothing recomputed


def test_config_may_be_a_benchconfig_a_mapping_or_a_toml_file(api_run):
    result, _, root = api_run
    options = tiny_options(root)
    cfg = resolve_config(options)
    assert api.resolve(cfg, {}) is cfg
    assert api.resolve(None, options) == cfg
    assert api.resolve(options, {}) == cfg
    assert api.resolve(cfg, {"seeds": 2}).seeds == 2
    assert api.resolve({**options, "seeds": 3}, {"seeds": 2}).seeds == 2  # options win over the mapping
    stored = result.experiment_dir / "config.toml"
    assert api.resolve(stored, {}).experiment_dir == cfg.experiment_dir
    assert api.resolve(str(stored), {"rounds": 3}).rounds == 3
    with pytest.raises(AlsegUsageError, match="config must be a BenchConfig"):
        api.resolve(42, {})  # type: ignore[arg-type]
    with pytest.raises(AlsegUsageError, match="unknown option 'imagesize'"):
        alseg.run_benchmark(imagesize=32)
    with pytest.raises(AlsegUsageError, match="--image-size must be a multiple of 32"):
        alseg.run_benchmark(**{**options, "image_size": 33})


def test_tidy_rounds_melts_the_metrics():
    rounds = pd.DataFrame({"dataset": ["d", "d"], "strategy": ["b", "a"], "label": ["B", "A"], "seed": [0, 0],
                           "round": [0, 0], "n_labeled": [5, 5], "dice": [0.5, 0.25], "iou": [0.4, 0.2],
                           "miou": [0.6, 0.3], "t_train": [1.0, 2.0]})
    tidy = api.tidy_rounds(rounds)
    assert list(tidy.columns) == ["dataset", "strategy", "label", "seed", "round", "n_labeled", "metric", "value"]
    assert list(zip(tidy["strategy"], tidy["metric"], tidy["value"], strict=True)) == [
        ("a", "dice", 0.25), ("a", "iou", 0.2), ("a", "miou", 0.3),
        ("b", "dice", 0.5), ("b", "iou", 0.4), ("b", "miou", 0.6)]


def test_load_experiment_refuses_what_is_not_a_finished_experiment(tmp_path, api_run):
    with pytest.raises(AlsegUsageError, match="is not an alseg experiment folder"):
        alseg.load_experiment(tmp_path)
    result, _, _ = api_run
    copy = tmp_path / "copy"
    (copy / "runs").mkdir(parents=True)
    for name in ("experiment.json", "config.toml", "environment.json"):
        (copy / name).write_bytes((result.experiment_dir / name).read_bytes())
    with pytest.raises(NothingToReport, match="no finished run"):
        alseg.load_experiment(copy)
    for run in (result.experiment_dir / "runs").iterdir():
        (copy / "runs" / run.name).mkdir()
        for f in run.iterdir():
            (copy / "runs" / run.name / f.name).write_bytes(f.read_bytes())
    with pytest.raises(AlsegUsageError, match=r"no leaderboard\.csv .*`alseg report"):
        alseg.load_experiment(copy)


def _tiny_suggest_options(cache: Path) -> dict:
    """test_suggest's tiny flags (TINY) as Python options."""
    return {"image_size": 32, "encoder": "tu-test_efficientnet", "encoder_weights": "none", "epochs": 1,
            "initial_epochs": 2, "batch_size": 16, "device": "cpu", "threads": 1, "plugins": False,
            "cache_dir": str(cache)}


def test_suggest_returns_the_suggestions_table(tmp_path, synthetic32):
    data = make_folder(tmp_path / "data", synthetic32)
    frame = alseg.suggest(data, budget=3, strategy="entropy", out=tmp_path / "out",
                          **_tiny_suggest_options(tmp_path / "cache"))
    pd.testing.assert_frame_equal(frame, pd.read_csv(tmp_path / "out" / "suggestions.csv"))
    assert list(frame["rank"]) == [1, 2, 3]
    with pytest.raises(AlsegUsageError, match="suggest takes no option 'rounds'"):
        alseg.suggest(data, budget=3, strategy="entropy", out=tmp_path / "out", rounds=2)


def readme_example() -> str:
    """The code block under <!-- readme-example --> in docs/python-api.md."""
    text = DOC.read_text()
    block = re.search(r"```python\n(.*?)```", text[text.index("<!-- readme-example -->"):], re.S)
    assert block, "no python block after the readme-example marker"
    return block.group(1)


def test_the_docs_example_runs(tmp_path, monkeypatch, synthetic32):
    code = readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    make_folder(tmp_path / "my_polyps", synthetic32, n_images=20, n_masks=8)
    monkeypatch.chdir(tmp_path)
    bench, suggest = api.run_benchmark, api.suggest
    small = {k: v for k, v in tiny_options(tmp_path).items() if k != "strategies"}
    monkeypatch.setattr(api, "run_benchmark", lambda config=None, **kw: bench(config, **{**kw, **small}))
    monkeypatch.setattr(api, "suggest", lambda data_dir, **kw: suggest(
        data_dir, **{**kw, **_tiny_suggest_options(tmp_path / "cache")}))
    exec(compile(code, str(DOC), "exec"), {"__name__": "readme_example"})
    assert (tmp_path / "results" / "tiny" / "leaderboard.csv").is_file()
    assert len(pd.read_csv(tmp_path / "my_polyps-next" / "suggestions.csv")) == 10
