"""Deprecated location: `alseg.report.load` holds the report loader; this shim goes once no module imports it."""

from alseg.report.load import load_experiment, report_experiments  # noqa: F401
