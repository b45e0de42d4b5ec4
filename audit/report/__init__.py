"""Audit reports: one self-contained HTML file (plotly embedded), report.json, parquet tables, summary.md.

Build sections from blocks (:class:`Text`, :class:`Table`, :class:`Chart`,
:class:`ImageGrid`, :class:`Code`) or from a results table with
:func:`results_section`, then call :func:`build_report`;
:func:`report_from_run_dir` does it all for a probe run directory (reading its
results table, never recomputing it). Importing this package does not import plotly.
"""

from audit.report.analysis import CAVEATS, image_grid, labeler_card_section, results_section
from audit.report.blocks import Block, Chart, Code, GridItem, ImageGrid, RenderContext, ReportSection, Table, Text
from audit.report.build import build_report
from audit.report.escape import esc, script_json
from audit.report.export import export_pngs, find_chromium
from audit.report.run_dir import read_run_dir, read_table, report_from_run_dir

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
]
