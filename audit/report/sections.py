"""The report of a probe run: :func:`report_from_run_dir` and the sections it assembles.

In the order a reader meets them: the findings box (:func:`audit.report.findings.findings_section`,
the rows the CLI prints), evidence for each finding (:func:`evidence_section`), one section per
prompt slot and setting (:func:`results_section`: nPMI heatmap, shares against the reference,
skew ranking and tables per labelled attribute), the labelers' measured accuracy and
non-answers (:func:`audit.report.accuracy.labeler_section`) and the glossary of the metrics
used (:func:`glossary_section`, read from :data:`audit.report.glossary.GLOSSARY`). Each reads
a results table (and, for evidence, the run's manifest and labels); none computes a metric.
With other interval options, reference tables or confusion matrices than the run's table was
built with, :func:`report_from_run_dir` has the table computed once more by the same code
(:func:`audit.results.results_for`) and writes it beside the report as ``results.parquet``.

Examples
--------
>>> glossary_section(pd.DataFrame({"metric": ["npmi_gap", "made_up"]})).blocks[0].frame.metric.tolist()
['npmi_gap', 'interval', 'not observed']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audit.metrics import most_skewed
from audit.report.accuracy import labeler_section
from audit.report.blocks import Chart, ImageGrid, ReportSection, Table, Text, esc, md_escape, slug
from audit.report.build import build_report
from audit.report.evidence import finding_evidence
from audit.report.figures import bars_with_intervals, gap_bars, npmi_heatmap
from audit.report.findings import findings_section, top_findings
from audit.report.glossary import GLOSSARY, TERMS
from audit.results import Options, read_run_dir, results_for, write_results
from audit.results import columns as C
from audit.results.store import by_concept, by_group, gaps, headline

__all__ = ["evidence_section", "results_section", "GlossaryBlock", "glossary_table", "glossary_section",
           "report_from_run_dir"]


def evidence_section(findings: pd.DataFrame, *, manifest: pd.DataFrame, labels: pd.DataFrame, run_dir: str | Path,
                     report_dir: str | Path | None = None, per_group: int = 4, seed: int = 0) -> ReportSection:
    """Example images for each finding: per group, images of the finding's concept with prompt, seed and labels."""
    blocks: list = []
    for r in findings.to_dict("records"):
        blocks.append(finding_evidence(r, manifest=manifest, labels=labels, root=run_dir, per_group=per_group,
                                       link_from=report_dir, seed=seed))
    if not blocks:
        blocks.append(Text("No finding, so no evidence to show.", kind="nodata"))
    return ReportSection("Evidence for the findings", blocks, key="evidence")


