"""Gate policy: tolerances per metric and what to gate, from a YAML file and/or CLI flags.

A policy file looks like::

    default_tolerance: 0.05        # absolute, in the metric's own units
    tolerance:                     # per metric name (see audit.results.columns.GATED)
      abs_npmi_gap: 0.10
      normalized_entropy: 0.03
    ignore_metrics: [mad_from_uniform]
    attributes: [presentation, skin_group]   # gate only these (default: all)
    fail_on_missing: true          # a baseline number absent from the run fails the gate
    rule: combined                 # noise allowance: combined (both runs' intervals) or baseline

Examples
--------
>>> p = Policy().with_tolerances(["abs_npmi_gap=0.2"])
>>> p.tolerance_for("abs_npmi_gap"), p.tolerance_for("normalized_entropy")
(0.2, 0.05)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from audit.errors import SpecError, UserError
from audit.gate.numbers import GATED

__all__ = ["Policy", "read_policy", "DEFAULT_TOLERANCE", "RULES"]

#: Tolerance of every metric unless the policy says otherwise.
DEFAULT_TOLERANCE = 0.05
_KEYS = ("default_tolerance", "tolerance", "ignore_metrics", "attributes", "fail_on_missing", "rule")
#: Noise allowances (see :mod:`audit.gate.compare`).
RULES = ("combined", "baseline")


@dataclass(frozen=True)
class Policy:
    """What the gate checks and how much worse a metric may get.

    A number regresses when it is worse (in its metric's direction) than the
    baseline by more than its tolerance **and** by more than the sampling noise
    allows (``rule``: ``"combined"``, both runs' intervals; ``"baseline"``, outside the
    baseline's interval; see :mod:`audit.gate.compare`).
    """

    default_tolerance: float = DEFAULT_TOLERANCE
    tolerance: dict[str, float] = field(default_factory=dict)
    ignore_metrics: tuple[str, ...] = ()
    attributes: tuple[str, ...] | None = None
    fail_on_missing: bool = True
    rule: str = "combined"
    file: str = field(default="", compare=False)  # the policy file, named in errors

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise UserError(f"policy rule {self.rule!r}: unknown (fix: use one of {list(RULES)})")

    def tolerance_for(self, metric: str) -> float:
        """The tolerance of one metric."""
        return float(self.tolerance.get(metric, self.default_tolerance))

    def gates(self, metric: str, attribute: str) -> bool:
        """Whether a number of this metric and attribute is checked."""
        return metric not in self.ignore_metrics and (self.attributes is None or attribute in self.attributes)

    def with_tolerances(self, items: Sequence[str]) -> Policy:
        """A copy with ``METRIC=VALUE`` overrides (CLI ``--tolerance``; ``default=VALUE`` sets the default)."""
        tol, default = dict(self.tolerance), self.default_tolerance
        for item in items:
            name, sep, value = item.partition("=")
            if not sep:
                raise UserError(f"--tolerance {item!r}: expected METRIC=VALUE (fix: e.g. --tolerance abs_npmi_gap=0.1)")
            number = _number(value, where=f"--tolerance {item!r}")
            if name == "default":
                default = number
            elif name in GATED:
                tol[name] = number
            else:
                raise UserError(f"--tolerance {item!r}: unknown metric {name!r} (fix: use 'default' or one of "
                                f"{sorted(GATED)})")
        return replace(self, tolerance=tol, default_tolerance=default)


def _number(value, *, where: str, file: str | None = None, field_name: str = "") -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        if file:
            raise SpecError(file, field_name, f"{value!r} is not a number >= 0", "give a tolerance such as 0.05")
        raise UserError(f"{where}: {value!r} is not a number >= 0 (fix: give a tolerance such as 0.05)")
    return number


def read_policy(path: str | Path) -> Policy:
    """Read a policy YAML file (see the module docstring), validating every field.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "policy.yaml"
    >>> _ = p.write_text("tolerance: {abs_npmi_gap: 0.1}\\n")
    >>> read_policy(p).tolerance_for("abs_npmi_gap")
    0.1
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: policy file not found (fix: check --policy)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise SpecError(path, "(file)", f"not valid YAML: {' '.join(str(exc).split())}", "fix the YAML syntax",
                        line=None if line is None else line + 1) from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise SpecError(path, "(file)", "must be a mapping", f"use keys among {list(_KEYS)}")
    unknown = [k for k in raw if k not in _KEYS]
    if unknown:
        raise SpecError(path, str(unknown[0]), "unknown key", f"use keys among {list(_KEYS)}")
    tol = raw.get("tolerance") or {}
    if not isinstance(tol, dict):
        raise SpecError(path, "tolerance", "must be a mapping METRIC: VALUE", "e.g. tolerance: {abs_npmi_gap: 0.1}")
    for name in tol:
        if name not in GATED:
            raise SpecError(path, f"tolerance.{name}", "unknown metric", f"use one of {sorted(GATED)}")
    ignore = raw.get("ignore_metrics") or []
    for i, name in enumerate(ignore if isinstance(ignore, list) else [ignore]):
        if name not in GATED:
            raise SpecError(path, f"ignore_metrics[{i}]", f"unknown metric {name!r}", f"use one of {sorted(GATED)}")
    attrs = raw.get("attributes")
    if attrs is not None and not (isinstance(attrs, list) and all(isinstance(a, str) for a in attrs)):
        raise SpecError(path, "attributes", "must be a list of attribute names", "e.g. attributes: [presentation]")
    missing = raw.get("fail_on_missing", True)
    if not isinstance(missing, bool):
        raise SpecError(path, "fail_on_missing", "must be true or false", "write true or false")
    rule = raw.get("rule", "combined")
    if rule not in RULES:
        raise SpecError(path, "rule", f"unknown rule {rule!r}", f"use one of {list(RULES)}")
    return Policy(
        rule=rule,
        default_tolerance=_number(raw.get("default_tolerance", DEFAULT_TOLERANCE), where="", file=str(path),
                                  field_name="default_tolerance"),
        tolerance={k: _number(v, where="", file=str(path), field_name=f"tolerance.{k}") for k, v in tol.items()},
        ignore_metrics=tuple(ignore if isinstance(ignore, list) else [ignore]),
        attributes=None if attrs is None else tuple(attrs),
        fail_on_missing=missing,
        file=str(path),
    )
