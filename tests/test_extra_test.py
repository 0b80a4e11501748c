"""--extra-test (another dataset's test split, evaluated every round) and --replay (stored selections, retrained)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_ARGS, read_records
from test_kvasir import N_TEST, make_release
from typer.testing import CliRunner

from alseg.bench import run_benchmark
from alseg.cli import app
from alseg.errors import AlsegUsageError
from alseg.extra_test import EXTRA_TEST_KEY, ExtraTestSpec, parse_extra_tests
from alseg.records import METRIC_FIELDS
from alseg.report.load import load_experiments, on_extra_test

runner = CliRunner()


@pytest.fixture(scope="module")
def kvasir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated Kvasir-SEG copy in the release layout (its 3 standard test images are the extra test)."""
    parent = tmp_path_factory.mktemp("kvasir-extra")
    make_release(parent)
    return parent


def _rounds(cfg, run: str, seed: int = 0, timing: bool = False) -> list[dict]:
    return read_records(cfg.experiment_dir / "runs" / run / f"seed-{seed}.jsonl", drop_timing=not timing)


def _without_extra(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in rec.items() if k != EXTRA_TEST_KEY} for rec in records]


def test_the_option_parses_names_and_paths() -> None:
    assert parse_extra_tests("kvasir-seg:/data/k, cvc-clinicdb") == [ExtraTestSpec("kvasir-seg", "/data/k"),
                                                                     ExtraTestSpec("cvc-clinicdb", None)]
    assert parse_extra_tests("kvasir-seg:C:/x")[0].data_dir == "C:/x"  # only the first colon splits


@pytest.mark.parametrize("text, words", [
    ("kvasr-seg:/x", ["unknown dataset 'kvasr-seg'", "kvasir-seg"]),
    ("folder:/x", ["unknown dataset 'folder'", "built-in test split"]),
    ("kvasir-seg,kvasir-seg:/y", ["names kvasir-seg twice"]),
])
def test_bad_option_values_are_refused_naming_them(text: str, words: list[str]) -> None:
    with pytest.raises(AlsegUsageError) as err:
        parse_extra_tests(text)
    for word in words:
        assert word in str(err.value)


def test_every_round_is_also_evaluated_on_the_extra_test_and_training_is_unchanged(tiny_cfg, kvasir) -> None:
    extra = tiny_cfg(strategies="random,entropy", full=True, name="extra", extra_test=f"kvasir-seg:{kvasir}")
    plain = tiny_cfg(strategies="random,entropy", full=True, name="plain")
    run_benchmark(extra)
    run_benchmark(plain)
    for run in ("random", "entropy", "full"):
        with_extra = _rounds(extra, run)
        for rec in with_extra:
            scores = rec[EXTRA_TEST_KEY]["kvasir-seg"]
            assert sorted(scores) == sorted(METRIC_FIELDS) and all(0.0 <= v <= 1.0 for v in scores.values())
        assert _without_extra(with_extra) == _rounds(plain, run), run  # evaluation changes nothing else
        assert all(EXTRA_TEST_KEY not in rec for rec in _rounds(plain, run))
    info = json.loads((extra.experiment_dir / "experiment.json").read_text())
    assert [t["name"] for t in info["extra_tests"]] == ["kvasir-seg"] and info["extra_tests"][0]["n_test"] == N_TEST
    assert info["protocol"] == json.loads((plain.experiment_dir / "experiment.json").read_text())["protocol"]
    # the shared round 0 served random and entropy: their round-0 extra metrics are the same model's
    assert _rounds(extra, "random")[0][EXTRA_TEST_KEY] == _rounds(extra, "entropy")[0][EXTRA_TEST_KEY]