def _attribute_blocks(sec: ReportSection, rows: pd.DataFrame, *, slot: str, attribute: str, k: int) -> dict:
    """Blocks of one slot x attribute cut, all read from its result rows."""
    label = f"{slot} x {attribute}"
    column = attribute if attribute != slot else f"{attribute}_label"  # the label beside the prompt's slot
    group = by_group(rows, concept=slot, attribute=column)
    if group.empty:
        return {}
    conc = by_concept(rows, concept=slot)
    head = headline(rows)
    method = rows["method"].mode().iloc[0] if len(rows) else ""
    n_images = int(conc["n"].sum()) if "n" in conc else 0
    non = int(rows.loc[(rows.metric == C.NON_ANSWER_SHARE) & ~rows.corrected, "n"].sum())
    res: dict = {"n_images": n_images, "n_non_answer": non}
    sec.blocks.append(Text(
        f"{label}: {n_images} images, {len(conc)} {slot} values; intervals: {method}"
        + (f"; {non} images with no answer ({', '.join(C.NON_ANSWERS)}) left out of the shares." if non else ".")))
    if "npmi" in group and group["npmi"].notna().any():
        sec.blocks.append(Chart(f"npmi-{attribute}", npmi_heatmap(group, concept=slot, attribute=column,
                                                                  title=f"nPMI: {label} (n: images per cell)")))
    elif "npmi" in group:
        sec.blocks.append(Text(f"{label}: no nPMI can be computed (every cell is empty or the labeler gave one "
                               "value only), so no heatmap is drawn.", kind="caveat"))
    if "npmi_corrected" in group:
        sec.blocks.append(Chart(f"npmi-{attribute}-corrected", npmi_heatmap(
            group, concept=slot, attribute=column, value="npmi_corrected",
            title=f"nPMI corrected for labeler error: {label}")))
    has_ref = "proportion_ref" in group and group["proportion_ref"].notna().any()
    n_values = group.index.get_level_values(column).nunique()
    if "proportion_lo" in group and (has_ref or n_values <= 4):
        sec.blocks.append(Chart(f"shares-{attribute}", bars_with_intervals(
            group, concept=slot, attribute=column,
            title=f"Share of each {attribute} per {slot} (bars, intervals: {method})"
                  + (" vs reference (markers)" if has_ref else ""))))
    if has_ref:
        gap = rows[(rows.metric == C.REFERENCE_GAP) & ~rows.corrected]
        sec.summary.append(f"{label}: mean |share - reference| {gap.estimate.abs().mean():.3f} over {len(gap)} values")
    sec.blocks.append(Table(f"headline-{attribute}", head, caption=f"{label}: headline numbers", collapsed=True))
    gap_rows = gaps(rows, concept=slot)
    observed = gap_rows[np.isfinite(gap_rows["gap"].astype(float))] if len(gap_rows) else gap_rows
    if len(gap_rows) and observed.empty:
        sec.blocks.append(Text(f"{label}: every nPMI gap ({gap_rows['groups'].iloc[0]}) is undefined: "
                               f"{gap_rows['note'].iloc[0] or 'no estimate'}. Nothing to rank.", kind="caveat"))
        top = pd.DataFrame(columns=[slot])
    elif len(gap_rows):
        top = most_skewed(observed, k=k)
        pair = gap_rows["groups"].iloc[0]
        sec.blocks.append(Chart(f"skewed-{attribute}", gap_bars(top, concept=slot,
                                                                title=f"Most skewed {slot}: nPMI({pair})")))
        sec.blocks.append(Table(f"most-skewed-{attribute}", top, caption=f"Most skewed {slot} ({label})",
                                collapsed=True))
        sec.summary.append(f"{label}: most skewed {slot} " + ", ".join(
            f"{r[slot]} (gap {r['gap']:+.2f} [{r['lo']:+.2f}, {r['hi']:+.2f}])"
            for r in top.to_dict("records")[:3] if pd.notna(r["gap"])))
    elif C.MAD in conc:
        top = most_skewed(conc.reset_index(), k=k, column=C.MAD)
        sec.blocks.append(Table(f"most-skewed-{attribute}", top, collapsed=True,
                                caption=f"{slot} furthest from uniform over {attribute} (mean absolute deviation)"))
    else:
        top = pd.DataFrame(columns=[slot])
    res["most_skewed"] = [str(c) for c in top[slot]]
    sec.blocks.append(Table(f"by-group-{attribute}", group.reset_index(), caption=f"{label}: by group",
                            collapsed=True))
    sec.blocks.append(Table(f"by-concept-{attribute}", conc.reset_index(), collapsed=True,
                            caption=f"{label}: deviation from uniform, normalized entropy, non-answers"))
    amp = head[head.metric.isin(C.AMPLIFICATION)]
    if len(amp):
        sec.blocks.append(Table(f"amplification-{attribute}", amp, caption=f"Bias amplification ({label})",
                                collapsed=True))
        t_to_a = amp[(amp.metric == "biasamp_t_to_a") & ~amp.corrected]
        if len(t_to_a):
            sec.summary.append(f"{label}: BiasAmp->(T->A) {t_to_a.estimate.iloc[0]:+.3f}")
    for metric, caption in ((C.COMPLIANCE, "compliance: share of images prompted with a value that show it"),
                            (C.DEFAULT_DRIFT, "default drift: share without the axis words - 1/#groups"),
                            (C.UNSAFE_RATE, "unsafe rate per value")):
        sub = rows[rows.metric == metric]
        if len(sub):
            sec.blocks.append(Table(f"{metric}-{attribute}", sub[["concept", "value", "estimate", "lo", "hi", "n",
                                                                  "total", "corrected", "note"]],
                                    caption=f"{label}: {caption}", collapsed=True))
    h = {r["metric"]: r for r in head[~head.corrected].to_dict("records")}
    if C.MAD_MEAN in h and C.ENTROPY_MEAN in h:
        ci = (lambda r: f" [{r['lo']:.3f}, {r['hi']:.3f}]" if pd.notna(r["lo"]) else "")  # noqa: E731
        sec.summary.append(
            f"{label}: mean deviation from uniform {h[C.MAD_MEAN]['estimate']:.3f}{ci(h[C.MAD_MEAN])}, "
            f"mean normalized entropy {h[C.ENTROPY_MEAN]['estimate']:.3f}{ci(h[C.ENTROPY_MEAN])}")
    return res


