"""A run's results, computed once: one tidy table that the report, the gate, the demo and the CLI read.

``results.parquet`` (and its JSON view ``results.json``) holds one row per
(setting, slot, concept, labeler, attribute, value, metric) with ``estimate, lo,
hi, n, total, method, corrected, note`` (:mod:`audit.results.columns`). Build it with
:func:`results_table` (metrics by name in :data:`METRICS`), write and read it with
:func:`write_results` / :func:`read_results`. Importing this package loads numpy
and pandas only.
"""

from audit.results.build import Options, Results, results_table, suite_design
from audit.results.metrics import ALWAYS, METRICS
from audit.results.store import read_results, read_run_dir, read_table, results_for, write_results, write_run_results

__all__ = ["ALWAYS", "METRICS", "Options", "Results", "read_results", "read_run_dir", "read_table", "results_for",
           "results_table", "suite_design", "write_results", "write_run_results"]
