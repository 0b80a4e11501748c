"""`alseg report`: rebuild tables and figures from stored run files alone (no model, no data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from alseg.errors import AlsegUsageError
from alseg.report.write import merge_protocols, render_terminal, write_report
from alseg.store import ExperimentStore

COLUMNS = ("dataset", "strategy", "label", "seed", "round", "n_labeled", "dice", "iou", "miou", "t_train",
           "t_eval", "t_pool", "t_select", "selected", "picked_entropy", "status")


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
        records = file.records()
        if not records:
            failed = file.status() or {}
            if failed.get("status") not in (None, "done"):  # a run that failed before its first round
                runs.append({"strategy": failed.get("strategy", folder), "seed": seed, "status": failed["status"],
                             "message": failed.get("message", ""), "rounds": 0, "experiment": str(root)})
            continue
        name = records[0]["strategy"]
        full = name == "full"
        status = file.status() or {}
        complete = len(records) >= (1 if full else expected)
        state = status.get("status", "done" if complete else "incomplete")
        message = status.get("message", "")
        if state == "done" and not complete:
            state = "incomplete"
        if state != "done" and not message:
            message = f"{len(records)} of {expected} rounds stored"
        runs.append({"strategy": name, "seed": seed, "status": state, "message": message,
                     "rounds": len(records), "experiment": str(root)})
        if state == "done" and complete:
            rows += [{c: rec.get(c) for c in COLUMNS} for rec in records]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["picked_entropy"] = pd.to_numeric(df["picked_entropy"], errors="coerce")
    return df, pd.DataFrame(runs, columns=["strategy", "seed", "status", "message", "rounds", "experiment"]), info


def report_experiments(roots: list[Path], out_dir: Path) -> tuple[list[Path], list[Any]]:
    """Merge experiments that share a protocol, write the report files, return them and terminal tables."""
    frames, run_frames, protocols = [], [], {}
    for root in roots:
        df, runs, info = load_experiment(Path(root))
        frames.append(df)
        run_frames.append(runs)
        protocols[str(root)] = {k: v for k, v in info["protocol"].items()}
    protocol = merge_protocols(protocols)
    df = pd.concat(frames, ignore_index=True)
    runs = pd.concat(run_frames, ignore_index=True)
    dup = df.duplicated(subset=["strategy", "seed", "round"], keep="first")
    if dup.any():
        df = df[~dup]
    if df.empty:
        raise AlsegUsageError(f"no finished run in {', '.join(map(str, roots))}: nothing to report yet")
    title = "alseg leaderboard: " + ", ".join(sorted(set(df["dataset"])))
    files = write_report(df, Path(out_dir), runs=runs, title=title, protocol=protocol)
    tables = render_terminal(df, runs=runs)
    return files.all(), [tables]
