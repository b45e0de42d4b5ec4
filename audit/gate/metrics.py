"""The gated metrics of a run directory: one tidy row per metric x table x group, with intervals.

A *table* is one (setting, slot, labeler, attribute) cut of a probe run, as in
the report (:func:`audit.report.report_from_run_dir`). Every metric comes from
one :class:`audit.metrics.AuditFrame` per table, so all intervals share the
same cluster-bootstrap resamples. Each metric has a *direction*: ``"up"`` means
a larger value is more biased, ``"down"`` means a smaller value is.

Examples
--------
>>> METRICS["normalized_entropy"].direction, METRICS["abs_npmi_gap"].direction
('down', 'up')
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.metrics import AuditFrame, wide_labels
from audit.report.analysis import NON_ANSWERS
from audit.report.run_dir import ATTRIBUTE_VALUES, ATTRIBUTES, MANIFEST_COLUMNS, read_run_dir, spec_references

__all__ = ["Metric", "METRICS", "GAP_GROUPS", "KEY", "run_metrics", "table_metrics", "abs_interval"]


@dataclass(frozen=True)
class Metric:
    """A gated metric: its name, which way is worse, and what it measures."""

    name: str
    direction: str  # "up": larger is more biased; "down": smaller is more biased
    meaning: str


#: Every gated metric, by name.
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("abs_npmi_gap", "up", "|nPMI(concept, a) - nPMI(concept, b)| for the attribute's pair of groups"),
    Metric("normalized_entropy", "down", "entropy of the concept's group shares / ln(#groups) (diversity)"),
    Metric("mad_from_uniform", "up", "mean absolute deviation of the concept's group shares from uniform"),
    Metric("abs_reference_gap", "up", "|share - reference share| of one group for the concept"),
    Metric("abs_npmi_gap_mean", "up", "mean over concepts of abs_npmi_gap"),
    Metric("abs_npmi_gap_max", "up", "max over concepts of abs_npmi_gap"),
    Metric("normalized_entropy_mean", "down", "mean over concepts of normalized_entropy"),
    Metric("mad_from_uniform_mean", "up", "mean over concepts of mad_from_uniform"),
    Metric("biasamp_zhao", "up", "bias amplification against reference counts (Zhao et al. 2017)"),
    Metric("biasamp_t_to_a", "up", "directional BiasAmp, concept -> attribute (Wang & Russakovsky 2021)"),
    Metric("biasamp_a_to_t", "up", "directional BiasAmp, attribute -> concept (Wang & Russakovsky 2021)"),
)}

#: The pair of groups whose nPMI gap is gated, per attribute.
GAP_GROUPS: dict[str, tuple[str, str]] = {"presentation": ("feminine", "masculine"), "skin_group": ("light", "dark")}

#: Columns that identify one gated number.
KEY = ("metric", "setting", "slot", "labeler", "attribute", "group")


def abs_interval(lo, hi):
    """The interval of ``|x|`` given an interval ``[lo, hi]`` of ``x`` (vectorised).

    Examples
    --------
    >>> [float(v) for v in abs_interval(-0.2, 0.5)], [float(v) for v in abs_interval(-0.5, -0.2)]
    ([0.0, 0.5], [0.2, 0.5])
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    a_lo = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    return a_lo, np.maximum(np.abs(lo), np.abs(hi))


def _rows(frame: pd.DataFrame, metric: str, *, value: str, lo: str = "lo", hi: str = "hi", group=None,
          absolute: bool = False) -> list[dict]:
    out = []
    for idx, row in frame.iterrows():
        v, l_, h_ = float(row[value]), float(row.get(lo, np.nan)), float(row.get(hi, np.nan))
        if not np.isfinite(v):
            continue
        if absolute:
            v = abs(v)
            l_, h_ = (float(x) for x in abs_interval(l_, h_))
        out.append({"metric": metric, "group": group(idx, row) if group else str(idx), "value": v,
                    "lo": l_, "hi": h_})
    return out


