"""Budget-regime grids: `--initial/--budget/--rounds` lists expand into one experiment per regime, and the regime
summary (regimes.md/csv) reports each regime's AUBC and paired test against Random exactly as its leaderboard."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, TINY_ARGS, snapshot
from scipy import stats
from test_report_rebuild import record, write_run
from typer.testing import CliRunner

from alseg.cli import app
from alseg.config import resolve_config, to_toml
from alseg.errors import AlsegUsageError
from alseg.python_api import RegimesResult, resolve, run_benchmark
from alseg.regimes import check_target, expand_regimes, regime_dirs, regime_lists
from alseg.report.regimes import report_regimes

ENV = {"COLUMNS": "250", "ALSEG_DEBUG": None}
runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], env=ENV)


def usage_error(result) -> str:
    """The one 'error:' line of a command that exited 2 without a traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


# --- the grid of a config ------------------------------------------------------------------------------------


def test_lists_expand_into_the_cartesian_product_of_regimes(tmp_path):
    cfg = resolve_config({"initial": "10,30", "budget": [10, 30], "rounds": "3,5", "out": str(tmp_path)})
    assert cfg.regimes == ((10, 10, 3), (10, 10, 5), (10, 30, 3), (10, 30, 5),
                           (30, 10, 3), (30, 10, 5), (30, 30, 3), (30, 30, 5))
    assert (cfg.initial, cfg.budget, cfg.rounds) == (10, 10, 3)  # the fields stay ints: regime 1
    configs = expand_regimes(cfg)
    assert [(c.initial, c.budget, c.rounds) for c in configs] == list(cfg.regimes)
    assert all(c.regimes == () and isinstance(c.initial, int) for c in configs)
    assert configs[5].experiment_dir == tmp_path / "quick-synthetic" / "initial-30-budget-10-rounds-5"
    assert {c.experiment_dir.parent for c in configs} == {cfg.experiment_dir}
    assert regime_lists(cfg) == {"initial": (10, 30), "budget": (10, 30), "rounds": (3, 5)}
    # Each regime's stored config.toml resumes exactly that regime, a plain single-regime config.
    path = tmp_path / "config.toml"
    path.write_text(to_toml(configs[5]))
    assert resolve_config({}, path) == configs[5]
    assert "regimes" not in path.read_text()


def test_one_value_is_the_plain_config(tmp_path):
    plain = resolve_config({"initial": 10, "budget": 30, "out": str(tmp_path)})
    for given in ({"initial": "10", "budget": "30"}, {"initial": [10], "budget": (30,)}, {"initial": " 10 "}):
        cfg = resolve_config({"budget": 30, **given, "out": str(tmp_path)})
        assert cfg == plain and cfg.regimes == ()
    assert expand_regimes(plain) == [plain]
    assert plain.experiment_dir == tmp_path / "quick-synthetic"
    assert to_toml(resolve_config({"initial": "10", "budget": 30, "out": str(tmp_path)})) == to_toml(plain)


def test_a_toml_list_is_a_grid(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text("[bench]\ninitial = [10, 30]\nbudget = 20\nrounds = [2]\n")
    cfg = resolve_config({}, path)
    assert cfg.regimes == ((10, 20, 2), (30, 20, 2))
    # A flag still overrides the file's list.
    assert resolve_config({"initial": "12"}, path).regimes == ()


@pytest.mark.parametrize(("text", "fragments"), [
    ('initial = "10,30"', ["key 'initial' must be an integer or a list of integers", "(write initial = [10,30])"]),
    ('initial = "10"', ["got the string '10'", "(write initial = 10 without quotes)"]),
    ('budget = [10, "a"]', ["key 'budget'", "got the string 'a' in a list [10, 'a']"]),
    ("rounds = []", ["key 'rounds'", "got a list []"]),
    ("initial = [10, 10]", ["key 'initial' lists 10 more than once"]),
])
def test_a_bad_toml_regime_value_names_the_key(tmp_path, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(f"[bench]\n{text}\n")
    with pytest.raises(AlsegUsageError) as err:
        resolve_config({}, path)
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("initial", "ten", "--initial must be an integer or a comma-separated list of them (e.g. 10,30), got the "
                       "string 'ten'"),
    ("budget", "10,x", "got the string 'x' in the string '10,x'"),
    ("budget", "10,", "got the string '' in the string '10,'"),
    ("rounds", "3,3", "--rounds lists 3 more than once"),
    ("initial", "1,30", "--initial must be at least 2"),
    ("budget", "10,0", "--budget must be at least 1, got 0"),
    ("rounds", "2,-1", "--rounds must be 0 or more, got -1"),
    ("initial", [10, True], "got the boolean true in a list [10, True]"),
])
def test_a_bad_regime_value_is_a_usage_error(option, value, message):
    with pytest.raises(AlsegUsageError) as err:
        resolve_config({option: value})
    assert message in str(err.value)


