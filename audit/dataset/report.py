"""The dataset audit's HTML report, built with the shared :func:`audit.report.build_report`.

The shared builder writes ``report.html`` plus its own ``report.json``,
``summary.md`` and ``tables/`` into a folder; the dataset audit gives it
``OUT/report/`` and moves ``report.html`` up to ``OUT/report.html``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_dataset_report", "report_sections"]


def _kv(d: dict) -> pd.DataFrame:
    return pd.DataFrame({"measure": list(d), "value": [str(v) for v in d.values()]})


def report_sections(results: dict, *, tf: pd.DataFrame, co: pd.DataFrame, rates: pd.DataFrame,
                    top: int = 15, min_rows: int = 20) -> list:
    """Report sections: dataset, per-query rates, identity x concept nPMI, images.

    Examples
    --------
    >>> from audit.dataset.card import _example_results
    >>> cols = ["query", "category", "rows", "nsfw_known", "nsfw", "unsafe", "toxic"] + [
    ...     f"{m}_{s}" for m in ("nsfw", "unsafe", "toxic") for s in ("rate", "lo", "hi", "ratio")]
    >>> secs = report_sections(_example_results(), tf=pd.DataFrame(columns=["level", "role", "term", "rows", "share"]),
    ...     co=pd.DataFrame(columns=["identity", "concept", "role", "n_identity", "n_concept", "n_both", "npmi"]),
    ...     rates=pd.DataFrame(columns=cols))
    >>> [s.title for s in secs]
    ['Dataset', 'Identity query terms: NSFW, unsafe and toxic rates', 'Identity x concept associations']
    """
    from audit.report import Chart, ReportSection, Table, Text
    from audit.report.figures import bars_with_intervals, npmi_heatmap

    cap, inp = results["captions"], results["input"]
    caveat = Text("Figures come from lexicon matching of captions and from the dataset's own NSFW tags: words "
                  "out of context are counted, meaning is not. Rates carry 95 % Wilson intervals.", kind="caveat")
    stats = {k: v for k, v in cap.items() if not isinstance(v, (list, dict))}
    secs = [ReportSection("Dataset", [
        Text(f"{inp['kind']} at {inp['root']}: {cap['rows']:,} rows in {inp['files']} file(s)."),
        caveat,
        Table("caption statistics", _kv(stats)),
        Table("read problems", _kv(cap["problems"]) if cap["problems"] else _kv({"none": 0})),
        Table("identity terms found", tf[(tf.level == "concept") & (tf.role == "identity") & (tf.rows > 0)][
            ["term", "rows", "share"]]),
    ], results={k: v for k, v in stats.items() if isinstance(v, (int, float)) or v is None},
        summary=[f"{cap['rows']:,} captions; {cap['duplicate_rows']:,} duplicates; {cap['null']:,} null"])]

    per = rates[(rates["rows"] >= min_rows)].head(top + 1)
    long = []
    for m in ("nsfw", "unsafe", "toxic"):
        part = per[["query", f"{m}_rate", f"{m}_lo", f"{m}_hi"]].copy()
        part.columns = ["query", "rate", "rate_lo", "rate_hi"]
        part["measure"] = m
        long.append(part)
    frame = pd.concat(long).set_index(["query", "measure"]) if long else pd.DataFrame()
    blocks = [caveat]
    if len(per):
        fig = bars_with_intervals(frame, concept="query", attribute="measure", value="rate", lo="rate_lo",
                                  hi="rate_hi", reference=None, title="Rates per identity query term (95 % Wilson)")
        top_hi = float(np.nanmax(frame["rate_hi"].to_numpy(float))) if frame["rate_hi"].notna().any() else 1.0
        fig.update_yaxes(range=[0, min(1.0, 1.15 * top_hi) or 1.0])  # rates are small: zoom in
        blocks.append(Chart("per-query rates", fig, caption=f"Identity query terms in at least {min_rows} captions."))
    blocks.append(Table("per-query rates (queries found)", rates[rates["rows"] > 0]))
    secs.append(ReportSection("Identity query terms: NSFW, unsafe and toxic rates", blocks,
                              results={"queries": int(len(rates) - 1)}))

    prof = co[(co.role == "concept") & (co.n_identity >= min_rows)]
    blocks = [caveat]
    if len(prof) and prof["n_both"].sum() > 0:
        idents = prof.groupby("identity")["n_identity"].first().sort_values(ascending=False).head(top).index
        concepts = prof[prof.n_both > 0].groupby("concept")["n_both"].sum().sort_values(ascending=False).head(30).index
        grid = prof[prof.identity.isin(idents) & prof.concept.isin(concepts)].set_index(["identity", "concept"])
        blocks.append(Chart("npmi", npmi_heatmap(grid, concept="identity", attribute="concept",
                                                 title="nPMI of identity terms and concepts in captions")))
    blocks.append(Table("co-occurrence", co.sort_values("npmi", ascending=False, na_position="last")))
    secs.append(ReportSection("Identity x concept associations", blocks, results={"pairs": int(len(co))}))

    images = results.get("images")
    if images:
        secs.append(ReportSection("Images", [
            Table("image summary", _kv(images["summary"])),
            Table("caption-image agreement", pd.DataFrame(images["agreement"])),
        ], results={k: v for k, v in images["summary"].items() if not isinstance(v, dict)}))
    return secs


def write_dataset_report(results: dict, *, tf: pd.DataFrame, co: pd.DataFrame, rates: pd.DataFrame,
                         out_dir: Path) -> str:
    """Build the HTML report into ``out_dir/report/`` and place ``report.html`` in ``out_dir``.

    Returns
    -------
    str
        ``"report.html"`` (relative to ``out_dir``).
    """
    from audit.report import build_report

    sub = Path(out_dir) / "report"
    html = build_report(report_sections(results, tf=tf, co=co, rates=rates),
                        spec={"input": results["input"], "lexicons": results["lexicons"]},
                        out_dir=sub, title=f"Dataset audit: {Path(results['input']['root']).name}",
                        export_png=False)
    os.replace(html, Path(out_dir) / "report.html")
    return "report.html"
