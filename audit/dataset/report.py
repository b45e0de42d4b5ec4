"""The dataset audit's HTML report, built with the shared :func:`audit.report.build_report`: findings first
(:mod:`audit.report.dataset_findings`), example captions beside them, then the tables and charts.

The shared builder writes ``report.html`` plus its own ``report.json``,
``summary.md`` and ``tables/`` into a folder; the dataset audit gives it
``OUT/report/`` and moves ``report.html`` up to ``OUT/report.html``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_dataset_report", "report_sections", "read_findings", "findings_lines", "FINDINGS_K",
           "FINDINGS_MIN_ROWS"]

#: Findings the report's "Findings" box shows, and the identity-term size they need (captions).
FINDINGS_K = 5
FINDINGS_MIN_ROWS = 20


def read_findings(out_dir, *, k: int = FINDINGS_K, min_rows: int = FINDINGS_MIN_ROWS) -> pd.DataFrame:
    """The findings of a finished dataset audit, read from its tables as the report computes them.

    Reads ``cooccurrence.parquet`` and ``per_query_rates.parquet`` in ``out_dir`` and ranks them
    with :func:`audit.report.dataset_findings.dataset_findings` (``attrs``: warnings, rule).
    """
    from audit.report.dataset_findings import dataset_findings

    out = Path(out_dir)
    return dataset_findings(pd.read_parquet(out / "cooccurrence.parquet"),
                            pd.read_parquet(out / "per_query_rates.parquet"), k=k, min_n=min_rows)


def findings_lines(found: pd.DataFrame) -> list[str]:
    """The report's findings as plain lines: numbered findings, then warnings, then the ranking rule.

    Examples
    --------
    >>> f = pd.DataFrame([{"kind": "rate", "identity": "gender:woman", "other": "toxic", "ratio": 2.0, "lo": 1.5,
    ...     "hi": 2.6, "k": 40, "n": 200, "base": 0.1, "npmi": float("nan"), "method": "Wilson"}])
    >>> f.attrs.update({"warnings": [], "rule": "Ranked by ..."})
    >>> findings_lines(f)[0]
    "  1. captions with 'woman' carry a toxic term 2.0x as often as all captions [1.5x, 2.6x]: 40 of 200 captions (all captions: 10.0%); Wilson"
    """
    from audit.report.dataset_findings import format_dataset_finding

    return ([f"  {i}. {format_dataset_finding(r)}" for i, r in enumerate(found.to_dict("records"), 1)]
            + [f"  ! {w}" for w in found.attrs.get("warnings", [])]
            + ([f"  ({found.attrs['rule']})"] if found.attrs.get("rule") else []))


def _kv(d: dict) -> pd.DataFrame:
    return pd.DataFrame({"measure": list(d), "value": [str(v) for v in d.values()]})


def _findings_block(found: pd.DataFrame):
    from audit.report.dataset_findings import format_dataset_finding
    from audit.report.blocks import esc, md_escape

    class _Block:
        def html(self, ctx) -> str:
            items = "".join(f"<li>{esc(format_dataset_finding(r))}</li>" for r in found.to_dict("records"))
            warn = "".join(f'<p class="warn">{esc(w)}</p>' for w in found.attrs.get("warnings", []))
            return ((f"<ol>{items}</ol>" if items else "") + warn
                    + f'<p class="rule">{esc(found.attrs.get("rule", ""))}</p>')

        def markdown(self) -> str:
            return "\n".join([f"{i}. {md_escape(format_dataset_finding(r))}" for i, r in
                              enumerate(found.to_dict("records"), 1)]
                             + [f"> **Warning:** {md_escape(w)}" for w in found.attrs.get("warnings", [])])

    return _Block()


def _evidence(found: pd.DataFrame, examples: pd.DataFrame | None, co: pd.DataFrame, *, hide: str):
    from audit.report.blocks import Text
    from audit.report.evidence import CaptionExamples

    if examples is None or examples.empty or found.empty:
        return Text("No example captions stored for these findings." if not found.empty else
                    "No finding, so no example captions to show.", kind="nodata")
    roles = dict(zip(co["concept"], co["role"])) if len(co) else {}
    groups = []
    for r in found.to_dict("records"):
        if r["kind"] == "association":
            sub = examples[(examples.tag == r["identity"]) & (examples.other == r["other"])]
            heading, sensitive = f"{r['identity']} with {r['other']}", roles.get(r["other"]) in ("unsafe", "toxic")
        else:
            wanted = {c for c, role in roles.items() if role == r["other"]}
            sub = examples[(examples.tag == r["identity"]) & examples.other.isin(wanted)]
            heading, sensitive = f"{r['identity']} with {r['other']} terms", r["other"] in ("unsafe", "toxic", "nsfw")
            if r["other"] == "nsfw":
                sub = sub.iloc[:0]  # NSFW is an image tag: no caption word shows it
        captions = list(dict.fromkeys(sub.caption))[:5]
        groups.append((heading, int(r["k"]), captions, sensitive))
    note = ("Example captions per finding, picked by hash (the same every run) and stored in "
            "caption_examples.parquet; shown as plain text. "
            + {"sensitive": "Captions of unsafe or toxic findings are folded: open them to read.",
               "all": "Every caption is folded: open a group to read.", "none": ""}[hide])
    return CaptionExamples("Example captions", groups, hide=hide, note=note)


def report_sections(results: dict, *, tf: pd.DataFrame, co: pd.DataFrame, rates: pd.DataFrame,
                    top: int = 15, min_rows: int = FINDINGS_MIN_ROWS, examples: pd.DataFrame | None = None,
                    hide: str = "sensitive", k: int = FINDINGS_K) -> list:
    """Report sections: findings, example captions, dataset, per-query rates, identity x concept nPMI, images.

    Examples
    --------
    >>> from audit.dataset.card import _example_results
    >>> cols = ["query", "category", "rows", "nsfw_known", "nsfw", "unsafe", "toxic"] + [
    ...     f"{m}_{s}" for m in ("nsfw", "unsafe", "toxic") for s in ("rate", "lo", "hi", "ratio")]
    >>> secs = report_sections(_example_results(), tf=pd.DataFrame(columns=["level", "role", "term", "rows", "share"]),
    ...     co=pd.DataFrame(columns=["identity", "concept", "role", "n_identity", "n_concept", "n_both", "npmi"]),
    ...     rates=pd.DataFrame(columns=cols))
    >>> [s.title for s in secs]
    ['Findings', 'Evidence: example captions', 'Dataset', 'Identity query terms: NSFW, unsafe and toxic rates', 'Identity x concept associations']
    """
    from audit.report import Chart, ReportSection, Table, Text
    from audit.report.dataset_findings import dataset_findings, format_dataset_finding
    from audit.report.figures import bars_with_intervals, npmi_heatmap

    cap, inp = results["captions"], results["input"]
    caveat = Text("Figures come from lexicon matching of captions and from the dataset's own NSFW tags: words "
                  "out of context are counted, meaning is not. Rates carry 95 % Wilson intervals.", kind="caveat")
    found = dataset_findings(co, rates, k=k, min_n=min_rows)
    secs = [ReportSection("Findings", [
        Text(f"{cap['rows']:,} captions audited. The {len(found)} strongest difference(s) between captions that "
             f"name an identity term and all captions, out of {found.attrs['candidates']} measured, each with its "
             "95% interval and counts. The tagger is lexicon matching (no measured accuracy here)."),
        _findings_block(found)], key="findings",
        results={"findings": [{c: (None if isinstance(v, float) and v != v else v) for c, v in r.items()}
                              for r in found.to_dict("records")], "warnings": found.attrs["warnings"]},
        summary=[format_dataset_finding(r) for r in found.to_dict("records")] + found.attrs["warnings"]),
        ReportSection("Evidence: example captions", [_evidence(found, examples, co, hide=hide)], key="evidence")]
    stats = {k2: v for k2, v in cap.items() if not isinstance(v, (list, dict))}
    secs.append(ReportSection("Dataset", [
        Text(f"{inp['kind']} at {inp['root']}: {cap['rows']:,} rows in {inp['files']} file(s)."),
        caveat,
        Table("caption statistics", _kv(stats), collapsed=True),
        Table("read problems", _kv(cap["problems"]) if cap["problems"] else _kv({"none": 0}), collapsed=True),
        Table("identity terms found", tf[(tf.level == "concept") & (tf.role == "identity") & (tf.rows > 0)][
            ["term", "rows", "share"]], collapsed=True),
    ], results={k2: v for k2, v in stats.items() if isinstance(v, (int, float)) or v is None},
        summary=[f"{cap['rows']:,} captions; {cap['duplicate_rows']:,} duplicates; {cap['null']:,} null"]))

    measures = [m for m in ("nsfw", "unsafe", "toxic") if len(rates) and
                float(rates[f"{m}_known" if m == "nsfw" else "rows"].iloc[0] or 0) > 0]
    per = rates.iloc[1:][rates.iloc[1:]["rows"] >= min_rows].head(top) if len(rates) else rates
    blocks = [caveat]
    if "nsfw" not in measures and len(rates):
        blocks.append(Text("The dataset has no NSFW or punsafe column: NSFW-tag rates are not available, so they "
                           "are not drawn.", kind="nodata"))
    long = []
    for m in measures:
        part = per[["query", f"{m}_rate", f"{m}_lo", f"{m}_hi"]].copy()
        part.columns = ["query", "rate", "rate_lo", "rate_hi"]
        part["measure"] = m
        long.append(part)
    frame = pd.concat(long).set_index(["query", "measure"]) if long else pd.DataFrame()
    if len(per) and len(frame) and frame["rate"].fillna(0).gt(0).any():
        fig = bars_with_intervals(frame, concept="query", attribute="measure", value="rate", lo="rate_lo",
                                  hi="rate_hi", reference=None, title="Rates per identity query term (95 % Wilson)")
        top_hi = float(np.nanmax(frame["rate_hi"].to_numpy(float))) if frame["rate_hi"].notna().any() else 1.0
        fig.update_yaxes(range=[0, min(1.0, 1.15 * top_hi) or 1.0])  # rates are small: zoom in
        blocks.append(Chart("per-query rates", fig, caption=f"Identity query terms in at least {min_rows} captions."))
    else:
        blocks.append(Text(f"No identity query term is in at least {min_rows} captions with a non-zero rate: "
                           "nothing to draw.", kind="nodata"))
    shown = rates[rates["rows"] > 0] if len(rates) else rates
    shown = shown.dropna(axis=1, how="all")
    blocks.append(Table("per-query rates (queries found)", shown, collapsed=True))
    secs.append(ReportSection("Identity query terms: NSFW, unsafe and toxic rates", blocks,
                              results={"queries": int(len(rates) - 1)}))

    prof = co[(co.role == "concept") & (co.n_identity >= min_rows)] if len(co) else co
    blocks = [caveat]
    if len(prof) and prof["n_both"].sum() > 0:
        idents = prof.groupby("identity")["n_identity"].first().sort_values(ascending=False).head(top).index
        concepts = prof[prof.n_both > 0].groupby("concept")["n_both"].sum().sort_values(ascending=False).head(30).index
        grid = prof[prof.identity.isin(idents) & prof.concept.isin(concepts)].set_index(["identity", "concept"])
        grid = grid.assign(npmi=grid["npmi"].where(grid["n_both"] > 0))  # never seen together: undefined, not -1
        blocks.append(Chart("npmi", npmi_heatmap(grid, concept="identity", attribute="concept", count="n_both",
                                                 title="nPMI of identity terms and concepts in captions "
                                                       "(n: captions with both)")))
    else:
        blocks.append(Text(f"No identity term is in at least {min_rows} captions together with a concept: no "
                           "association to draw.", kind="nodata"))
    seen = co[co.n_both >= 1].sort_values(["n_both", "npmi"], ascending=False) if len(co) else co
    blocks.append(Table("co-occurrence", seen, collapsed=True,
                        caption=f"Identity x concept pairs seen together ({len(seen)} of {len(co)}; all pairs in "
                                "cooccurrence.parquet)"))
    secs.append(ReportSection("Identity x concept associations", blocks, results={"pairs": int(len(co))}))

    images = results.get("images")
    if images:
        secs.append(ReportSection("Images", [
            Table("image summary", _kv(images["summary"])),
            Table("caption-image agreement", pd.DataFrame(images["agreement"])),
        ], results={k2: v for k2, v in images["summary"].items() if not isinstance(v, dict)}))
    return secs


def write_dataset_report(results: dict, *, tf: pd.DataFrame, co: pd.DataFrame, rates: pd.DataFrame,
                         out_dir: Path, examples: pd.DataFrame | None = None, hide: str = "sensitive") -> str:
    """Build the HTML report into ``out_dir/report/`` and place ``report.html`` in ``out_dir``.

    ``hide``: ``"sensitive"`` folds example captions of unsafe or toxic findings, ``"all"`` every
    caption, ``"none"`` none (see :class:`audit.report.evidence.CaptionExamples`).

    Returns
    -------
    str
        ``"report.html"`` (relative to ``out_dir``).
    """
    from audit.report import build_report

    sub = Path(out_dir) / "report"
    html = build_report(report_sections(results, tf=tf, co=co, rates=rates, examples=examples, hide=hide),
                        spec={"input": results["input"], "lexicons": results["lexicons"]},
                        out_dir=sub, title=f"Dataset audit: {Path(results['input']['root']).name}",
                        export_png=False)
    os.replace(html, Path(out_dir) / "report.html")
    return "report.html"
