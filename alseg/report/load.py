"""`alseg report`'s input: run files read as RoundRecords into the round table, experiments merged by protocol.

The report is a pure function of the stored run files (no model, no data), so `alseg report` on a copy of an
experiment folder rewrites its tables and figures byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table

from alseg.errors import AlsegError, AlsegUsageError
from alseg.extra_test import EXTRA_TEST_KEY
from alseg.records import METRIC_FIELDS, RoundRecord
from alseg.report.bundle import compute_report
from alseg.report.documents import flatten_protocol
from alseg.report.tables import build_leaderboard, with_protocol
from alseg.report.terminal import terminal_table
from alseg.report.write import write_files
from alseg.store import ExperimentStore, RunFile

COLUMNS = ("dataset", "strategy", "label", "seed", "round", "n_labeled", "dice", "iou", "miou", "t_train",
           "t_eval", "t_pool", "t_select", "selected", "picked_entropy", "status")
RUN_COLUMNS = ("strategy", "seed", "status", "message", "rounds", "experiment")


def read_records(file: RunFile) -> list[RoundRecord]:
    """The stored rounds of one run file as RoundRecords (the one type the writer appends)."""
    try:
        return file.round_records()
    except (TypeError, ValueError) as err:  # a line that is JSON but not a round record
        raise AlsegError(f"{file.path} holds a line that is not a round record ({err}); the file is damaged") from err


def load_experiment(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Round records of complete runs, the status of every run, and the experiment info of one folder."""
    store = ExperimentStore(root)
    info = store.read_experiment()
    if info is None:
        raise AlsegUsageError(f"{root} is not an alseg experiment folder (no experiment.json); "
                              "pass a results/<experiment> folder written by `alseg bench`")
    expected = info["protocol"]["rounds"] + 1
    rows, runs = [], []
    for folder, seed, file in store.run_files():
        records = read_records(file)
        status = file.status() or {}
        if not records:
            if status.get("status") not in (None, "done"):  # a run that failed before its first round
                runs.append({"strategy": status.get("strategy", folder), "seed": seed, "status": status["status"],
                             "message": status.get("message", ""), "rounds": 0, "experiment": str(root)})
            continue
        name = records[0].strategy
        complete = len(records) >= (1 if name == "full" else expected)
        state = status.get("status", "done" if complete else "incomplete")
        message = status.get("message", "")
        if state == "done" and not complete:
            state = "incomplete"
        if state != "done" and not message:
            message = f"{len(records)} of {expected} rounds stored"
        runs.append({"strategy": name, "seed": seed, "status": state, "message": message,
                     "rounds": len(records), "experiment": str(root)})
        if state == "done":
            rows += [{**{c: getattr(rec, c) for c in COLUMNS}, "workers": int(rec.extra.get("workers", 1)),
                      EXTRA_TEST_KEY: rec.extra.get(EXTRA_TEST_KEY) or {}} for rec in records]
    df = pd.DataFrame(rows, columns=[*COLUMNS, "workers", EXTRA_TEST_KEY])
    df["picked_entropy"] = pd.to_numeric(df["picked_entropy"], errors="coerce")
    return df, pd.DataFrame(runs, columns=list(RUN_COLUMNS)), info


_MISSING = "<missing>"


def merge_protocols(protocols: Mapping[str, Mapping], ignore: Sequence[str] = ()) -> dict:
    """The common (flattened, dotted keys) protocol of experiments; refuse when settings differ.

    `ignore` names settings allowed to differ (e.g. "seeds"); their merged value is
    {experiment: value}. Any other difference raises AlsegUsageError naming every differing
    setting and its value in each experiment.
    """
    if not protocols:
        return {}
    flat = {str(exp): flatten_protocol(p) for exp, p in protocols.items()}
    exps = sorted(flat)
    keys = list(dict.fromkeys(k for e in exps for k in flat[e]))
    merged: dict[str, object] = {}
    problems = []
    for key in keys:
        values = {e: flat[e].get(key, _MISSING) for e in exps}
        if all(v == values[exps[0]] for v in values.values()):
            merged[key] = values[exps[0]]
        elif key in ignore:
            merged[key] = values
        else:
            shown = ", ".join(
                f"{e}={values[e]!r}" if values[e] != _MISSING else f"{e}={_MISSING}" for e in exps
            )
            problems.append(f"'{key}' ({shown})")
    if problems:
        raise AlsegUsageError(
            "cannot merge experiments with different protocols: "
            + "; ".join(problems)
            + ". Rerun them with matching settings or report them separately."
        )
    return merged