def test_the_report_gives_the_extra_test_its_own_leaderboard(tiny_cfg, kvasir) -> None:
    cfg = tiny_cfg(strategies="random,entropy", seeds=2, name="rep", extra_test=f"kvasir-seg:{kvasir}")
    run_benchmark(cfg)
    folder = cfg.experiment_dir / "extra-test-kvasir-seg"
    text = (folder / "leaderboard.md").read_text()
    assert "evaluated on the test split of kvasir-seg" in text
    assert "[kvasir-seg](extra-test-kvasir-seg/leaderboard.md)" in (cfg.experiment_dir / "leaderboard.md").read_text()
    exps = load_experiments([cfg.experiment_dir])
    on_kvasir = on_extra_test(exps.rounds, "kvasir-seg")
    last = on_kvasir[on_kvasir["round"] == on_kvasir["round"].max()]
    board = pd.read_csv(folder / "leaderboard.csv")
    main = pd.read_csv(cfg.experiment_dir / "leaderboard.csv")
    assert list(board.columns) == list(main.columns)
    stored = {(rec["strategy"], rec["seed"]): rec[EXTRA_TEST_KEY]["kvasir-seg"]["dice"]
              for run in ("random", "entropy") for seed in (0, 1) for rec in _rounds(cfg, run, seed)
              if rec["round"] == 1}
    for (strategy, seed), dice in stored.items():  # the frame the extra report is built from holds the stored values
        row = last[(last["strategy"] == strategy) & (last["seed"] == seed)]
        assert float(row["dice"].iloc[0]) == pytest.approx(dice)
        assert float(row["dice"].iloc[0]) != pytest.approx(float(exps.rounds[
            (exps.rounds["strategy"] == strategy) & (exps.rounds["seed"] == seed)
            & (exps.rounds["round"] == 1)]["dice"].iloc[0]))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = runner.invoke(app, ["report", str(cfg.experiment_dir)])
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # rebuilt byte for byte
    assert "extra test" in result.output


def test_a_folder_resumes_only_with_the_same_extra_tests(tiny_cfg, kvasir, tmp_path) -> None:
    run_benchmark(tiny_cfg(name="same", extra_test=f"kvasir-seg:{kvasir}"))
    with pytest.raises(AlsegUsageError, match=r"evaluated on extra tests kvasir-seg, not none"):
        run_benchmark(tiny_cfg(name="same"))
    other = tmp_path / "other"
    make_release(other, names=sorted(p.name for p in (kvasir / "Kvasir-SEG" / "images").iterdir())[1:])
    with pytest.raises(AlsegUsageError, match=r"another copy of the extra test data"):
        run_benchmark(tiny_cfg(name="same", extra_test=f"kvasir-seg:{other}"))
    run_benchmark(tiny_cfg(name="plain2"))
    with pytest.raises(AlsegUsageError, match=r"evaluated on extra tests none, not kvasir-seg"):
        run_benchmark(tiny_cfg(name="plain2", extra_test=f"kvasir-seg:{kvasir}"))


def test_the_experiments_own_dataset_is_refused_as_extra_test(tiny_cfg) -> None:
    with pytest.raises(AlsegUsageError, match=r"the experiment's own dataset"):
        run_benchmark(tiny_cfg(extra_test="synthetic"))


