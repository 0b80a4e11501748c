"""From run files to report files: the loader reads RoundRecords, a report is computed once per write, and
`alseg report` rebuilds the committed reference experiment (results/cvc-clinicdb-cpu) byte for byte."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import matplotlib
import pytest
from rich.console import Console
from typer.testing import CliRunner

import alseg.report.bundle as bundle
import alseg.report.tables as tables
from alseg.cli import app
from alseg.config import protocol_hash
from alseg.errors import AlsegError
from alseg.records import RoundRecord
from alseg.report import render_terminal
from alseg.report.load import load_experiment, report_experiments

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "cvc-clinicdb-cpu"
TEXT_FILES = ("leaderboard.md", "leaderboard.csv", "leaderboard.tex", "aubc.csv", "overlap.csv")
REFERENCE_RUNS = {"asa", "coreset", "entropy", "full", "proposed", "proposed(clustering=false)",
                  "proposed(discrepancy=false)", "proposed(uncertainty=false)", "random",
                  "bald", "badge", "power(base=bald)", "power(base=entropy)", "typiclust"}  # the last five: issue 12


def generated(folder: Path) -> list[str]:
    """Names of the report files in a folder: the text files and every figure."""
    return sorted([n for n in TEXT_FILES if (folder / n).exists()] + [p.name for p in folder.glob("*.png")])


def record(strategy: str, seed: int, rnd: int, dice: float, **changes: object) -> RoundRecord:
    """A round record of a toy dataset (30 labels, +30 a round); mIoU = Dice + 0.1, IoU = Dice - 0.1."""
    values: dict = dict(
        strategy=strategy, name=strategy.partition("(")[0], params={}, label=strategy.title(),
        provider="alseg==test", alseg_version="test", dataset="toy", seed=seed, round=rnd, n_labeled=30 * (rnd + 1),
        dice=dice, iou=dice - 0.1, miou=dice + 0.1, added=[], selected=[f"{strategy}-{seed}-{rnd}", "shared"],
        picked_entropy=0.1 * (rnd + 1), pool_entropy=0.2, t_train=10.0, t_eval=1.0, t_pool=2.0, t_select=1.0,
    )
    values.update(changes)
    return RoundRecord(**values)


def write_run(root: Path, records: list[RoundRecord], status: str | None = "done", message: str = "") -> None:
    """Store a run as `alseg bench` does: one JSON line per round, then its status file."""
    name, seed = records[0].strategy, records[0].seed
    folder = root / "runs" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{seed}.jsonl").write_bytes(b"".join(r.to_line() for r in records))
    if status is not None:
        state = {"status": status, "message": message, "strategy": name, "seed": seed}
        (folder / f"seed-{seed}.status.json").write_text(json.dumps(state))


@pytest.fixture
def toy_experiment(tmp_path: Path) -> Path:
    """Three strategies × three seeds × three rounds, one ceiling run, one interrupted and one failed run."""
    root = tmp_path / "toy"
    root.mkdir()
    (root / "experiment.json").write_text(json.dumps({"protocol": {"dataset": "toy", "rounds": 2}}))
    gains = {"random": 0.0, "entropy": 0.02, "proposed": 0.08}
    for name, gain in gains.items():
        for seed in range(3):
            dice = [0.5, 0.6 + gain + 0.003 * seed, 0.7 + gain + 0.01 * seed]
            write_run(root, [record(name, seed, r, d, selected=[] if r == 2 else [f"{name}{seed}{r}", "x"])
                             for r, d in enumerate(dice)])
    for seed in range(3):
        write_run(root, [record("full", seed, 0, 0.9, n_labeled=550, selected=[], label="Full supervision")])
    write_run(root, [record("coreset", 0, 0, 0.5)], status=None)  # killed after its first round
    (root / "runs" / "asa").mkdir()
    (root / "runs" / "asa" / "seed-0.status.json").write_text(
        json.dumps({"status": "error", "message": "asa seed 0: boom", "strategy": "asa", "seed": 0}))
    return root


# --- the loader ------------------------------------------------------------------------------------------


def test_load_experiment_reads_round_records_of_finished_runs_only(toy_experiment: Path) -> None:
    rounds, runs, info = load_experiment(toy_experiment)
    assert info["protocol"]["rounds"] == 2
    assert set(rounds["strategy"]) == {"random", "entropy", "proposed", "full"}
    assert len(rounds) == 3 * 3 * 3 + 3
    first = rounds[(rounds["strategy"] == "proposed") & (rounds["seed"] == 1) & (rounds["round"] == 1)].iloc[0]
    assert first["dice"] == pytest.approx(0.683) and first["selected"] == ["proposed11", "x"]
    by_run = {(r.strategy, r.seed): (r.status, r.message) for r in runs.itertuples()}
    assert by_run[("coreset", 0)] == ("incomplete", "1 of 3 rounds stored")
    assert by_run[("asa", 0)] == ("error", "asa seed 0: boom")
    assert by_run[("random", 2)] == ("done", "")


def test_a_line_that_is_no_round_record_names_the_file(toy_experiment: Path) -> None:
    path = toy_experiment / "runs" / "random" / "seed-0.jsonl"
    path.write_text(path.read_text() + json.dumps({"round": 3, "strategy": "random"}) + "\n")
    with pytest.raises(AlsegError, match=r"random/seed-0\.jsonl .*not a round record.*lacks"):
        load_experiment(toy_experiment)


# --- computed once per write ------------------------------------------------------------------------------


def test_report_is_computed_once_and_the_terminal_shows_the_same_tables(
    toy_experiment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, int] = {}

    def counted(module: object, name: str) -> None:
        real = getattr(module, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("compute_curves", "compute_penalty_matrix", "compute_overlap", "compute_label_efficiency"):
        counted(bundle, name)
    counted(tables, "main_table")
    files, shown = report_experiments([toy_experiment], tmp_path / "out")
    assert calls == {"compute_curves": 1, "compute_penalty_matrix": 1, "compute_overlap": 1,
                     "compute_label_efficiency": 1, "main_table": 1}
    assert [p.name for p in files][:5] == list(TEXT_FILES) and all(p.exists() for p in files)
    monkeypatch.undo()
    rounds, runs, _ = load_experiment(toy_experiment)

    def text(table: object) -> str:
        console = Console(record=True, width=200, file=io.StringIO())
        console.print(table)
        return console.export_text()

    assert text(shown[0]) == text(render_terminal(rounds, runs))
    assert "asa seed 0: error" in text(shown[0]) and "coreset seed 0: incomplete" in text(shown[0])


# --- the committed reference experiment -------------------------------------------------------------------


def test_reference_experiment_holds_exactly_the_expected_runs() -> None:
    _, runs, info = load_experiment(REFERENCE)
    assert set(runs["strategy"]) == REFERENCE_RUNS
    assert {p.name for p in (REFERENCE / "runs").iterdir() if p.is_dir()} == REFERENCE_RUNS
    assert set(info["strategies"]) | {"full"} == REFERENCE_RUNS and info["full"]


@pytest.mark.slow
def test_alseg_report_rebuilds_the_committed_reference_byte_for_byte(tmp_path: Path) -> None:
    expected = generated(REFERENCE)
    assert set(TEXT_FILES) <= set(expected) and len(expected) == len(TEXT_FILES) + 6, expected
    copy = tmp_path / REFERENCE.name
    shutil.copytree(REFERENCE, copy, ignore=shutil.ignore_patterns(*TEXT_FILES, "*.png"))
    assert generated(copy) == []  # everything compared below is written by this command
    result = CliRunner().invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    assert generated(copy) == expected
    differ = [name for name in expected if (copy / name).read_bytes() != (REFERENCE / name).read_bytes()]
    print(f"compared {len(expected)} files: {', '.join(expected)}")
    assert not differ, (
        f"`alseg report` on a copy of {REFERENCE} wrote files that differ from the committed ones: "
        f"{', '.join(differ)} (compared: {', '.join(expected)}; matplotlib {matplotlib.__version__} here)"
    )
    for run in (REFERENCE / "runs").rglob("*.jsonl"):  # the run files were only read
        assert (copy / run.relative_to(REFERENCE)).read_bytes() == run.read_bytes(), run


def test_a_folder_from_before_device_and_precision_merges_with_a_new_one(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(REFERENCE, old, ignore=shutil.ignore_patterns("*.png"))
    shutil.copytree(REFERENCE, new, ignore=shutil.ignore_patterns("*.png"))
    legacy = json.loads((old / "experiment.json").read_text())
    for key in ("device", "precision"):  # as alseg <= 0.2.0 wrote it, before both keys existed
        legacy["protocol"].pop(key, None)
    legacy["protocol_hash"] = protocol_hash(legacy["protocol"])
    (old / "experiment.json").write_text(json.dumps(legacy))
    info = json.loads((new / "experiment.json").read_text())
    info["protocol"].update(device="cpu", precision="fp32")
    (new / "experiment.json").write_text(json.dumps(info))
    result = CliRunner().invoke(app, ["report", str(old), str(new), "--out", str(tmp_path / "both")])
    assert result.exit_code == 0, result.output
    info["protocol"]["precision"] = "bf16-autocast"  # a different precision never merges
    (new / "experiment.json").write_text(json.dumps(info))
    result = CliRunner().invoke(app, ["report", str(old), str(new), "--out", str(tmp_path / "mixed")])
    assert result.exit_code == 2 and "precision" in result.output
