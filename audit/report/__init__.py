"""Audit reports: one self-contained HTML file (plotly embedded), results.json, parquet tables, summary.md.

Build sections from blocks (:class:`Text`, :class:`Table`, :class:`Chart`,
:class:`ImageGrid`, :class:`Code`) or with :func:`association_section`, then
call :func:`build_report`; :func:`report_from_run_dir` does it all for a probe
run directory. Importing this package does not import plotly.
"""

from audit.report.analysis import CAVEATS, association_section, image_grid, labeler_card_section
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
    "association_section",
    "build_report",
    "esc",
    "export_pngs",
    "find_chromium",
    "image_grid",
    "labeler_card_section",
    "read_run_dir",
    "read_table",
    "report_from_run_dir",
    "script_json",
]