@dataclass(frozen=True)
class Experiments:
    """The finished rounds, run statuses and common protocol of experiments reported together."""

    rounds: pd.DataFrame
    runs: pd.DataFrame
    protocol: dict
    title: str


class NothingToReport(AlsegUsageError):
    """The experiment folders hold no finished run yet."""


def load_experiments(roots: Sequence[Path]) -> Experiments:
    """Load and merge experiment folders of one protocol (a round stored twice counts once)."""
    frames, run_frames, protocols = [], [], {}
    for root in roots:
        df, runs, info = load_experiment(Path(root))
        frames.append(df)
        run_frames.append(runs)
        protocols[str(root)] = dict(info["protocol"])
    if len(protocols) > 1:  # folders written before device/precision joined the protocol read them from their env
        from alseg.experiment import stored_protocol

        protocols = {root: stored_protocol(ExperimentStore(Path(root)), {"protocol": p})
                     for root, p in protocols.items()}
    protocol = merge_protocols(protocols)
    df = pd.concat(frames, ignore_index=True)
    runs = pd.concat(run_frames, ignore_index=True)
    dup = df.duplicated(subset=["strategy", "seed", "round"], keep="first")
    if dup.any():
        df = df[~dup]
    if df.empty:
        raise NothingToReport(f"no finished run in {', '.join(map(str, roots))}: nothing to report yet")
    title = "alseg leaderboard: " + ", ".join(sorted(set(df["dataset"])))
    return Experiments(df, runs, protocol, title)


def extra_test_names(rounds: pd.DataFrame) -> list[str]:
    """The --extra-test datasets the stored rounds were evaluated on, sorted."""
    if EXTRA_TEST_KEY not in rounds.columns:
        return []
    return sorted({name for entry in rounds[EXTRA_TEST_KEY] if isinstance(entry, dict) for name in entry})


def on_extra_test(rounds: pd.DataFrame, name: str) -> pd.DataFrame:
    """The round table with every metric taken from extra test `name` (rows not evaluated on it left out)."""
    has = rounds[EXTRA_TEST_KEY].map(lambda entry: isinstance(entry, dict) and name in entry)
    out = rounds[has].copy()
    for metric in METRIC_FIELDS:
        out[metric] = out[EXTRA_TEST_KEY].map(lambda entry, m=metric: entry[name][m])
    return out.reset_index(drop=True)


def extra_test_dir(out_dir: Path, name: str) -> Path:
    """Where the report of extra test `name` goes: a folder of its own beside the leaderboard."""
    return Path(out_dir) / f"extra-test-{name}"


def write_extra_test_reports(exps: Experiments, out_dir: Path) -> tuple[list[Path], list[Table]]:
    """One full report (curves, AUBC, tests) per extra test, in extra-test-NAME/ under `out_dir`."""
    paths: list[Path] = []
    tables: list[Table] = []
    for name in extra_test_names(exps.rounds):
        rounds = on_extra_test(exps.rounds, name)
        board = with_protocol(build_leaderboard(compute_report(rounds, exps.runs)), exps.protocol)
        title = f"{exps.title}, evaluated on the test split of {name} (--extra-test: never trained or selected on)"
        paths += write_files(board, extra_test_dir(out_dir, name), title=title, protocol=exps.protocol).all()
        table = terminal_table(board)
        table.title = f"on {name}'s test split (extra test)"
        tables.append(table)
    return paths, tables


def report_experiments(roots: Sequence[Path], out_dir: Path) -> tuple[list[Path], list[Table]]:
    """Compute the report of the experiments once, write its files, return them and the terminal table."""
    exps = load_experiments(roots)
    board = with_protocol(build_leaderboard(compute_report(exps.rounds, exps.runs)), exps.protocol)
    files = write_files(board, Path(out_dir), title=exps.title, protocol=exps.protocol,
                        extra_tests=extra_test_names(exps.rounds))
    extra_files, extra_tables = write_extra_test_reports(exps, Path(out_dir))
    return [*files.all(), *extra_files], [terminal_table(board), *extra_tables]
