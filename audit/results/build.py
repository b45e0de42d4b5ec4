"""Compute a run's results table once: every attribute any labeler emits, every metric the suite names.

For every sweep setting, every slot (and ``*``, all images), every labeler and
every attribute it emits, one :class:`audit.metrics.AuditFrame` (cluster
bootstrap over ``prompt_id``) is measured by the functions of
:data:`audit.results.metrics.METRICS`; across settings, the spread of every
overall share. The report, the gate, the demo and the CLI read the result.

Examples
--------
>>> m = pd.DataFrame({"image_id": list("abcd"), "prompt_id": list("abcd"), "setting": "default",
...                   "job": ["x", "x", "y", "y"]})
>>> lab = pd.DataFrame({"image_id": list("abcd"), "labeler": "t", "attribute": "g", "value": ["f", "m", "f", "f"]})
>>> t = results_table(m, lab, options=Options(n_resamples=20)).table
>>> t.query("slot == 'job' and metric == 'proportion' and concept == 'y' and value == 'f'").estimate.tolist()
[1.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.results import columns as C
from audit.results.metrics import ALWAYS, METRICS, PRODUCES, Cut

__all__ = ["Options", "Results", "results_table", "suite_design", "MANIFEST_COLUMNS"]

#: Manifest columns that are not prompt slots.
MANIFEST_COLUMNS = ("image_id", "path", "prompt", "prompt_id", "template_id", "seed", "sample", "setting")


@dataclass(frozen=True)
class Options:
    """How intervals are computed: cluster column(s), resamples, confidence, seed. Validated on creation.

    Examples
    --------
    >>> Options(confidence=1.5)
    Traceback (most recent call last):
    audit.errors.UserError: confidence 1.5: must be a number strictly between 0 and 1 (fix: e.g. --confidence 0.95)
    """

    cluster: tuple[str, ...] | None = ("prompt_id",)
    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        c = self.confidence
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or not 0 < c < 1:
            raise UserError(f"confidence {c!r}: must be a number strictly between 0 and 1 (fix: e.g. --confidence 0.95)")
        if isinstance(self.n_resamples, bool) or not isinstance(self.n_resamples, int) or self.n_resamples < 0:
            raise UserError(f"resamples {self.n_resamples!r}: must be an integer >= 0 (fix: e.g. --resamples 1000)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UserError(f"seed {self.seed!r}: must be an integer >= 0 (fix: e.g. --seed 0)")
        if isinstance(self.cluster, str):
            object.__setattr__(self, "cluster", (self.cluster,))
        elif self.cluster is not None:
            object.__setattr__(self, "cluster", tuple(str(c) for c in self.cluster) or None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cluster"] = None if self.cluster is None else list(self.cluster)
        return d


@dataclass
class Results:
    """A run's results: the tidy :attr:`table` (columns :data:`~audit.results.columns.COLUMNS`) and its context."""

    table: pd.DataFrame
    suite: str | None = None
    settings: list[str] = field(default_factory=list)
    n_images: dict[str, int] = field(default_factory=dict)
    options: Options = field(default_factory=Options)
    metrics: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    references: dict[str, list[dict]] = field(default_factory=dict)

    def rows(self, **where) -> pd.DataFrame:
        """Rows whose columns equal the given values, e.g. ``rows(metric="npmi_gap", corrected=False)``."""
        t = self.table
        for k, v in where.items():
            t = t[t[k] == v]
        return t


def suite_design(spec: Mapping | None) -> dict:
    """``{name, axes, metrics, references}`` of the suite recorded in a run's ``spec.json``.

    Examples
    --------
    >>> suite_design({"suite": {"name": "s", "definition": {"axes": {"tone": [1]}, "metrics": ["compliance"]}}})
    {'name': 's', 'axes': ['tone'], 'metrics': ['compliance'], 'references': []}
    """
    suite = spec.get("suite") if isinstance(spec, Mapping) else None
    suite = suite if isinstance(suite, Mapping) else {}
    definition = suite.get("definition") if isinstance(suite.get("definition"), Mapping) else {}
    axes = definition.get("axes") if isinstance(definition.get("axes"), Mapping) else {}
    metrics = definition.get("metrics") if isinstance(definition.get("metrics"), list) else []
    refs = suite.get("references") if isinstance(suite.get("references"), list) else []
    return {"name": suite.get("name") or (spec.get("name") if isinstance(spec, Mapping) else None),
            "axes": [str(a) for a in axes], "metrics": [str(m) for m in metrics],
            "references": [r for r in refs if isinstance(r, Mapping)]}