def results_section(
    table: pd.DataFrame,
    *,
    setting: str,
    slot: str,
    labelers: Sequence[str],
    title: str | None = None,
    k: int = 10,
    grid: ImageGrid | None = None,
) -> ReportSection:
    """One section for a slot and setting: per labelled attribute, its nPMI heatmap, shares vs reference,
    skew ranking and tables, all read from the results table (see :mod:`audit.results`).

    Parameters
    ----------
    table : pandas.DataFrame
        A results table.
    setting, slot : str
        The cut to show.
    labelers : sequence of str
        Labelers whose attributes are shown.
    title : str, optional
    k : int
        How many concepts the skew ranking keeps.
    grid : ImageGrid, optional
        Sample images appended to the section.

    Returns
    -------
    ReportSection

    Examples
    --------
    >>> from audit.results import Options, results_table
    >>> m = pd.DataFrame({"image_id": list("abcdefgh"), "prompt_id": list("abcdefgh"), "job": ["ceo", "nurse"] * 4})
    >>> lab = pd.DataFrame({"image_id": list("abcdefgh"), "labeler": "w", "attribute": "presentation",
    ...                     "value": ["masculine", "feminine"] * 3 + ["feminine", "no_face"]})
    >>> t = results_table(m, lab, options=Options(n_resamples=50)).table
    >>> s = results_section(t, setting="default", slot="job", labelers=["w"])
    >>> s.results["presentation"]["n_non_answer"], s.results["presentation"]["most_skewed"][0]
    (1, 'nurse')
    """
    sec = ReportSection(title or slot, key=slot)
    here = table[(table.setting == setting) & (table.slot == slot) & table.labeler.isin(list(labelers))]
    known = list(C.KNOWN_VALUES)
    attributes = sorted(here.attribute.unique(), key=lambda a: (known.index(a) if a in known else len(known), a))
    for attribute in attributes:
        res = _attribute_blocks(sec, here[here.attribute == attribute], slot=slot, attribute=attribute, k=k)
        if res:
            sec.results[attribute] = res
    if not sec.results:
        sec.blocks.append(Text(f"No labelled images with {slot} set.", kind="caveat"))
    if grid is not None:
        sec.blocks.append(grid)
    return sec


@dataclass
class GlossaryBlock:
    """The metrics a report uses, in plain language, with formula and documentation link."""

    frame: pd.DataFrame

    def html(self, ctx) -> str:
        rows = []
        for r in self.frame.to_dict("records"):
            href = doc_href(r["doc"]) if r["doc"] else None
            doc = f'<a href="{esc(href)}">{esc(r["doc"])}</a>' if href else esc(r["doc"])
            rows.append(f"<tr><td><code>{esc(r['metric'])}</code></td><td>{esc(r['meaning'])}</td>"
                        f"<td><code>{esc(r['formula'])}</code></td><td>{esc(r['no bias'])}</td><td>{doc}</td></tr>")
        head = "<tr><th>metric</th><th>meaning</th><th>formula</th><th>no bias</th><th>documented in</th></tr>"
        return f'<div class="table-wrap"><table class="tbl gloss">{head}{"".join(rows)}</table></div>'

    def markdown(self) -> str:
        return "\n".join(f"- `{r['metric']}`: {md_escape(r['meaning'])} ({md_escape(r['formula'])})"
                         for r in self.frame.to_dict("records"))


def glossary_table(names: Iterable[str]) -> pd.DataFrame:
    """``metric, meaning, formula, no-bias value, documentation`` for the given names (unknown names say so).

    Examples
    --------
    >>> glossary_table(["npmi_gap", "made_up"]).meaning.tolist()[1]
    'not in the glossary'
    """
    rows = []
    for name in dict.fromkeys(str(n) for n in names):
        e = GLOSSARY.get(name) or TERMS.get(name)
        rows.append({"metric": name, "meaning": e.plain if e else "not in the glossary",
                     "formula": e.formula if e else "", "no bias": e.good if e else "", "doc": e.doc if e else ""})
    return pd.DataFrame(rows, columns=["metric", "meaning", "formula", "no bias", "doc"])


def doc_href(doc: str) -> str | None:
    """A ``file://`` link to the documentation page when this checkout has it, else None."""
    page, _, anchor = doc.partition("#")
    path = Path(__file__).resolve().parents[2] / page
    return (path.as_uri() + (f"#{anchor}" if anchor else "")) if path.is_file() else None


def glossary_section(table: pd.DataFrame) -> ReportSection:
    """Every metric of the table (and the gated names) explained."""
    names = [m for m in dict.fromkeys(table.metric) if m in GLOSSARY]
    return ReportSection("Glossary of metrics", [GlossaryBlock(glossary_table([*names, "interval",
                                                                                "not observed"]))], key="glossary")


