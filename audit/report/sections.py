"""The report of a probe run: its auditor-facing sections and :func:`report_from_run_dir`, which assembles them.

Findings first, evidence, the results per slot, the labeler's accuracy, the glossary. Each
function reads a results table (and, for evidence, the run's manifest and labels); none
computes a metric. :func:`findings_section` shows exactly what
:func:`audit.report.findings.top_findings` returns, the rows the CLI prints. With other
interval options, reference tables or confusion matrices than the run's table was built
with, :func:`report_from_run_dir` has the table computed once more by the same code
(:func:`audit.results.results_for`) and writes it beside the report as ``results.parquet``.

Examples
--------
>>> import pandas as pd
>>> from audit.results import columns as C
>>> from audit.report.findings import top_findings
>>> s = findings_section(top_findings(pd.DataFrame(columns=list(C.COLUMNS)), cards={}))
>>> s.key, s.results["findings"]
('findings', [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from audit.report.accuracy import SPLIT, accuracy_table, card_source, load_cards
from audit.report.analysis import labeler_card_section, results_section
from audit.report.blocks import ReportSection, Table, Text, esc, md_escape, slug
from audit.report.build import build_report
from audit.report.evidence import finding_evidence
from audit.report.findings import format_finding, top_findings, warnings_of
from audit.report.glossary import GLOSSARY, doc_href, glossary_table
from audit.results import Options, read_run_dir, results_for, write_results
from audit.results import columns as C

__all__ = ["FindingsBlock", "GlossaryBlock", "findings_section", "evidence_section", "labeler_section",
           "glossary_section", "report_from_run_dir"]


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


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
                    + (f" ({_pct(shares[yes])} of its images)" if yes in shares else ""))
        if a in shares and b in shares:
            return f"{where}: {_pct(shares[a])} {a}, {_pct(shares[b])} {b} ({r['attribute']})"
        return f"{where}: leans {a} rather than {b} ({r['attribute']})"
    if r["metric"] == C.COMPLIANCE:
        return f"{where}: prompts are followed in {_pct(r['estimate'])} of images"
    return f"{where}: {r['metric']} {r['estimate']:+.3f} for {r['attribute']} = {r['value']}"


def findings_section(findings: pd.DataFrame, *, title: str = "Findings") -> ReportSection:
    """The first section: the findings of :func:`~audit.report.findings.top_findings` (as the CLI prints them),
    or in words why there is none."""
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


def labeler_section(table: pd.DataFrame, *, cards: Mapping | None = None) -> ReportSection:
    """The labelers: measured accuracy per group (from each labeler card) and non-answer shares per attribute."""
    raw = table[~table.corrected.astype(bool) & (table.labeler != C.ANY)]
    labelers = sorted(raw.labeler.unique())
    loaded = load_cards(labelers, cards) if cards is None or cards else {}
    blocks: list = []
    attrs = {a: sorted(set(raw.loc[(raw.attribute == a) & (raw.metric == C.PROPORTION), "value"]))
             for a in raw.attribute.unique()}
    acc = accuracy_table(loaded, attributes=attrs)
    for lab in labelers:
        src = card_source(lab, cards) if lab in loaded else None
        if src is None:
            blocks.append(Text(f"Labeler {lab}: no labeler card, so its accuracy is not measured. Treat its shares "
                               "as readings of an instrument of unknown error.", kind="caveat"))
        else:
            blocks.append(Text(f"Labeler {lab}: accuracy per group read from its card ({src}), measured on "
                               f"held-out renders of the synthetic world ({SPLIT} split: with diffusion-like "
                               "artifacts). Accuracy = share of held-out images of that group labelled as it "
                               "(recall); images far from the training renders may be read less well."))
    if len(acc):
        wide = acc.assign(accuracy=acc.accuracy.map(_pct)).rename(columns={"n": "held-out images"})
        blocks.append(Table("labeler accuracy", wide.drop(columns="split"),
                            caption="Measured accuracy per group (recall on held-out renders)", max_rows=60))
    non = raw[(raw.metric == C.NON_ANSWER_SHARE) & (raw.slot == C.ANY)]
    overall = raw[(raw.metric == C.PROPORTION) & (raw.slot == C.ANY)].groupby(
        ["setting", "labeler", "attribute"]).total.max().rename("answered").reset_index()
    if len(overall):
        shares = non.groupby(["setting", "labeler", "attribute"]).agg(no_answer=("n", "sum"), images=("total", "sum"))
        out = overall.merge(shares.reset_index(), on=["setting", "labeler", "attribute"], how="left")
        out["no_answer"] = out["no_answer"].fillna(0).astype(int)
        out["images"] = out["images"].fillna(out["answered"]).astype(int)
        out["no-answer share"] = (out["no_answer"] / out["images"].replace(0, np.nan)).map(_pct)
        if out.setting.nunique() == 1:
            out = out.drop(columns="setting")
        blocks.append(Table("non-answers", out, caption="Images per attribute the labeler gave no answer for "
                            f"({', '.join(C.NON_ANSWERS)}); left out of every share", max_rows=60))
    sec = ReportSection("Labelers: accuracy and non-answers", blocks, key="labelers")
    sec.results["accuracy"] = acc.to_dict("records")
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
    labeler = labeler_section(table, cards=cards)
    card = labeler_card_section(labels, confusions=confusions)
    labeler.blocks += [b for b in card.blocks if not isinstance(b, Table)] + [
        Table(b.name, b.frame, caption=b.caption, collapsed=True) for b in card.blocks if isinstance(b, Table)]
    labeler.results.update(card.results)
    sections += [labeler, glossary_section(table)]
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
