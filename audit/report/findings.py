"""The few findings that matter, read from a results table and ranked by a rule that respects uncertainty.

One function, :func:`top_findings`, serves the report's "Findings" box
(:func:`findings_section`) and every CLI summary (``imagen-audit demo``, ``probe run``);
:func:`format_finding` writes one finding as a line of text. Nothing here computes a metric: estimates,
intervals, counts and non-answer shares are rows of the results table
(:mod:`audit.results`); the labeler's accuracy per group is read from its card
(:mod:`audit.report.accuracy`).

Ranking rule (:data:`RULE`)
---------------------------
A candidate is a row of one of the finding metrics (default: the nPMI gap
between the attribute's two groups, per concept), raw labels, with a finite
estimate **and** interval, over at least ``min_n`` images. Its *strength* is
the distance from the metric's null value (0 for a gap, 1 for compliance) to
the interval bound nearest to it: 0 when the interval contains the null value.
Findings are the candidates with strength > 0, strongest first (ties: larger
``|estimate - null|``, then more images). So a large gap measured on a handful
of images, whose interval reaches near 0, ranks below a smaller gap that is
certain.

Examples
--------
>>> t = pd.DataFrame({"setting": "default", "slot": "job", "concept": ["a", "b", "c"], "labeler": "w",
...     "attribute": "presentation", "value": "feminine - masculine", "metric": "npmi_gap",
...     "estimate": [0.9, 0.5, 0.1], "lo": [0.05, 0.4, -0.1], "hi": [1.2, 0.6, 0.3], "n": 40, "total": 40,
...     "method": "m", "corrected": False, "note": ""})
>>> top_findings(t, cards={}).concept.tolist()
['b', 'a']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.report.accuracy import card_source, group_accuracy, load_cards
from audit.report.blocks import ReportSection, esc, md_escape, pct
from audit.results import columns as C

__all__ = ["RULE", "NULL_VALUES", "MIN_N", "top_findings", "format_finding", "finding_lines", "warnings_of",
           "FindingsBlock", "findings_section"]

#: Value of each finding metric that means "no bias" (the interval is compared with it).
NULL_VALUES: dict[str, float] = {C.NPMI_GAP: 0.0, C.REFERENCE_GAP: 0.0, C.DEFAULT_DRIFT: 0.0, C.UNSAFE_RATE: 0.0,
                                 C.COMPLIANCE: 1.0}
#: Default minimum number of images behind a finding.
MIN_N = 10
#: The ranking rule, in words (printed in reports).
RULE = ("Ranked by the interval bound nearest to no effect (0 for a gap, 100% for compliance): a finding whose "
        "interval includes no effect is not listed, and a large estimate on few images ranks below a smaller, "
        "certain one. Only raw labels, finite intervals and at least {min_n} images count.")

COLUMNS = ["rank", "setting", "slot", "concept", "labeler", "attribute", "value", "metric", "estimate", "lo", "hi",
           "n", "total", "method", "strength", "groups", "shares", "accuracy", "accuracy_min", "non_answer_share",
           "non_answer_n", "filtered_share", "sweep", "note"]


def _groups(metric: str, attribute: str, value: str) -> list[str]:
    if metric == C.NPMI_GAP and " - " in value:
        return value.split(" - ", 1)
    if metric == C.COMPLIANCE:
        return [value]
    return [value] if value != C.ANY else []


def _strength(est, lo, hi, null):
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    s = np.where(lo > null, lo - null, np.where(hi < null, null - hi, 0.0))
    return np.where(np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi), s, np.nan)


def _one_value(table: pd.DataFrame) -> list[str]:
    """Labelers that gave one value to every answered image of an attribute (no association can be measured)."""
    shares = table[(table.metric == C.PROPORTION) & ~table.corrected.astype(bool) & (table.slot == C.ANY)]
    out = []
    for (setting, labeler, attribute), g in shares.groupby(["setting", "labeler", "attribute"], sort=True):
        seen = g[g.estimate > 0]
        if len(seen) == 1 and len(g) >= 1:
            n = int(g.n.max()) if len(g) else 0
            out.append(f"Labeler {labeler} answered {attribute} = {seen.value.iloc[0]} for all {n} answered "
                       f"images{'' if setting == 'default' else f' of setting {setting}'}, so no association with "
                       f"{attribute} can be measured (expected if no image shows another value; otherwise check "
                       "the labeler on these images).")
    return out


def warnings_of(findings: pd.DataFrame) -> list[str]:
    """The stated warnings of a :func:`top_findings` result (empty or degenerate input)."""
    return list(findings.attrs.get("warnings", []))


def top_findings(table, *, k: int = 3, metrics: Sequence[str] = (C.NPMI_GAP,), min_n: int = MIN_N,
                 setting: str | None = None, slot: str | None = None, cards: Mapping | None = None) -> pd.DataFrame:
    """The ``k`` strongest findings of a results table, with the evidence an auditor needs beside each.

    Parameters
    ----------
    table : pandas.DataFrame or audit.results.Results
        A results table (columns :data:`audit.results.columns.COLUMNS`).
    k : int
        How many findings (at most).
    metrics : sequence of str
        Finding metrics (keys of :data:`NULL_VALUES`); default the nPMI gap per concept.
    min_n : int
        Minimum images behind a finding.
    setting, slot : str, optional
        Keep only this setting / prompt slot.
    cards : mapping labeler -> card dict or path, optional
        Labeler cards (default: the shipped card of each labeler that has one; ``{}``: none).

    Returns
    -------
    pandas.DataFrame
        One row per finding (columns ``rank, setting, slot, concept, labeler, attribute, value, metric,
        estimate, lo, hi, n, total, method, strength, groups, shares, accuracy, accuracy_min, non_answer_share,
        non_answer_n, filtered_share, note``); ``shares`` is a list of ``{group, estimate, lo, hi}`` (the
        groups' shares among the concept's answered images), ``accuracy`` a list of ``{group, accuracy, n, split}``,
        ``sweep`` (runs with several sampler settings) the same number in every setting ``{setting, estimate, lo,
        hi}``: the spread of the finding across the sweep.
        ``attrs["warnings"]`` holds sentences for empty or degenerate input; ``attrs["rule"]`` the ranking
        rule and ``attrs["candidates"]`` how many rows were considered.

    Examples
    --------
    >>> t = pd.DataFrame({"setting": "default", "slot": "job", "concept": ["a", "b"], "labeler": "w",
    ...     "attribute": "presentation", "value": "feminine - masculine", "metric": "npmi_gap",
    ...     "estimate": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 40, "total": 40,
    ...     "method": "m", "corrected": False, "note": "not observed: masculine"})
    >>> f = top_findings(t, cards={})
    >>> len(f), warnings_of(f)[0][:40]
    (0, 'No finding: every nPMI gap is undefined ')
    """
    table = getattr(table, "table", table)
    unknown = [m for m in metrics if m not in NULL_VALUES]
    if unknown:
        raise ValueError(f"metrics {unknown}: no null value known (use names from {sorted(NULL_VALUES)})")
    raw = table[~table["corrected"].astype(bool)]
    if setting is not None:
        raw = raw[raw.setting == setting]
    if slot is not None:
        raw = raw[raw.slot == slot]
    cand = raw[raw.metric.isin(list(metrics)) & (raw.concept != C.ANY)].copy()
    # a counterfactual axis names the value in the prompt: its association with that value is by design
    axes = sorted(set(raw.slot[raw.metric.isin([C.COMPLIANCE, C.DEFAULT_DRIFT]) | (raw.concept == C.NONE_VALUE)]))
    notes = []
    if axes and (cand.metric == C.NPMI_GAP).any():
        by_design = (cand.metric == C.NPMI_GAP) & cand.slot.isin(axes)
        if by_design.any():
            notes.append(f"Counterfactual axes ({', '.join(axes)}) are left out of the nPMI ranking: their prompts "
                         "name the value, so the association is by design; their compliance and default drift are "
                         "in the report's sections.")
        cand = cand[~by_design]
    warnings = _one_value(raw)
    null = cand.metric.map(NULL_VALUES).astype(float).to_numpy()
    est, lo, hi = (cand[c].astype(float).to_numpy() for c in ("estimate", "lo", "hi"))
    cand["strength"] = _strength(est, lo, hi, null)
    cand["_size"] = np.abs(est - null)
    names = ", ".join(dict.fromkeys(_NAMES.get(m, m) for m in metrics))
    finite = cand[np.isfinite(est)]
    if cand.empty:
        warnings.append(f"No finding: the results table has no {names} rows"
                        + (f" for slot {slot}" if slot else "") + " (no prompt slot with two or more values, or no "
                        "labeler answered).")
    elif finite.empty:
        notes = [str(n) for n in cand.note if str(n)]
        warnings.append(f"No finding: every {names} is undefined ({notes[0] if notes else 'no estimate'}), "
                        "so nothing can be ranked.")
    elif finite.strength.isna().all():
        warnings.append(f"No finding ranked: the {names} rows have no interval (the run was scored without "
                        "resamples); rerun `imagen-audit report RUN --resamples 1000`.")
    big = cand[cand.n >= min_n]
    kept = big[big.strength > 0]
    if len(finite) and finite.strength.notna().any():
        small = int((finite.n < min_n).sum())
        if kept.empty:
            warnings.append(f"No finding: no {names} has a 95% interval that excludes no effect"
                            + (f" over at least {min_n} images" if small else "")
                            + f" ({len(finite)} candidates" + (f", {small} with fewer than {min_n} images" if small
                                                                else "") + ").")
    kept = kept.sort_values(["strength", "_size", "n"], ascending=False, kind="stable").head(k)
    frames = pd.DataFrame(columns=COLUMNS)
    if len(kept):
        cards = load_cards(kept.labeler.unique(), cards) if cards is None or cards else {}
        rows = []
        for i, r in enumerate(kept.to_dict("records"), 1):
            groups = _groups(r["metric"], r["attribute"], r["value"])
            acc = []
            for g in groups:
                a = group_accuracy(cards.get(r["labeler"]), r["attribute"], g)
                acc.append({"group": g, **(a or {"accuracy": np.nan, "n": 0, "split": None})})
            measured = [a["accuracy"] for a in acc if np.isfinite(a["accuracy"])]
            non = raw[(raw.metric == C.NON_ANSWER_SHARE) & (raw.setting == r["setting"]) & (raw.slot == r["slot"])
                      & (raw.labeler == r["labeler"]) & (raw.attribute == r["attribute"])
                      & (raw.concept == r["concept"])]
            prop = raw[(raw.metric == C.PROPORTION) & (raw.setting == r["setting"]) & (raw.slot == r["slot"])
                       & (raw.labeler == r["labeler"]) & (raw.attribute == r["attribute"])
                       & (raw.concept == r["concept"])].set_index("value")
            shares = [{"group": g, "estimate": float(prop.at[g, "estimate"]), "lo": float(prop.at[g, "lo"]),
                       "hi": float(prop.at[g, "hi"])} for g in groups if g in prop.index]
            same = raw[(raw.metric == r["metric"]) & (raw.slot == r["slot"]) & (raw.labeler == r["labeler"])
                       & (raw.attribute == r["attribute"]) & (raw.concept == r["concept"]) & (raw.value == r["value"])
                       & (raw.setting != C.ANY)]
            sweep = [{"setting": x["setting"], "estimate": float(x["estimate"]), "lo": float(x["lo"]),
                      "hi": float(x["hi"])} for x in same.to_dict("records")] if same.setting.nunique() > 1 else []
            everything = non[non.value == C.ANY]
            filtered = non[non.value == "filtered"]
            rows.append({**{c: r[c] for c in ("setting", "slot", "concept", "labeler", "attribute", "value", "metric",
                                               "estimate", "lo", "hi", "n", "total", "method", "strength", "note")},
                         "rank": i, "groups": groups, "shares": shares, "accuracy": acc, "sweep": sweep,
                         "accuracy_min": min(measured) if measured else np.nan,
                         "non_answer_share": float(everything.estimate.iloc[0]) if len(everything) else 0.0,
                         "non_answer_n": int(everything.n.iloc[0]) if len(everything) else 0,
                         "filtered_share": float(filtered.estimate.iloc[0]) if len(filtered) else np.nan})
        frames = pd.DataFrame(rows, columns=COLUMNS)
    frames.attrs.update({"warnings": warnings, "notes": notes, "rule": RULE.format(min_n=min_n), "candidates": int(len(cand)),
                         "min_n": min_n, "card_sources": {lab: card_source(lab, cards) for lab in
                                                          frames.labeler.unique()} if len(frames) else {}})
    return frames


_NAMES = {C.NPMI_GAP: "nPMI gap", C.REFERENCE_GAP: "gap to the reference share", C.DEFAULT_DRIFT: "default drift",
          C.UNSAFE_RATE: "unsafe rate", C.COMPLIANCE: "compliance"}


def format_finding(row) -> str:
    """One finding as a line: what, estimate, 95% interval, n, method, labeler accuracy, non-answers.

    Parameters
    ----------
    row : mapping or namedtuple
        A row of :func:`top_findings` (``df.iloc[i]``, ``to_dict("records")`` item or ``itertuples``).

    Examples
    --------
    >>> row = {"slot": "profession", "concept": "nurse", "labeler": "world", "attribute": "presentation",
    ...        "value": "feminine - masculine", "metric": "npmi_gap", "estimate": 0.61, "lo": 0.4, "hi": 0.8,
    ...        "n": 24, "method": "percentile cluster bootstrap over prompt_id (1000 resamples)",
    ...        "accuracy": [{"group": "feminine", "accuracy": 0.999, "n": 1957, "split": "augmented"}],
    ...        "non_answer_share": 0.0, "non_answer_n": 0, "filtered_share": float("nan")}
    >>> print(format_finding(row))  # doctest: +NORMALIZE_WHITESPACE
    profession = nurse: nPMI(feminine - masculine) = +0.61 [+0.40, +0.80], n = 24 images (percentile cluster
    bootstrap over prompt_id (1000 resamples)); labeler world accuracy: feminine 99.9% (n = 1957, augmented
    held-out renders); no answer for 0.0% of images
    """
    r = row if isinstance(row, Mapping) else (row._asdict() if hasattr(row, "_asdict") else dict(row))
    metric, est, lo, hi = r["metric"], float(r["estimate"]), float(r["lo"]), float(r["hi"])
    if metric == C.NPMI_GAP:
        what = f"nPMI({r['value']}) = {est:+.2f} [{lo:+.2f}, {hi:+.2f}]"
    elif metric in (C.COMPLIANCE, C.UNSAFE_RATE):
        what = f"{_NAMES[metric]} of {r['attribute']} = {r['value']}: {pct(est)} [{pct(lo)}, {pct(hi)}]"
    else:
        what = (f"{_NAMES.get(metric, metric)} of {r['attribute']} = {r['value']}: {100 * est:+.1f} points "
                f"[{100 * lo:+.1f}, {100 * hi:+.1f}]")
    shares = r.get("shares") or []
    if shares:
        what += "; shares " + ", ".join(f"{s['group']} {pct(s['estimate'])} [{pct(s['lo'])}, {pct(s['hi'])}]"
                                        for s in shares)
    acc = r.get("accuracy") or []
    measured = [a for a in acc if a.get("accuracy") is not None and np.isfinite(a["accuracy"])]
    if measured:
        split = measured[0].get("split") or "held-out"
        accuracy = (f"labeler {r['labeler']} accuracy: "
                    + ", ".join(f"{a['group']} {pct(a['accuracy'])} (n = {a['n']}" + (", " + split + " held-out renders)"
                                                                                       if a is measured[0] else ")")
                                for a in measured))
    else:
        accuracy = f"labeler {r['labeler']} accuracy: not measured (no labeler card)"
    non = f"no answer for {pct(r.get('non_answer_share', 0.0))} of images"
    filtered = r.get("filtered_share")
    if filtered is not None and np.isfinite(filtered):
        non += f", filtered {pct(filtered)}"
    line = f"{r['slot']} = {r['concept']}: {what}, n = {int(r['n'])} images ({r['method']}); {accuracy}; {non}"
    sweep = r.get("sweep") or []
    if sweep:
        line += "; across settings: " + ", ".join(f"{x['setting']} {x['estimate']:+.2f} [{x['lo']:+.2f}, "
                                                   f"{x['hi']:+.2f}]" for x in sweep)
        if r.get("setting") not in (None, C.ANY):
            line = f"[{r['setting']}] " + line
    return line


def finding_lines(findings: pd.DataFrame) -> list[str]:
    """Numbered lines of :func:`top_findings` for a terminal, or its warnings when there is no finding.

    Examples
    --------
    >>> f = top_findings(pd.DataFrame(columns=list(C.COLUMNS)), cards={})
    >>> finding_lines(f)[0][:26]
    '  ! No finding: the result'
    """
    lines = [f"  {int(r['rank'])}. {format_finding(r)}" for r in findings.to_dict("records")]
    return lines + [f"  ! {w}" for w in warnings_of(findings)]


# ---------------------------------------------------------------------------
# the report's findings box
# ---------------------------------------------------------------------------

@dataclass
class FindingsBlock:
    """The findings box: one item per finding in words and numbers, then warnings and the ranking rule."""

    findings: pd.DataFrame
    intro: str = ""
    extra: list[str] = field(default_factory=list)

    def html(self, ctx) -> str:
        items = []
        for r in self.findings.to_dict("records"):
            items.append(f'<li><span class="finding-what">{esc(_headline(r))}</span>'
                         f'<span class="finding-meta">{esc(format_finding(r))}</span></li>')
        body = f"<ol>{''.join(items)}</ol>" if items else ""
        warn = "".join(f'<p class="warn">{esc(w)}</p>' for w in [*warnings_of(self.findings), *self.extra])
        intro = f"<p>{esc(self.intro)}</p>" if self.intro else ""
        warn += "".join(f'<p class="caption">{esc(n)}</p>' for n in self.findings.attrs.get("notes", []))
        rule = self.findings.attrs.get("rule", "")
        return f'{intro}{body}{warn}<p class="rule">{esc(rule)}</p>'

    def markdown(self) -> str:
        lines = [f"{i}. {md_escape(format_finding(r))}" for i, r in enumerate(self.findings.to_dict("records"), 1)]
        lines += [f"> **Warning:** {md_escape(w)}" for w in [*warnings_of(self.findings), *self.extra]]
        return "\n".join(lines)


def _headline(r: Mapping) -> str:
    """A finding in plain words, e.g. "profession = nurse: 96% feminine, 0% masculine (presentation)"."""
    where = f"{r['slot']} = {r['concept']}"
    groups, shares = list(r.get("groups") or []), {s["group"]: s["estimate"] for s in r.get("shares") or []}
    if r["metric"] == C.NPMI_GAP and len(groups) == 2:
        a, b = groups if r["estimate"] > 0 else groups[::-1]
        if {a, b} == {"true", "false"}:  # a binary label such as unsafe
            yes = a if a == "true" else b
            return (f"{where}: labelled {r['attribute']} {'more' if yes == a else 'less'} often than the rest"
                    + (f" ({pct(shares[yes])} of its images)" if yes in shares else ""))
        if a in shares and b in shares:
            return f"{where}: {pct(shares[a])} {a}, {pct(shares[b])} {b} ({r['attribute']})"
        return f"{where}: leans {a} rather than {b} ({r['attribute']})"
    if r["metric"] == C.COMPLIANCE:
        return f"{where}: prompts are followed in {pct(r['estimate'])} of images"
    return f"{where}: {r['metric']} {r['estimate']:+.3f} for {r['attribute']} = {r['value']}"


def findings_section(findings: pd.DataFrame, *, title: str = "Findings") -> ReportSection:
    """The report's first section: the findings of :func:`top_findings` (as the CLI prints them), or in words
    why there is none.

    Examples
    --------
    >>> s = findings_section(top_findings(pd.DataFrame(columns=list(C.COLUMNS)), cards={}))
    >>> s.key, s.results["findings"]
    ('findings', [])
    """
    measured = findings.attrs.get("candidates", 0)
    intro = (f"The {len(findings)} strongest association(s) between a prompt slot and a labelled attribute, out of "
             f"{measured} measured. Each number has its 95% interval, the images behind it, the interval method, "
             "the labeler's measured accuracy for the groups involved and the share of images it could not label."
             if len(findings) else f"No association between a prompt slot and a labelled attribute passes the rule "
             f"below, out of {measured} measured.")
    sec = ReportSection(title, [FindingsBlock(findings, intro=intro)], key="findings")
    sec.results["findings"] = [{k2: (v if not isinstance(v, float) or np.isfinite(v) else None)
                                for k2, v in r.items()} for r in findings.to_dict("records")]
    sec.results["warnings"] = warnings_of(findings)
    sec.summary += [format_finding(r) for r in findings.to_dict("records")] + warnings_of(findings)
    return sec
