"""JUnit XML of a gate check: one testcase per checked metric x group, a failure per regression.

CI systems (GitHub Actions test reporters, GitLab, Jenkins) display these files.

Examples
--------
>>> import xml.etree.ElementTree as ET
>>> cmp = pd.DataFrame([{"metric": "abs_npmi_gap", "setting": "default", "slot": "profession",
...     "labeler": "w", "attribute": "presentation", "group": "nurse", "direction": "up", "baseline": 0.1,
...     "lo": 0.0, "hi": 0.2, "now": 0.6, "now_lo": 0.5, "now_hi": 0.7, "worse_by": 0.5, "margin": 0.14,
...     "tolerance": 0.05, "status": "regressed"}])
>>> root = ET.fromstring(junit_xml(cmp, fail_on_missing=True))
>>> root.get("tests"), root.get("failures")
('1', '1')
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from audit.files import atomic_write_bytes

__all__ = ["junit_xml", "write_junit"]


def junit_xml(comparison: pd.DataFrame, *, fail_on_missing: bool, name: str = "imagen-audit bias gate") -> str:
    """JUnit XML text for a comparison table (numbers new in the run are not test cases)."""
    from audit.gate.check import describe

    rows = comparison[comparison["status"] != "new"]
    failing = rows["status"].eq("regressed") | (rows["status"].eq("missing") & fail_on_missing)
    suites = ET.Element("testsuites", name=name, tests=str(len(rows)), failures=str(int(failing.sum())))
    suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(rows)), failures=str(int(failing.sum())),
                          errors="0", skipped="0")
    for row, fails in zip(rows.itertuples(index=False), failing):
        case = ET.SubElement(suite, "testcase", name=f"{row.metric}[{row.group}]",
                             classname=f"{row.setting}.{row.slot}.{row.labeler}.{row.attribute}")
        if fails:
            failure = ET.SubElement(case, "failure", message=describe(row), type=f"bias_{row.status}")
            failure.text = describe(row)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = describe(row) if row.status != "ok" else (
                f"ok: baseline {row.baseline:.3f}, now {row.now:.3f}, tolerance {row.tolerance:.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: str | Path, comparison: pd.DataFrame, *, fail_on_missing: bool) -> Path:
    """Write :func:`junit_xml` atomically to ``path``."""
    path = Path(path)
    atomic_write_bytes(path, junit_xml(comparison, fail_on_missing=fail_on_missing).encode("utf-8"))
    return path
