"""The CI-gate docs stay true: the workflow's commands parse with the real CLI, the policy example reads."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from audit.cli import build_parser
from audit.gate import read_policy

DOCS = Path(__file__).resolve().parents[1] / "docs"


def imagen_audit_commands(script: str) -> list[list[str]]:
    """``imagen-audit ...`` commands of a shell script, line continuations joined, up to a pipe."""
    joined = script.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("imagen-audit "):
            words = shlex.split(line.split("|")[0], comments=True)
            out.append([re.sub(r"\$\{?(\w+)\}?", r"X\1", w) for w in words[1:]])
    return out


def test_workflow_example_runs_a_probe_then_the_gate_with_valid_flags():
    flow = yaml.safe_load((DOCS / "github-actions-example.yml").read_text())
    steps = flow["jobs"]["bias-gate"]["steps"]
    commands = [c for s in steps for c in imagen_audit_commands(s.get("run", ""))]
    assert [c[:2] for c in commands] == [["probe", "run"], ["check", "X$RUN_DIR".replace("$", "")]]
    parser = build_parser()
    probe, check = (parser.parse_args(c) for c in commands)
    assert probe.generator.startswith("diffusers:") and probe.out
    assert check.baseline == "ci/baseline.json" and check.junit and check.policy
    uploaded = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))["with"]["path"]
    assert "report/report.html" in uploaded and "bias-gate.xml" in uploaded


def test_docs_commands_and_policy_example(tmp_path):
    text = (DOCS / "ci-gate.md").read_text()
    fences = re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
    policy = next(body for lang, body in fences if lang == "yaml")
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    pol = read_policy(path)
    assert pol.tolerance_for("abs_npmi_gap") == 0.1 and pol.attributes == ("presentation", "skin_group")
    blocks = "\n".join(body for lang, body in fences if not lang)
    commands = imagen_audit_commands(blocks)
    assert {c[0] for c in commands} >= {"baseline", "check", "probe"}
    for c in commands:
        if "[--policy" not in " ".join(c):  # the synopsis line has optional brackets
            build_parser().parse_args(c)