def test_the_cli_refuses_a_bad_list_before_anything_loads(tmp_path):
    error = usage_error(invoke("bench", "--budget", "10,zero", "--out", tmp_path / "results"))
    assert "--budget must be an integer or a comma-separated list" in error and "'zero'" in error
    error = usage_error(invoke("bench", "--rounds", "-1", "--out", tmp_path / "results"))
    assert "--rounds must be 0 or more, got -1" in error
    assert not (tmp_path / "results").exists()


def test_the_help_explains_the_list_form():
    result = invoke("bench", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())  # the help panels' text, unwrapped
    for fragment in ("--initial N[,N...]", "--budget N[,N...]", "--rounds N[,N...]", "A comma list (10,30)",
                     "runs a grid of budget regimes (every combination), each its own experiment",
                     "OUT/NAME/initial-I-budget-B-rounds-R/", "OUT/NAME/regimes.md",
                     "a comma list (3,5) adds regimes to the grid"):
        assert fragment in text, fragment


def test_the_python_api_keeps_a_grid_config_when_options_change_it(tmp_path):
    cfg = resolve_config({"initial": "10,30", "budget": 20, "out": str(tmp_path)})
    again = resolve(cfg, {"rounds": "2,3"})
    assert again.regimes == ((10, 20, 2), (10, 20, 3), (30, 20, 2), (30, 20, 3))
    assert resolve(cfg, {"initial": 12}).regimes == ()


def test_grids_and_experiments_keep_apart(tmp_path):
    grid = resolve_config({"budget": "10,30", "out": str(tmp_path), "name": "x"})
    one = resolve_config({"budget": 10, "out": str(tmp_path), "name": "x"})
    check_target(grid)
    check_target(one)  # nothing there yet: both are fine
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "experiment.json").write_text("{}")
    with pytest.raises(AlsegUsageError, match="is the experiment of one regime; a grid of 2 regimes needs a folder"):
        check_target(grid)
    (tmp_path / "x" / "experiment.json").unlink()
    (tmp_path / "x" / "initial-20-budget-10-rounds-4").mkdir()
    (tmp_path / "x" / "initial-20-budget-10-rounds-4" / "experiment.json").write_text("{}")
    with pytest.raises(AlsegUsageError, match=r"holds a grid of regimes \(initial-20-budget-10-rounds-4\)"):
        check_target(one)
    check_target(grid)  # resuming the grid


# --- the regime summary on hand-made experiments (known answers) -----------------------------------------------


def toy_regime(root: Path, name: str, rounds: int, diffs: dict[str, list[float]], **protocol: object) -> Path:
    """An experiment of 30 + rounds × 30 labels: Dice 0.5 + 0.1 r, plus the seed's diff d in rounds ≥ 1."""
    folder = root / name
    folder.mkdir(parents=True)
    proto = {"dataset": "toy", "initial": 30, "budget": 30, "rounds": rounds, "lr": 0.001, "device": "cpu",
             "precision": "fp32", **protocol}
    (folder / "experiment.json").write_text(json.dumps({"protocol": proto}))
    for strategy, per_seed in diffs.items():
        for seed, d in enumerate(per_seed):
            write_run(folder, [record(strategy, seed, r, 0.5 + 0.1 * r + (d if r else 0.0), selected=[])
                               for r in range(rounds + 1)])
    return folder


