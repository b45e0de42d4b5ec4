"""The CI bias-regression gate: freeze a run's metrics as a baseline, check later runs against it.

Public API: :func:`make_baseline`, :func:`write_baseline`, :func:`read_baseline`,
:func:`check_run` (returns a :class:`CheckResult`), :class:`Policy` /
:func:`read_policy`, :func:`gated_numbers` (read from a run's results table,
:mod:`audit.results`), :func:`compare_metrics`, :func:`junit_xml` /
:func:`write_junit`, and :data:`GATED` (name, direction, meaning of every
gated metric). See ``docs/ci-gate.md``.
"""

from audit.gate.baseline import SCHEMA, make_baseline, read_baseline, write_baseline
from audit.gate.check import EXIT_PASS, EXIT_REGRESSED, EXIT_UNUSABLE, CheckResult, check_run
from audit.gate.compare import compare_metrics
from audit.gate.junit import junit_xml, write_junit
from audit.gate.numbers import GATED, gated_numbers
from audit.gate.policy import Policy, read_policy

__all__ = ["SCHEMA", "GATED", "EXIT_PASS", "EXIT_REGRESSED", "EXIT_UNUSABLE", "CheckResult", "Policy",
           "check_run", "compare_metrics", "junit_xml", "make_baseline", "read_baseline", "read_policy",
           "gated_numbers", "write_baseline", "write_junit"]
