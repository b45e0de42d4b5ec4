"""Derived views of an :class:`~audit.metrics.AuditFrame`: headline numbers, bias amplification, differences.

Both read the frame's tables and its shared draws (raw and corrected); the frame's
``headline()`` and ``amplification()`` call these.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.metrics.amplification import METRICS, amplification_arrays
from audit.metrics.npmi import gap_array
from audit.metrics.representation import entropy_array, mad_array, proportions_array, reference_table

__all__ = ["headline_table", "amplification_table", "compare_table"]


def headline_table(af, *, groups: tuple[str, str] | None = None) -> pd.DataFrame:
    """Headline numbers with intervals: ``metric, value, lo, hi, method`` (+ ``value_corrected``).

    Rows: ``mad_from_uniform_mean`` and ``normalized_entropy_mean`` (means over
    concepts), and with ``groups`` the mean and max over concepts of
    ``|nPMI(groups[0]) - nPMI(groups[1])|``.

    Examples
    --------
    >>> df = pd.DataFrame({"prompt_id": range(8), "job": ["ceo", "nurse"] * 4, "g": ["m", "f"] * 4})
    >>> from audit.metrics import AuditFrame
    >>> AuditFrame(df, concept="job", attribute="g", n_resamples=20).headline().value.tolist()
    [0.5, 0.0]
    """
    attrs = af.table.attributes
    fns = {
        "mad_from_uniform_mean": lambda n: np.nanmean(mad_array(n), axis=-1),
        "normalized_entropy_mean": lambda n: np.nanmean(entropy_array(n), axis=-1),
    }
    if groups is not None:
        fns["abs_npmi_gap_mean"] = lambda n: np.nanmean(np.abs(gap_array(af._npmi(n), attrs, groups)), axis=-1)
        fns["abs_npmi_gap_max"] = lambda n: np.nanmax(np.abs(gap_array(af._npmi(n), attrs, groups)), axis=-1)
    import warnings

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, fn in fns.items():
            row = {"metric": name, "value": float(fn(af.table.n))}
            if af._boot is not None:
                lo, hi = af._ci(fn)
                row.update(lo=float(lo), hi=float(hi))
            if af.corrected is not None:
                row["value_corrected"] = float(fn(af.corrected.n))
                if af._boot_corrected is not None:
                    lo, hi = af._ci(fn, corrected=True)
                    row.update(lo_corrected=float(lo), hi_corrected=float(hi))
            rows.append(af._methods(row))
    return pd.DataFrame(rows)


def amplification_table(af) -> pd.DataFrame:
    """Bias amplification against the reference counts: ``metric, value, lo, hi, method`` (+ corrected).

    Needs ``reference`` with a count column ``n`` (the training data's table). Like
    :func:`~audit.metrics.bias_amplification`, it uses the concepts the reference has and
    only the attribute values the reference has (``|A|`` in Zhao's threshold counts those).
    """
    if af.reference is None or "n" not in af.reference.columns:
        raise UserError("AuditFrame.amplification needs reference counts with an 'n' column (fix: pass reference=...)")
    t = af.table
    ref = reference_table(af.reference, concept=af.concept, attribute=af.attribute, concepts=t.concepts,
                          attributes=t.attributes).n
    keep = ref.sum(axis=1) > 0  # concepts present in the reference
    cols = ref.sum(axis=0) > 0  # attribute values present in the reference
    ref = ref[np.ix_(keep, cols)]
    sub = lambda n: n[..., keep, :][..., cols]  # noqa: E731
    est = amplification_arrays(ref, sub(af.table.n))
    out = pd.DataFrame({"metric": list(METRICS), "value": [float(est[m]) for m in METRICS]})
    if af._boot is not None:
        boot = amplification_arrays(ref, sub(af._boot))
        ci = [af._interval(boot[m]) for m in METRICS]
        out["lo"], out["hi"] = [float(c[0]) for c in ci], [float(c[1]) for c in ci]
    if af.corrected is not None:
        fixed = amplification_arrays(ref, sub(af.corrected.n))
        out["value_corrected"] = [float(fixed[m]) for m in METRICS]
        if af._boot_corrected is not None:
            boot = amplification_arrays(ref, sub(af._boot_corrected))
            ci = [af._interval(boot[m]) for m in METRICS]
            out["lo_corrected"], out["hi_corrected"] = [float(c[0]) for c in ci], [float(c[1]) for c in ci]
    if af._boot is not None:
        out["method"] = af.method
        if af._boot_corrected is not None:
            out["method_corrected"] = af.method_corrected
    return out


def compare_table(af, *, method: str, op, name: str) -> pd.DataFrame:
    """:meth:`AuditFrame.difference` (``op=np.subtract``) and :meth:`AuditFrame.ratio` (``op=np.divide``)."""
    if method == "between_groups":

        def fn(n):
            p = proportions_array(n)
            hi_, lo_ = np.max(p, axis=-1), np.min(p, axis=-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                return hi_ - lo_ if op is np.subtract else lo_ / hi_

        cols = {"proportion": fn(af.table.n)}
        if af._boot is not None:
            cols["lo"], cols["hi"] = af._ci(fn)
        return af._per_concept(af._methods(cols, corrected=False))
    if method == "to_reference":
        if af._ref_p is None:
            raise UserError("AuditFrame: method='to_reference' needs reference=... (fix: pass a reference table)")
        p_ref = af._ref_p

        def fn(n):
            with np.errstate(divide="ignore", invalid="ignore"):
                return op(proportions_array(n), p_ref)

        cols = {name: fn(af.table.n)}
        if af._boot is not None and af.method.startswith("jeffreys"):
            with np.errstate(divide="ignore", invalid="ignore"):
                cols["lo"], cols["hi"] = (op(v, p_ref) for v in af._proportion_ci())
        elif af._boot is not None:
            cols["lo"], cols["hi"] = af._ci(fn)
        return af._cell(af._methods(cols, corrected=False))
    raise UserError(f"AuditFrame: unknown method {method!r} (fix: 'between_groups' or 'to_reference')")
