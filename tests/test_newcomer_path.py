"""The files one prompt runs through, from ``probes/suites/professions.yaml`` to ``report.html``.

``benchmarks/newcomer_path.py`` traces a real ``probe run`` (built-in generator, shipped
weights, the suite's default labeler) and ``report`` of one professions prompt; here its
counting rules are checked on a small package, and the path's length is held where the
restructuring of issue 21 brought it (goal: 12 files; see the note in docs/code-tour.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Measured after the restructuring, the module splits that followed it and the merges of the
#: pass-through layers (plain rule / data rule; docs/code-tour.md); the path must not grow back.
MAX_PLAIN = 41
MAX_DATA = 31


def _tool():
    spec = importlib.util.spec_from_file_location("newcomer_path", ROOT / "benchmarks" / "newcomer_path.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _package(root: Path) -> None:
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "constants.py").write_text("NAMES = [n.upper() for n in ('a', 'b')]\nTABLE = {k: len(k) for k in NAMES}\n")
    (pkg / "work.py").write_text(
        "from pkg.constants import NAMES\n"
        "SQUARES = [i * i for i in range(3)]\n\n"
        "class Job:\n    kind = 'x'\n\n    def run(self, text):\n        return text.upper()\n\n"
        "def unused():\n    return 1\n")
    (pkg / "caller.py").write_text("from pkg.work import Job\n\ndef go(text):\n    return Job().run(text)\n\n"
                                   "def other(n):\n    return n + 1\n")


def test_plain_rule_counts_files_whose_functions_run_not_module_level_code(tmp_path):
    tool = _tool()
    _package(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        tracer = tool.FileTracer(root=tmp_path, packages=("pkg",))
        with tracer:
            import pkg.caller

            pkg.caller.go("a nurse")
        assert sorted(tracer.executed) == ["pkg/caller.py", "pkg/work.py"]  # constants.py: imported only
        assert tracer.executed["pkg/work.py"] == "Job.run"
        data = tool.DataTracer(targets={"a nurse"}, root=tmp_path, packages=("pkg",))
        with data:
            pkg.caller.other(2)
            pkg.caller.go("a nurse")
        assert sorted(data.executed) == ["pkg/caller.py", "pkg/work.py"]
        assert data.executed["pkg/caller.py"] == "go"  # other(2) carries no prompt data
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
            del sys.modules[name]


def test_data_tracer_follows_tables_and_learns_image_ids():
    import pandas as pd

    tool = _tool()
    t = tool.DataTracer(targets={"nurse"})
    manifest = pd.DataFrame({"image_id": ["abc"], "profession": ["nurse"]})
    assert t._carries(manifest, 3)
    assert t._carries(pd.DataFrame({"image_id": ["abc"], "value": ["feminine"]}), 3)  # learnt from the manifest
    assert not t._carries(pd.DataFrame({"image_id": ["zzz"]}), 3)
    assert not t._carries({"weights": "sha256"}, 3)


def test_one_professions_prompt_to_report_html(tmp_path):
    out = tmp_path / "trace.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "newcomer_path.py"), "--samples", "1",
                           "--out", str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert Path(result["report"]).is_file()
    files, data = result["files"], result["data_files"]
    assert set(data) <= set(files)
    assert all(f.split("/")[0] in ("audit", "generator", "probes") and f.endswith(".py") for f in files)
    for expected in ("probes/suite.py", "probes/expand.py", "audit/run/api.py", "audit/run/work.py",
                     "generator/cascade.py", "audit/labelers/world.py", "audit/results/build.py",
                     "audit/report/sections.py"):
        assert expected in data, expected
    # commands the prompt does not use are imported, never run (`probe run` and `report` share one module)
    assert [f for f in files if f.startswith("audit/commands/")] == ["audit/commands/probe.py"]
    assert len(files) <= MAX_PLAIN, files
    assert len(data) <= MAX_DATA, data
    assert f"plain rule: project files executed on the path professions.yaml -> report.html: {len(files)}" \
        in proc.stdout


@pytest.mark.parametrize("name", ["probes/suite.py", "audit/run/api.py", "audit/results/store.py",
                                  "audit/report/sections.py", "audit/report/blocks.py", "audit/run/work.py",
                                  "audit/report/findings.py", "audit/report/accuracy.py", "audit/cli.py",
                                  "audit/commands/probe.py", "generator/adapters/base.py", "generator/api.py"])
def test_merged_modules_stay_small(name):
    assert sum(1 for _ in (ROOT / name).open()) <= 400, name
