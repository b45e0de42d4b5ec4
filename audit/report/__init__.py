"""Audit reports: one self-contained HTML file (plotly embedded), report.json, parquet tables, summary.md.

Build sections from blocks (:class:`Text`, :class:`Table`, :class:`Chart`,
:class:`ImageGrid`, :class:`Code`) or from a results table with
:func:`results_section`, then call :func:`build_report`;
:func:`report_from_run_dir` does it all for a probe run directory (reading its
results table, never recomputing it). The report opens with :func:`top_findings`
(the same function the CLI prints from, one line each with :func:`format_finding`),
evidence beside each finding (:mod:`audit.report.evidence`), the labelers' measured
accuracy (:mod:`audit.report.accuracy`) and a glossary (:mod:`audit.report.glossary`); :func:`compare_runs` puts two
runs side by side with the CI gate's decision. Importing this package does not import plotly.
"""

from audit.report.accuracy import CAVEATS, labeler_card_section
from audit.report.blocks import Block, Chart, Code, GridItem, ImageGrid, RenderContext, ReportSection, Table, Text, esc, \
    image_grid, script_json
from audit.report.build import build_report
from audit.report.export import export_pngs, find_chromium
from audit.report.findings import finding_lines, format_finding, top_findings
from audit.report.sections import report_from_run_dir, results_section
from audit.results import read_run_dir, read_table

__all__ = [
    "CAVEATS",
    "Block",
    "Chart",
    "Code",
    "GridItem",
    "ImageGrid",
    "RenderContext",
    "ReportSection",
    "Table",
    "Text",
    "build_report",
    "esc",
    "export_pngs",
    "find_chromium",
    "image_grid",
    "labeler_card_section",
    "read_run_dir",
    "read_table",
    "report_from_run_dir",
    "results_section",
    "script_json",
    "finding_lines",
    "format_finding",
    "top_findings",
    "compare_runs",
]


def __getattr__(name):  # compare_runs imports the gate: loaded on first use
    if name == "compare_runs":
        from audit.report.compare import compare_runs

        return compare_runs
    raise AttributeError(f"module 'audit.report' has no attribute {name!r}")