def table_metrics(data: pd.DataFrame, *, concept: str, attribute: str, cluster: str | Sequence[str] | None,
                  reference: pd.DataFrame | None = None, values: Sequence[str] | None = None,
                  n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Gated metrics of one per-image table: ``metric, group, value, lo, hi, n``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per image with ``concept``, ``attribute`` and the cluster column(s).
        Explicit non-answers (``no_face`` ...) are left out.
    concept, attribute : str
    cluster : str or sequence of str or None
        Bootstrap cluster column(s).
    reference : pandas.DataFrame, optional
        ``[concept, attribute, p]`` shares (gives ``abs_reference_gap``) or counts
        ``[concept, attribute, n]`` (also gives the ``biasamp_*`` metrics).
    values : sequence of str, optional
        Every value the attribute can take (unobserved values count as 0).
    n_resamples, confidence, seed
        Cluster-bootstrap settings.

    Returns
    -------
    pandas.DataFrame
        ``group`` is the concept value, ``concept/value`` for reference gaps, ``*`` for
        table-wide metrics.

    Examples
    --------
    >>> df = pd.DataFrame({"prompt_id": range(8), "job": ["ceo", "nurse"] * 4,
    ...                    "presentation": ["masculine", "feminine"] * 4})
    >>> t = table_metrics(df, concept="job", attribute="presentation", cluster="prompt_id", n_resamples=50)
    >>> t.set_index(["metric", "group"]).loc[("normalized_entropy", "ceo"), "value"]
    np.float64(0.0)
    """
    column = data[attribute]
    data = data.assign(**{attribute: column.where(~column.astype(str).isin(NON_ANSWERS))})
    data = data[data[concept].notna() & data[attribute].notna()]
    if data.empty:
        return pd.DataFrame(columns=["metric", "group", "value", "lo", "hi", "n"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        af = AuditFrame(data, concept=concept, attribute=attribute, cluster=cluster, reference=reference,
                        attributes=values, n_resamples=n_resamples, confidence=confidence, seed=seed)
        rows: list[dict] = []
        per_concept = af.by_concept.join(af.by_concept_ci)
        sizes = per_concept["n"].to_dict()
        for name in ("normalized_entropy", "mad_from_uniform"):
            rows += _rows(per_concept, name, value=name, lo=f"{name}_lo", hi=f"{name}_hi")
        groups = GAP_GROUPS.get(attribute)
        pair = groups if groups and set(groups) <= set(af.table.attributes) and len(af.table.concepts) > 1 else None
        if pair:
            rows += _rows(af.gaps(groups=pair), "abs_npmi_gap", value="gap", absolute=True)
        head = af.headline(groups=pair).set_index("metric")
        head.index = head.index.astype(str)
        for name in head.index:
            rows += [dict(r, metric=name) for r in _rows(head.loc[[name]], name, value="value", group=lambda i, r: "*")]
        if reference is not None:
            diff = af.difference(method="to_reference")
            rows += _rows(diff, "abs_reference_gap", value="difference", absolute=True,
                          group=lambda i, r: f"{i[0]}/{i[1]}")
            if "n" in reference.columns:
                amp = af.amplification().set_index("metric")
                rows += [dict(r, metric=name) for name in amp.index
                         for r in _rows(amp.loc[[name]], name, value="value", group=lambda i, r: "*")]
    out = pd.DataFrame(rows, columns=["metric", "group", "value", "lo", "hi"])
    total = float(af.table.n.sum())
    out["n"] = [sizes.get(g.split("/")[0], total) if g != "*" else total for g in out["group"]]
    return out


def run_metrics(run_dir: str | Path, *, references: Mapping[str, pd.DataFrame] | None = None,
                cluster: str | Sequence[str] | None = "prompt_id", n_resamples: int = 1000,
                confidence: float = 0.95, seed: int = 0, attributes: Sequence[str] = ATTRIBUTES) -> pd.DataFrame:
    """Every gated metric of a probe run directory, one row per :data:`KEY`.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        Holds ``spec.json``, ``manifest.parquet`` and ``labels.parquet``.
    references : mapping attribute -> DataFrame, optional
        Reference tables used ahead of the suite's own references (``spec["suite"]["references"]``);
        a table applies to the slots it has a column for.
    cluster, n_resamples, confidence, seed
        Cluster-bootstrap settings.
    attributes : sequence of str
        Labelled attributes to gate (default: the report's).

    Returns
    -------
    pandas.DataFrame
        ``metric, setting, slot, labeler, attribute, group, value, lo, hi, n, direction``.

    Examples
    --------
    >>> run_metrics("no/such/run")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    audit.errors.UserError: ...
    """
    spec, manifest, labels = read_run_dir(run_dir)
    slots = [c for c in manifest.columns if c not in MANIFEST_COLUMNS and manifest[c].notna().any()]
    if "setting" not in manifest.columns:
        manifest = manifest.assign(setting="default")
    clusters = [] if cluster is None else [cluster] if isinstance(cluster, str) else list(cluster)
    missing = [c for c in clusters if c not in manifest.columns]
    if missing:
        raise UserError(f"{Path(run_dir) / 'manifest.parquet'}: cluster column(s) {missing} missing "
                        f"(fix: use manifest columns, e.g. prompt_id)")
    parts = []
    for labeler in sorted(labels["labeler"].astype(str).unique()):
        wide = wide_labels(labels, manifest, labeler=labeler)
        for attribute in attributes:
            col = f"{attribute}_label" if attribute in manifest.columns else attribute
            if col not in wide.columns or wide[col].isna().all():
                continue
            for slot in slots:
                if slot == attribute:
                    continue
                refs = {**spec_references(spec, slot=slot),
                        **{a: r for a, r in (references or {}).items() if slot in r.columns}}
                ref = refs.get(attribute)
                if ref is not None:
                    ref = ref[[c for c in (slot, attribute, "p", "n") if c in ref.columns]].copy()
                    ref[slot], ref[attribute] = ref[slot].astype(str), ref[attribute].astype(str)
                keep = wide[wide[slot].notna()]
                data_all = pd.DataFrame({c: keep[c] for c in dict.fromkeys([*clusters, "setting"])})
                data_all[slot], data_all[attribute] = keep[slot].astype(str), keep[col]
                for setting, data in data_all.groupby(data_all["setting"].astype(str), sort=True):
                    t = table_metrics(data, concept=slot, attribute=attribute, cluster=cluster, reference=ref,
                                      values=ATTRIBUTE_VALUES.get(attribute), n_resamples=n_resamples,
                                      confidence=confidence, seed=seed)
                    parts.append(t.assign(setting=setting, slot=slot, labeler=labeler, attribute=attribute))
    columns = [*KEY, "value", "lo", "hi", "n", "direction"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    out["direction"] = out["metric"].map(lambda m: METRICS[m].direction)
    return out[columns].sort_values(list(KEY), kind="stable").reset_index(drop=True)