# Regime 30 + 2 × 30: entropy clearly better; regime 30 + 1 × 30: coreset has raw p < 0.05 but not after Holm.
DIFFS_LONG = {"random": [0.0, 0.0, 0.0], "entropy": [0.02, 0.021, 0.023], "coreset": [0.01, -0.01, 0.004]}
DIFFS_SHORT = {"random": [0.0, 0.0, 0.0], "entropy": [-0.02, 0.01, -0.012], "coreset": [0.002, 0.003, 0.004]}


def expected(rounds: int, diffs: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """AUBC by hand (linear curve + a step of d after round 0: AUBC = 0.5 + 0.05 R + d (R - 1/2) / R), the paired
    t-test p of each strategy against random, and Holm over the two tests."""
    aubc = {s: [0.5 + 0.05 * rounds + d * (rounds - 0.5) / rounds for d in ds] for s, ds in diffs.items()}
    p = {s: float(stats.ttest_1samp(np.subtract(aubc[s], aubc["random"]), 0.0).pvalue)
         for s in diffs if s != "random"}
    (lo, p_lo), (hi, p_hi) = sorted(p.items(), key=lambda kv: kv[1])
    holm = {lo: min(1.0, 2 * p_lo), hi: min(1.0, max(2 * p_lo, p_hi))}
    return {s: {"aubc_mean": float(np.mean(v)), "aubc_std": float(np.std(v, ddof=1)),
                "mean_diff": float(np.mean(np.subtract(v, aubc["random"]))) if s != "random" else math.nan,
                "p_value": p.get(s, math.nan),
                "p_holm": holm.get(s, math.nan)} for s, v in aubc.items()}


@pytest.fixture
def toy_regimes(tmp_path: Path) -> tuple[Path, Path]:
    return (toy_regime(tmp_path, "long", 2, DIFFS_LONG), toy_regime(tmp_path, "short", 1, DIFFS_SHORT))


def test_the_summary_gives_each_regimes_aubc_and_holm_corrected_test(toy_regimes, tmp_path):
    long, short = toy_regimes
    files, tables = report_regimes([long, short], tmp_path / "summary")
    assert [p.name for p in files] == ["regimes.md", "regimes.csv"]
    frame = pd.read_csv(tmp_path / "summary" / "regimes.csv")
    # Regimes in (initial, budget, rounds) order, whatever the order of the folders; Random first in each.
    assert list(zip(frame["regime"], frame["strategy"], strict=True)) == [
        ("30 + 1 × 30", "random"), ("30 + 1 × 30", "coreset"), ("30 + 1 × 30", "entropy"),
        ("30 + 2 × 30", "random"), ("30 + 2 × 30", "coreset"), ("30 + 2 × 30", "entropy")]
    assert list(frame["experiment"]) == ["short"] * 3 + ["long"] * 3
    assert list(frame["rounds"]) == [1] * 3 + [2] * 3 and set(frame["initial"]) == set(frame["budget"]) == {30}
    for rounds, diffs in ((1, DIFFS_SHORT), (2, DIFFS_LONG)):
        want = expected(rounds, diffs)
        rows = frame[frame["rounds"] == rounds].set_index("strategy")
        for strategy, values in want.items():
            for column, value in values.items():
                got = rows.loc[strategy, column]
                if math.isnan(value):
                    assert math.isnan(got), (rounds, strategy, column)
                else:
                    assert got == pytest.approx(value, rel=1e-5, abs=1e-9), (rounds, strategy, column)
    assert list(frame["rank"]) == [2, 1, 3, 3, 2, 1]
    assert list(frame["n_seeds"]) == [3] * 6 and list(frame["test"].fillna("")) == ["", *["paired t"] * 2] * 2
    short_p = expected(1, DIFFS_SHORT)["coreset"]
    assert short_p["p_value"] < 0.05 < short_p["p_holm"]  # the case that shows Holm at work
    md = (tmp_path / "summary" / "regimes.md").read_text()
    long_p = expected(2, DIFFS_LONG)["entropy"]
    assert (f"- 30 + 2 × 30: highest AUBC Entropy, {long_p['aubc_mean']:.4f} ± {long_p['aubc_std']:.4f}; after "
            f"Holm over 2 tests at α = 0.05: Entropy better than Random (Δ +{long_p['mean_diff']:.4f}, Holm p = "
            f"{long_p['p_holm']:.3f}).") in md
    assert (f"- 30 + 1 × 30: highest AUBC Coreset, {short_p['aubc_mean']:.4f} ± {short_p['aubc_std']:.4f}; no "
            f"strategy differs from Random after Holm over 2 tests at α = 0.05 (smallest Holm p = "
            f"{short_p['p_holm']:.3f}, Coreset).") in md
    assert "| Random | 2 | 3 |\n| Coreset | **1** | 2 |\n| Entropy | 3 | **1** |" in md
    assert "| Strategy | 30 + 1 × 30 | 30 + 2 × 30 |" in md
    assert f"| 30 + 1 × 30 | Coreset | 3 | **{short_p['aubc_mean']:.4f} ± {short_p['aubc_std']:.4f}** | 1 |" in md
    assert "- `lr`: 0.001" in md and "`rounds`" not in md.split("## Protocol")[1]
    assert "highest AUBC Coreset" in tables[0].caption


def test_the_summary_is_byte_identical_on_rebuild_and_in_any_folder_order(toy_regimes, tmp_path):
    long, short = toy_regimes
    report_regimes([long, short], tmp_path / "a")
    report_regimes([short, long], tmp_path / "b")
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    first = snapshot(tmp_path / "a")
    report_regimes([long, short], tmp_path / "a")
    assert snapshot(tmp_path / "a") == first


def test_one_seed_and_no_random_say_nothing_was_tested(tmp_path):
    one = toy_regime(tmp_path, "one", 1, {"random": [0.0], "entropy": [0.01]})
    none = toy_regime(tmp_path, "none", 2, {"entropy": [0.01, 0.03]})
    report_regimes([one, none], tmp_path / "s")
    md = (tmp_path / "s" / "regimes.md").read_text()
    assert "- 30 + 1 × 30: highest AUBC Entropy, 0.5550 ± –; not tested against Random (fewer than 2 paired " \
           "seeds)." in md
    assert "- 30 + 2 × 30: highest AUBC Entropy, 0.6150 ± 0.0106; no Random runs, so nothing is tested" in md
    assert "| Random | 2 | – |" in md


def test_report_regimes_refuses_experiments_that_differ_in_more_than_the_regime(toy_regimes, tmp_path):
    long, short = toy_regimes
    other = toy_regime(tmp_path, "other", 1, DIFFS_SHORT, lr=0.01, epochs=3)
    error = usage_error(invoke("report", "--regimes", long, other, "--out", tmp_path / "out"))
    assert "may differ only in initial, budget and rounds" in error
    assert f"'lr' ({other}=0.01, {long}=0.001); 'epochs' ({other}=3, {long}=<missing>)" in error
    assert not (tmp_path / "out").exists()
    twin = tmp_path / "twin"
    shutil.copytree(short, twin)
    error = usage_error(invoke("report", "--regimes", short, twin, long, "--out", tmp_path / "out"))
    assert f"{short} and {twin} are both the regime 30 + 1 × 30" in error
    error = usage_error(invoke("report", "--regimes", long, short))
    assert "--regimes: choose where regimes.md and regimes.csv go with --out DIR" in error
    error = usage_error(invoke("report", "--regimes", long, short, "--html", "--out", tmp_path / "out"))
    assert "--regimes writes regimes.md and regimes.csv only: drop --html" in error
    error = usage_error(invoke("report", "--regimes", long, tmp_path / "nothing", "--out", tmp_path / "out"))
    assert "is not an alseg experiment folder" in error
    result = invoke("report", "--regimes", long, short, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output and "regimes.md, regimes.csv" in result.output


# --- a grid end to end: `alseg bench` with a list, then `alseg report` -----------------------------------------


def tiny_args(**regime: str) -> list[str]:
    """TINY_ARGS with its --initial/--budget/--rounds replaced by the given values."""
    args, skip = [], False
    for arg in TINY_ARGS:
        if skip:
            skip = False
        elif arg.lstrip("-") in ("initial", "budget", "rounds"):
            skip = True
        else:
            args.append(arg)
    for name, value in regime.items():
        args += [f"--{name}", value]
    return args


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, str]:
    """A 2-regime grid (6 + 1 × 4 and 6 + 1 × 8) of random and entropy, 2 seeds, written by `alseg bench`."""
    root = tmp_path_factory.mktemp("grid")
    result = invoke("bench", *tiny_args(initial="6", budget="4,8", rounds="1"), "--seeds", "2",
                    "--strategies", "random,entropy", "--out", root / "results", "--cache-dir", root / "cache",
                    "--name", "grid")
    assert result.exit_code == 0, result.output
    return root / "results" / "grid", result.output


def markdown_rows(text: str, header: str) -> list[dict[str, str]]:
    """The rows of the first Markdown table whose header row holds `header`, as {column: cell} ('**' removed)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and header in line)
    heads = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().replace("**", "") for c in line.strip("|").split("|")]
        rows.append(dict(zip(heads, cells, strict=True)))
    return rows


@pytest.mark.slow
def test_a_grid_runs_one_experiment_per_regime_then_the_summary(grid):
    root, output = grid
    assert "regime 1/2: 6 initial + 1 x 4" in output and "regime 2/2: 6 initial + 1 x 8" in output
    assert "regime summary" in output and "Traceback" not in output
    names = ["initial-6-budget-4-rounds-1", "initial-6-budget-8-rounds-1"]
    assert regime_dirs(root) == [root / n for n in names]
    assert not (root / "experiment.json").exists()
    assert sorted(p.name for p in root.iterdir()) == sorted([*names, "regimes.csv", "regimes.md"])
    for name, budget in zip(names, (4, 8), strict=True):
        folder = root / name
        protocol = json.loads((folder / "experiment.json").read_text())["protocol"]
        assert (protocol["initial"], protocol["budget"], protocol["rounds"]) == (6, budget, 1)
        assert sorted(p.name for p in (folder / "runs").iterdir() if not p.name.startswith(".")) == [
            "entropy", "random"]
        assert (folder / "report.html").is_file() and (folder / "leaderboard.md").is_file()
        assert f'name = "{name}"' in (folder / "config.toml").read_text()
        assert f"labels 6 + 1 × {budget}" in (folder / "leaderboard.md").read_text()


@pytest.mark.slow
def test_the_summary_holds_each_leaderboards_aubc_and_p(grid):
    root, _ = grid
    summary = pd.read_csv(root / "regimes.csv", dtype=str, keep_default_na=False)
    md_rows = markdown_rows((root / "regimes.md").read_text(), "| Regime | Strategy |")
    assert len(summary) == len(md_rows) == 4
    for folder in regime_dirs(root):
        board = pd.read_csv(folder / "aubc.csv", dtype=str, keep_default_na=False)
        board = board[board["metric"] == "dice"].set_index("strategy")
        mine = summary[summary["experiment"] == folder.name].set_index("strategy")
        assert list(mine.index) == ["random", "entropy"]
        for column in ("label", "n_seeds", "aubc_mean", "aubc_std", "rank", "test", "n_pairs", "mean_diff",
                       "p_value", "p_holm"):
            assert list(mine[column]) == list(board.loc[mine.index, column]), (folder.name, column)
        assert list(mine["n_seeds"]) == ["2", "2"]
        # regimes.md shows the very cells of the regime's leaderboard.md.
        regime = mine["regime"].iloc[0]
        lead = {r["Strategy"]: r for r in markdown_rows((folder / "leaderboard.md").read_text(), "| Strategy |")}
        for row in (r for r in md_rows if r["Regime"] == regime):
            assert row["AUBC (Dice)"] == lead[row["Strategy"]]["AUBC (Dice)"]
            assert row["Rank"] == lead[row["Strategy"]]["Rank"]
            assert row["Holm p"] == lead[row["Strategy"]]["Holm p"]


@pytest.mark.slow
def test_report_on_a_grid_folder_rebuilds_every_file_byte_for_byte(grid, tmp_path):
    root, _ = grid
    names = ("regimes.md", "regimes.csv", "initial-6-budget-4-rounds-1/leaderboard.md",
             "initial-6-budget-8-rounds-1/aubc.csv")
    before = {n: (root / n).read_bytes() for n in names}
    for n in names:
        (root / n).unlink()
    result = invoke("report", root)
    assert result.exit_code == 0, result.output
    assert "initial-6-budget-4-rounds-1/leaderboard.md" in result.output and "regimes.md" in result.output
    assert {n: (root / n).read_bytes() for n in names} == before
    # The same summary from the two regime folders named one by one, in any order, or from the grid folder.
    folders = regime_dirs(root)
    for given in ([folders[1], folders[0]], [root]):
        out = tmp_path / f"summary-{len(given)}"
        result = invoke("report", "--regimes", *given, "--out", out)
        assert result.exit_code == 0, result.output
        assert (out / "regimes.md").read_bytes() == before["regimes.md"]
        assert (out / "regimes.csv").read_bytes() == before["regimes.csv"]
    # A regime folder is a normal experiment folder.
    result = invoke("report", folders[0])
    assert result.exit_code == 0 and "leaderboard.md" in result.output
    assert "a grid folder's reports are rebuilt in place" in usage_error(invoke("report", root, "--out", tmp_path))
    assert "a grid of regimes is reported on its own" in usage_error(invoke("report", root, folders[0]))


@pytest.mark.slow
def test_the_python_api_resumes_the_grid_and_returns_every_regime(grid):
    root, _ = grid
    runs = {p.name: snapshot(p / "runs") for p in regime_dirs(root)}
    result = run_benchmark(**{**TINY, "strategies": "random,entropy", "seeds": 2, "budget": [4, 8],
                              "out": str(root.parent), "cache_dir": str(root.parents[1] / "cache"), "name": "grid"})
    assert isinstance(result, RegimesResult) and result.root == root
    assert [e.experiment_dir for e in result.experiments] == regime_dirs(root)
    assert [e.protocol["budget"] for e in result.experiments] == [4, 8] and result.failed.empty
    assert [p.name for p in result.files] == ["regimes.md", "regimes.csv"]
    pd.testing.assert_frame_equal(result.summary, pd.read_csv(root / "regimes.csv"))
    assert {p.name: snapshot(p / "runs") for p in regime_dirs(root)} == runs  # every run was finished: none reran


@pytest.mark.slow
def test_a_regime_that_does_not_fit_the_pool_stops_the_grid_before_any_run(tmp_path):
    args = tiny_args(initial="6", budget="4,400", rounds="1")
    result = invoke("bench", *args, "--strategies", "random", "--out", tmp_path / "results", "--cache-dir",
                    tmp_path / "cache", "--name", "grid")
    error = usage_error(result)
    assert "regime 2/2 (6 initial + 1 x 400) does not fit" in error
    assert "= 406 labels" in error and "has only 300 images" in error and "no regime was run" in error
    assert not (tmp_path / "results" / "grid").exists()
