"""Report: compute_*(df) -> DataFrame, render_*(data, ax), and write_report for the files."""

from __future__ import annotations

from alseg.report.bundle import ReportData, compute_failed, compute_report
from alseg.report.compute import (
    METRICS,
    Metric,
    aubc,
    compute_aubc,
    compute_aubc_per_seed,
    compute_ceiling,
    compute_curves,
    compute_label_efficiency,
    compute_overlap,
    compute_picked_uncertainty,
    compute_times,
    jaccard,
    strategy_order,
)
from alseg.report.figures import render_curves, render_overlap, render_penalty
from alseg.report.stats import compute_paired_tests, compute_penalty_matrix, compute_variant_tests, variant_base
from alseg.report.write import ReportFiles, merge_protocols, render_terminal, write_report

__all__ = [
    "METRICS",
    "Metric",
    "ReportData",
    "ReportFiles",
    "aubc",
    "compute_aubc",
    "compute_aubc_per_seed",
    "compute_ceiling",
    "compute_curves",
    "compute_failed",
    "compute_label_efficiency",
    "compute_overlap",
    "compute_paired_tests",
    "compute_penalty_matrix",
    "compute_picked_uncertainty",
    "compute_report",
    "compute_times",
    "compute_variant_tests",
    "jaccard",
    "merge_protocols",
    "render_curves",
    "render_overlap",
    "render_penalty",
    "render_terminal",
    "strategy_order",
    "variant_base",
    "write_report",
]