def test_a_missing_extra_test_folder_is_refused_naming_the_option(tmp_path) -> None:
    args = ["bench", *TINY_ARGS, "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"), "--name", "cli"]
    bad = runner.invoke(app, [*args, "--extra-test", f"kvasir-seg:{tmp_path / 'nowhere'}"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    text = " ".join(bad.output.split())
    assert f"--extra-test kvasir-seg:{tmp_path / 'nowhere'}:" in text and "does not exist" in text
    assert "the DIR of --extra-test kvasir-seg:DIR" in text


def test_the_cli_takes_the_option_and_refuses_a_bad_one(tmp_path, kvasir) -> None:
    args = ["bench", *TINY_ARGS, "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"), "--name", "cli"]
    bad = runner.invoke(app, [*args, "--extra-test", "kvasir:/nowhere"])
    assert bad.exit_code == 2 and "unknown dataset 'kvasir'" in bad.output and "Traceback" not in bad.output
    good = runner.invoke(app, [*args, "--extra-test", f"kvasir-seg:{kvasir}"])
    assert good.exit_code == 0, good.output
    assert (tmp_path / "r" / "cli" / "extra-test-kvasir-seg" / "leaderboard.md").is_file()
    toml = (tmp_path / "r" / "cli" / "config.toml").read_text()
    assert f'extra-test = "kvasir-seg:{kvasir}"' in toml


def test_workers_ship_the_extra_tests_and_store_the_same_records(tiny_cfg, kvasir) -> None:
    one = tiny_cfg(strategies="random,entropy", name="w1", extra_test=f"kvasir-seg:{kvasir}")
    two = tiny_cfg(strategies="random,entropy", name="w2", extra_test=f"kvasir-seg:{kvasir}", workers=2)
    run_benchmark(one)
    run_benchmark(two)
    for run in ("random", "entropy"):
        assert _rounds(two, run) == _rounds(one, run)  # read_records drops workers and computed_on


def test_a_replay_trains_on_the_stored_selections_and_adds_the_extra_test(tiny_cfg, kvasir) -> None:
    source = tiny_cfg(strategies="random,entropy,proposed", full=True, name="source")
    run_benchmark(source)
    replay = tiny_cfg(strategies="random,entropy,proposed", full=True, name="replayed",
                      replay=str(source.experiment_dir), extra_test=f"kvasir-seg:{kvasir}")
    run_benchmark(replay)
    for run in ("random", "entropy", "proposed", "full"):
        got = _rounds(replay, run)
        assert _without_extra(got) == _rounds(source, run), run  # same machine: the same models, selections, metrics
        assert all("kvasir-seg" in rec[EXTRA_TEST_KEY] for rec in got)
        assert all(rec["t_select"] == 0.0 for rec in _rounds(replay, run, timing=True))
    info = json.loads((replay.experiment_dir / "experiment.json").read_text())
    assert info["replay_of"]["experiment"] == str(source.experiment_dir)
    assert info["replay_of"]["protocol_hash"] == json.loads(
        (source.experiment_dir / "experiment.json").read_text())["protocol_hash"]


def test_a_replayed_selection_is_never_recomputed(tiny_cfg, synthetic32) -> None:
    """Hand-edited source selections are what the replay trains on (select() is not called)."""
    source = tiny_cfg(strategies="entropy", name="edited")
    run_benchmark(source)
    path = source.experiment_dir / "runs" / "entropy" / "seed-0.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    train = [synthetic32.ids[i] for i in synthetic32.train]
    pool = [i for i in train if i not in lines[0]["added"] and i not in lines[0]["selected"]]
    lines[0]["selected"] = pool[-4:][::-1]  # not the entropy ranking, and in an order of its own
    lines[1]["added"] = lines[0]["selected"]
    path.write_text("".join(json.dumps(rec, sort_keys=True) + "\n" for rec in lines))
    replay = tiny_cfg(strategies="entropy", name="edited-replay", replay=str(source.experiment_dir))
    run_benchmark(replay)
    got = _rounds(replay, "entropy")
    assert got[0]["selected"] == lines[0]["selected"]  # stored order kept
    assert got[1]["added"] == sorted(lines[0]["selected"], key=train.index)  # added ids are stored in index order


def test_replay_refusals_name_the_problem(tiny_cfg) -> None:
    source = tiny_cfg(strategies="random", name="src")
    run_benchmark(source)
    with pytest.raises(AlsegUsageError, match=r"no finished run to replay for entropy seed 0"):
        run_benchmark(tiny_cfg(strategies="entropy", name="r1", replay=str(source.experiment_dir)))
    with pytest.raises(AlsegUsageError, match=r"another protocol \(budget: source 4, now 3\)"):
        run_benchmark(tiny_cfg(budget=3, name="r2", replay=str(source.experiment_dir)))
    with pytest.raises(AlsegUsageError, match=r"the experiment being written"):
        run_benchmark(tiny_cfg(name="src", replay=str(source.experiment_dir)))
    with pytest.raises(AlsegUsageError, match=r"no experiment.json"):
        tiny_cfg(name="r3", replay=str(source.experiment_dir / "runs"))
    run_benchmark(tiny_cfg(name="r4", replay=str(source.experiment_dir)))
    with pytest.raises(AlsegUsageError, match=r"resume it with --replay"):
        run_benchmark(tiny_cfg(name="r4"))
    with pytest.raises(AlsegUsageError, match=r"select their own images"):
        run_benchmark(tiny_cfg(name="src", strategies="random", replay=str(tiny_cfg(name="r4").experiment_dir)))


def test_a_replay_of_a_grid_and_a_grid_config_run_directly_are_refused(tiny_cfg) -> None:
    source = tiny_cfg(name="grid-src")
    run_benchmark(source)
    with pytest.raises(AlsegUsageError, match=r"replays one experiment, whose regime is fixed"):
        tiny_cfg(name="grid-replay", budget="4,3", replay=str(source.experiment_dir))
    grid = tiny_cfg(name="grid", budget="4,3")
    with pytest.raises(AlsegUsageError, match=r"a grid of 2 budget regimes is several experiments"):
        run_benchmark(grid)