def _references(design: dict, extra: Mapping[str, pd.DataFrame], slot: str, attribute: str) -> pd.DataFrame | None:
    """``[concept, value, p|n, source]`` for one slot and attribute: given tables ahead of the suite's."""
    table = extra.get(attribute)
    if table is not None and slot in table.columns:
        keep = [c for c in (slot, attribute, "p", "n", "source") if c in table.columns]
        out = table[keep].rename(columns={slot: "concept", attribute: "value"})
        return out.assign(concept=out["concept"].astype(str), value=out["value"].astype(str))
    rows = [{"concept": str(k), "value": str(r.get("value")), "p": float(v) / 100.0,
             "source": " ".join(str(r.get("source", "")).split())}
            for r in design["references"] if r.get("slot") == slot and str(r.get("attribute")) == attribute
            and isinstance(r.get("percent"), Mapping) for k, v in r["percent"].items()]
    return pd.DataFrame(rows) if rows else None


def _declared(spec: Mapping | None) -> dict[tuple[str, str], list[str]]:
    """(labeler, attribute) -> the values the labeler declares it emits (``spec.json`` labelers' ``attributes``)."""
    out = {}
    records = spec.get("labelers") if isinstance(spec, Mapping) else None
    for rec in records if isinstance(records, list) else []:
        attrs = rec.get("attributes") if isinstance(rec, Mapping) else None
        if isinstance(attrs, Mapping):
            out.update({(str(rec.get("name")), str(a)): [str(v) for v in vals] for a, vals in attrs.items()
                        if isinstance(vals, list) and vals})
    return out


def _fractional(values) -> bool:
    """Whether label values are numbers with a fractional part (e.g. ITA degrees), not categories.

    Examples
    --------
    >>> _fractional(["12.5", "-3.25"]), _fractional(["1", "2"]), _fractional(["light", "2.5"])
    (True, False, False)
    """
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return False
    return any(not float(x).is_integer() for x in numbers if np.isfinite(x))


def _method(af, options: Options) -> str:
    reported = getattr(af, "method", None)  # the frame names its interval method (audit.metrics.frame.INTERVALS)
    if isinstance(reported, str):
        return reported if options.n_resamples > 0 else "none"
    if options.n_resamples == 0:
        return "none"
    over = ",".join(options.cluster) if options.cluster else "images"
    return f"percentile cluster bootstrap over {over} ({options.n_resamples} resamples)"


def _spread(table: pd.DataFrame, settings: list[str]) -> pd.DataFrame:
    """Max minus min over settings of every overall share (sampler sensitivity); setting ``*``."""
    shares = table[(table.slot == C.ANY) & (table.metric == C.PROPORTION) & ~table.corrected]
    if len(settings) < 2 or shares.empty:
        return table.iloc[:0]
    rows = []
    for (labeler, attribute, value), g in shares.groupby(["labeler", "attribute", "value"], sort=True):
        if g.setting.nunique() < 2:
            continue
        by = dict(zip(g.setting, g.estimate))
        rows.append({"setting": C.ANY, "slot": C.ANY, "concept": C.ALL, "labeler": labeler, "attribute": attribute,
                     "value": value, "metric": C.SAMPLER_SPREAD, "estimate": max(by.values()) - min(by.values()),
                     "lo": np.nan, "hi": np.nan, "n": int(g.n.sum()), "total": int(g.total.sum()),
                     "method": "range of point estimates (no interval)", "corrected": False,
                     "note": "; ".join(f"{s}: {by[s]:.4f}" for s in settings if s in by)})
    return pd.DataFrame(rows, columns=list(C.COLUMNS))


