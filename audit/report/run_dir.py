"""Build the report of a probe run directory from its results table (``results.parquet``).

The report reads the numbers; it computes none. With other interval options,
reference tables or confusion matrices than the run's table was built with, the
table is computed once more by the same code (:func:`audit.results.results_for`)
and written beside the report as ``results.parquet``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from audit.report.analysis import labeler_card_section, results_section
from audit.report.blocks import Table, Text, slug
from audit.report.findings import top_findings
from audit.report.sections import evidence_section, findings_section, glossary_section, labeler_section
from audit.report.build import build_report
from audit.results import Options, read_run_dir, read_table, results_for, write_results
from audit.results import columns as C

__all__ = ["report_from_run_dir", "read_run_dir", "read_table"]


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
    from audit.report.blocks import ReportSection, Table

    return ReportSection("Attributes without shares", [Table("skipped", pd.DataFrame(skipped),
                                                             caption="Labelled attributes not analysed, and why")],
                         key="skipped")
