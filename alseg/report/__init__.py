"""Report: load run files (load), compute frames once (bundle), build tables once (tables), write and print them
(write; html: the self-contained report.html with its selection gallery)."""

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
    strategy_order,
)
from alseg.report.figures import render_curves, render_overlap, render_penalty
from alseg.report.html import HTML_NAME, report_experiments_html
from alseg.report.load import load_experiment, load_experiments, merge_protocols, report_experiments
from alseg.report.selection import compute_overlap, compute_picked_uncertainty, compute_times, jaccard
from alseg.report.stats import compute_paired_tests, compute_penalty_matrix, compute_variant_tests, variant_base
from alseg.report.tables import Leaderboard, build_leaderboard
from alseg.report.terminal import render_terminal, terminal_table
from alseg.report.write import ReportFiles, write_files, write_report

__all__ = [
    "HTML_NAME",
    "METRICS",
    "Leaderboard",
    "Metric",
    "ReportData",
    "ReportFiles",
    "aubc",
    "build_leaderboard",
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
    "load_experiment",
    "load_experiments",
    "merge_protocols",
    "render_curves",
    "render_overlap",
    "render_penalty",
    "render_terminal",
    "report_experiments",
    "report_experiments_html",
    "strategy_order",
    "terminal_table",
    "variant_base",
    "write_files",
    "write_report",
]
