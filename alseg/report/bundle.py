"""Everything a report shows, computed once from the round table so that every file and view agrees."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from alseg.report.compute import (
    DONE,
    METRICS,
    al_rows,
    compute_aubc,
    compute_ceiling,
    compute_curves,
    compute_label_efficiency,
    get_metric,
    strategy_order,
)
from alseg.report.selection import compute_overlap, compute_picked_uncertainty, compute_times
from alseg.report.stats import compute_paired_tests, compute_penalty_matrix, compute_variant_tests


@dataclass(frozen=True)
class ReportData:
    """The computed frames of one report (one dataset, one headline metric)."""

    metric: str
    dataset: str | None
    order: list[str]
    curves: pd.DataFrame
    aubc: dict[str, pd.DataFrame]
    tests: dict[str, pd.DataFrame]
    variants: dict[str, pd.DataFrame]
    penalty: pd.DataFrame
    efficiency: pd.DataFrame
    times: pd.DataFrame
    overlap: pd.DataFrame
    picked: pd.DataFrame
    ceiling: pd.DataFrame
    failed: pd.DataFrame

    @property
    def budgets(self) -> list[int]:
        """Sorted labeled counts of the AL curves."""
        return sorted({int(n) for n in self.curves["n_labeled"]})


def compute_failed(df: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Runs whose status is not done (from `runs`, else from the round rows), sorted."""
    cols = ["strategy", "seed", "status", "message"]
    src = runs if runs is not None else df
    if src is None or src.empty or "status" not in src.columns:
        return pd.DataFrame(columns=cols)
    bad = src[src["status"].astype(str) != DONE].copy()
    if "message" not in bad.columns:
        bad["message"] = ""
    bad["message"] = bad["message"].fillna("").astype(str)
    bad["strategy"] = bad["strategy"].astype(str)
    bad["status"] = bad["status"].astype(str)
    bad = bad[cols].drop_duplicates(["strategy", "seed", "status"])
    return bad.sort_values(["strategy", "seed"], kind="stable").reset_index(drop=True)


def compute_report(df: pd.DataFrame, runs: pd.DataFrame | None = None, metric: str = "dice") -> ReportData:
    """Run every compute_* function on the round table for one report."""
    get_metric(metric)
    rows = al_rows(df)
    dataset = str(rows["dataset"].iloc[0]) if "dataset" in rows.columns and len(rows) else None
    metrics = [m for m in METRICS if m in rows.columns]
    return ReportData(
        metric=metric,
        dataset=dataset,
        order=strategy_order(rows),
        curves=compute_curves(df),
        aubc={m: compute_aubc(df, m) for m in metrics},
        tests={m: compute_paired_tests(df, m) for m in metrics},
        variants={m: compute_variant_tests(df, m) for m in metrics},
        penalty=compute_penalty_matrix(df, metric),
        efficiency=compute_label_efficiency(df, metric),
        times=compute_times(df),
        overlap=compute_overlap(df),
        picked=compute_picked_uncertainty(df),
        ceiling=compute_ceiling(df),
        failed=compute_failed(df, runs),
    )