def report_from_run_dir(
    run_dir: str | Path,
    *,
    out_dir: str | Path | None = None,
    references: Mapping[str, pd.DataFrame] | None = None,
    confusions: Mapping[str, pd.DataFrame] | None = None,
    cluster: str | Sequence[str] = "prompt_id",
    n_resamples: int = 1000,
    seed: int = 0,
    export_png: bool | None = None,
    title: str | None = None,
    cards: Mapping | None = None,
    k: int = 3,
) -> Path:
    """Write the report of a probe run from its results table (default: ``RUN_DIR/report/``).

    One section per prompt slot (``profession``, ``activity``, ...) and sweep
    setting (and per labeler when several label the same attribute), showing
    every labelled attribute in the table; then the labeler card and the run's spec.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        Holds ``spec.json``, ``manifest.parquet``, ``labels.parquet`` and the images.
    out_dir : str or pathlib.Path, optional
        Where the report goes; default ``run_dir/report``.
    references : mapping attribute -> DataFrame, optional
        Reference distributions (``[concept, attribute, p|n]``), e.g. % women per profession;
        used for the slots they have a column for, and ahead of the suite's own
        references (``spec["suite"]["references"]``).
    confusions : mapping attribute -> DataFrame, optional
        Labeler confusion matrices (index true values, columns predicted values).
    cluster : str or sequence of str, default "prompt_id"
        Bootstrap cluster column(s) (``("prompt_id", "seed")`` for two-way).
    n_resamples, seed
        Bootstrap settings.
    export_png : bool or None
        See :func:`~audit.report.build_report`.
    title : str, optional
    cards : mapping labeler -> card dict or path, optional
        Labeler cards (default: the shipped card of each labeler that has one).
    k : int, default 3
        Findings shown first (the same :func:`audit.report.findings.top_findings` the CLI prints).

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.

    Examples
    --------
    >>> report_from_run_dir("no/such/run")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    audit.errors.UserError: ...
    """
    run = Path(run_dir)
    spec, manifest, labels = read_run_dir(run)
    out = Path(out_dir) if out_dir else run / "report"
    clusters = (cluster,) if isinstance(cluster, str) else tuple(cluster)
    wanted = Options(cluster=clusters, n_resamples=n_resamples, seed=seed)
    results, computed = results_for(run, options=wanted, references=references, confusions=confusions)
    if computed:
        write_results(out, results)
    table = results.table
    settings = [s for s in results.settings if (table.setting == s).any()]
    slots = [s for s in dict.fromkeys(table.slot) if s != C.ANY]
    per_attr = table[table.slot != C.ANY].groupby(["setting", "slot", "attribute"]).labeler.nunique()
    shared = bool((per_attr > 1).any())  # several labelers label one attribute: a section per labeler
    names = sorted(table.labeler[table.labeler != C.ANY].unique())
    views = [(str(lab), [lab]) for lab in names] if shared else [(None, names)]
    found = top_findings(table, k=k, cards=cards)
    sections = [findings_section(found),
                evidence_section(found, manifest=manifest, labels=labels, run_dir=run, report_dir=out, seed=seed)]
    for labeler, labelers in views:
        for slot in slots:
            for setting in settings:
                if not ((table.setting == setting) & (table.slot == slot) & table.labeler.isin(labelers)).any():
                    continue
                parts = [setting] if len(settings) > 1 else []
                parts += [f"labeler {labeler}"] if labeler is not None else []
                sec = results_section(table, setting=setting, slot=slot, labelers=labelers,
                                      title=f"Probe: {slot}" + (f" ({', '.join(parts)})" if parts else ""))
                sec.key = slug("-".join([slot, *parts]))
                here = table[(table.setting == setting) & (table.slot == slot) & (table.metric == C.REFERENCE_SHARE)]
                for attr, note in here[["attribute", "note"]].drop_duplicates().itertuples(index=False):
                    sec.blocks.insert(0, Text(f"Reference for {attr}: {note}"))
                sections.append(sec)
    if results.skipped:
        sections.append(_skipped_section(results.skipped))
    sections += [labeler_section(table, labels=labels, cards=cards, confusions=confusions), glossary_section(table)]
    suite = spec.get("suite") if isinstance(spec, dict) else None
    name = (suite.get("name") if isinstance(suite, dict) else None) or (spec.get("name") if isinstance(spec, dict) else None)
    return build_report(
        sections, spec=spec, out_dir=out,
        title=title or f"imagen-audit report: {name or run.name}", export_png=export_png,
    )


def _skipped_section(skipped: list[dict]):
    return ReportSection("Attributes without shares", [Table("skipped", pd.DataFrame(skipped),
                                                             caption="Labelled attributes not analysed, and why")],
                         key="skipped")