def results_table(manifest: pd.DataFrame, labels: pd.DataFrame, *, spec: Mapping | None = None,
                  references: Mapping[str, pd.DataFrame] | None = None,
                  confusions: Mapping[str, pd.DataFrame] | None = None, options: Options | None = None,
                  settings: Sequence[str] | None = None) -> Results:
    """Every metric of a run, computed once.

    Parameters
    ----------
    manifest : pandas.DataFrame
        One row per image: ``image_id``, ``setting``, the cluster column(s) and the slot columns.
    labels : pandas.DataFrame
        Tidy labels ``image_id, labeler, attribute, value``.
    spec : mapping, optional
        The run's ``spec.json`` (suite name, axes, ``metrics:`` and references).
    references : mapping attribute -> DataFrame, optional
        Reference tables ``[<slot>, <attribute>, p|n]`` used ahead of the suite's references;
        counts (``n``) also give bias amplification.
    confusions : mapping attribute -> DataFrame, optional
        Labeler confusion matrices; adds rows with ``corrected=True``.
    options : Options, optional
    settings : sequence of str, optional
        Setting labels in sweep order (default: as found).

    Returns
    -------
    Results
    """
    from audit.metrics import AuditFrame

    options = options or Options()
    design, extra, confusions = suite_design(spec), dict(references or {}), dict(confusions or {})
    unknown = [m for m in design["metrics"] if m not in METRICS]
    if unknown:
        raise UserError(f"spec.json: field suite.definition.metrics: unknown metric(s) {unknown} "
                        f"(fix: use names from {sorted(METRICS)})")
    wanted = list(dict.fromkeys([*ALWAYS, *design["metrics"]]))
    declared = _declared(spec)
    manifest = manifest if "setting" in manifest else manifest.assign(setting="default")
    manifest = manifest.assign(setting=manifest["setting"].astype(str))
    settings = list(settings or dict.fromkeys(manifest["setting"]))
    n_images = {str(k): int(v) for k, v in manifest.groupby("setting", sort=False).size().items()}
    clusters = list(options.cluster or [])
    missing = [c for c in clusters if c not in manifest.columns]
    if missing:
        raise UserError(f"manifest.parquet: cluster column(s) {missing} missing (fix: use manifest columns, "
                        "e.g. prompt_id)")
    slots = [c for c in manifest.columns if c not in MANIFEST_COLUMNS and manifest[c].notna().any()]
    rows: list[dict] = []
    skipped: list[dict] = []
    labels = labels.assign(value=labels["value"].astype(str))
    for (labeler, attribute), sub in labels.groupby(["labeler", "attribute"], sort=True):
        values = sorted(set(sub["value"]) - set(C.NON_ANSWERS))
        vocab = declared.get((str(labeler), str(attribute))) or C.KNOWN_VALUES.get(attribute)
        numeric = vocab is None and _fractional(values)
        if len(values) > C.MAX_CATEGORIES or numeric:
            skipped.append({"labeler": labeler, "attribute": attribute, "values": len(values),
                            "reason": "fractional numbers (a numeric reading, not categories)" if numeric else
                                      f"more than {C.MAX_CATEGORIES} distinct values (a numeric reading, "
                                      "not categories)"})
            continue
        vocab = None if vocab is None else [v for v in vocab if v not in C.NON_ANSWERS]
        joined = manifest[["image_id", "setting", *dict.fromkeys([*clusters, *slots])]].merge(
            sub[["image_id", "value"]], on="image_id", how="inner")
        for setting in settings:
            data = joined[joined["setting"] == setting]
            for slot in [C.ANY, *slots]:
                concept = pd.Series(C.ALL, index=data.index) if slot == C.ANY else data[slot]
                if slot in design["axes"]:
                    concept = concept.where(concept.notna(), C.NONE_VALUE)
                part = data.assign(concept=concept.astype(object).where(concept.isna(), concept.astype(str)))
                part = part[part["concept"].notna()]
                non = part["value"].isin(C.NON_ANSWERS)
                answered = part[~non]
                if answered.empty:
                    continue
                keys = {"setting": setting, "slot": slot, "labeler": str(labeler), "attribute": str(attribute)}
                ref = None if slot == C.ANY else _references(design, extra, slot, str(attribute))
                af = AuditFrame(answered, concept="concept", attribute="value", cluster=clusters or None,
                                reference=None if ref is None else ref.drop(columns="source", errors="ignore"),
                                confusion=confusions.get(attribute), attributes=vocab,
                                n_resamples=options.n_resamples, confidence=options.confidence, seed=options.seed)
                cut = Cut(keys=keys, af=af, method=_method(af, options), axis=slot in design["axes"], reference=ref,
                          non_answers=part.loc[non, "concept"].value_counts(), intervals=options.n_resamples > 0)
                for name in wanted:
                    rows += METRICS[name](cut)
    table = pd.DataFrame(rows, columns=list(C.COLUMNS))
    table = pd.concat([table, _spread(table, settings)], ignore_index=True) if len(table) else table
    undefined = table["estimate"].isna() & (table["note"] == "")
    table.loc[undefined, "note"] = "undefined for this cell (e.g. a concept with one possible value)"
    for name in design["metrics"]:  # a metric the suite names that no cut could give: a visible non-answer
        if not table["metric"].isin(PRODUCES[name]).any():
            table.loc[len(table)] = {**{c: C.ANY for c in C.COLUMNS}, "metric": name, "estimate": np.nan,
                                     "lo": np.nan, "hi": np.nan, "n": 0, "total": 0, "method": "none",
                                     "corrected": False, "note": _why_not(name)}
    table = table.astype({"n": "int64", "total": "int64", "corrected": bool, "estimate": float, "lo": float,
                          "hi": float})
    return Results(table=table.reset_index(drop=True), suite=design["name"], settings=settings, n_images=n_images,
                   options=options, metrics=wanted, skipped=skipped,
                   references={a: r.to_dict("records") for a, r in extra.items()})


def _why_not(name: str) -> str:
    return {
        "compliance": "not computable: no counterfactual axis whose values a labeler's attribute shows "
                      "(e.g. axis skin_tone with labeler attribute skin_group)",
        "default_drift": "not computable: no counterfactual axis with prompts without its words and a labeler "
                         "attribute that shows it",
        "unsafe_rate": "not computable: no labeler emits the attribute 'unsafe'",
        "reference_gap": "not computable: the suite's references match no labelled attribute",
        "amplification": "not computable: needs reference counts (a reference table with an n column)",
    }.get(name, "not computable for this run")
