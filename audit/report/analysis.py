"""Report sections of a probe run: associations (read from the results table), labeler card, image grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from audit.metrics import most_skewed
from audit.report.blocks import Chart, GridItem, ImageGrid, ReportSection, Table, Text
from audit.report.figures import bars_with_intervals, gap_bars, npmi_heatmap
from audit.results import columns as C
from audit.results.store import by_concept, by_group, gaps, headline

__all__ = ["results_section", "labeler_card_section", "image_grid", "CAVEATS"]

#: Caveats printed on every labeler card.
CAVEATS = (
    "Presentation labels describe how a person is drawn, not anyone's gender identity.",
    "Skin tone is estimated from rendered pixels on the Monk scale and is sensitive to lighting and style.",
    "Intervals are cluster intervals over prompts (the method is named beside each number): images of one prompt "
    "are not independent.",
    "Raw numbers carry the labelers' errors; corrected columns assume the confusion matrix measured on validation "
    "renders also holds for these images.",
    "nPMI of a pair never observed is undefined: it is shown blank and marked 'not observed', not as -1.",
)


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


def labeler_card_section(
    labels: pd.DataFrame, *, confusions: Mapping[str, pd.DataFrame] | None = None, caveats: Sequence[str] = CAVEATS
) -> ReportSection:
    """Who labelled what: rows, values, explicit non-answers, mean confidence; confusion matrices; caveats.

    Examples
    --------
    >>> lab = pd.DataFrame({"image_id": ["a", "b"], "labeler": "w", "attribute": "presentation",
    ...                     "value": ["feminine", "no_face"], "confidence": [0.9, float("nan")]})
    >>> labeler_card_section(lab).results["labelers"][0]["non_answer_share"]
    0.5
    """
    g = labels.assign(non_answer=labels["value"].astype(str).isin(C.NON_ANSWERS))
    card = (
        g.groupby(["labeler", "attribute"], sort=True)
        .agg(rows=("value", "size"), values=("value", "nunique"), non_answer_share=("non_answer", "mean"),
             mean_confidence=("confidence", "mean"))
        .reset_index()
    )
    sec = ReportSection("Labeler card and caveats", [Table("labelers", card, caption="Labelers")], key="labelers")
    from audit.metrics import confusion_is_counts

    for attribute, conf in (confusions or {}).items():
        # Shown only: corrected numbers come from the results table (AuditFrame), which resamples counts.
        how = ("validation counts: their sampling uncertainty is carried into the corrected intervals"
               if confusion_is_counts(conf) else
               "shares: taken as exact, so the corrected intervals leave out the matrix's own uncertainty")
        sec.blocks.append(Table(f"confusion-{attribute}", conf.reset_index().rename(columns={"index": "true"}),
                                caption=f"Confusion matrix C[true, predicted] used to correct {attribute} ({how})"))
    sec.blocks += [Text(c, kind="caveat") for c in caveats]
    sec.results["labelers"] = card.to_dict("records")
    return sec


def image_grid(
    data: pd.DataFrame,
    *,
    root: str | Path,
    concept: str,
    values: Sequence[str],
    per_value: int = 6,
    caption_columns: Sequence[str] = ("prompt",),
    seed: int = 0,
    path_column: str = "path",
) -> ImageGrid:
    """Sample up to ``per_value`` images for each concept value, captioned with the given columns.

    Examples
    --------
    >>> df = pd.DataFrame({"job": ["ceo"], "path": ["missing.png"], "prompt": ["a ceo"]})
    >>> len(image_grid(df, root=".", concept="job", values=["ceo"]).items)
    1
    """
    rng = np.random.default_rng(seed)
    items = []
    for v in values:
        sub = data[data[concept].astype(str) == str(v)]
        take = sub.iloc[np.sort(rng.permutation(len(sub))[:per_value])] if len(sub) else sub
        for row in take.to_dict("records"):
            cap = " | ".join(f"{row[c]}" for c in caption_columns if c in row and pd.notna(row[c]))
            items.append(GridItem(Path(root) / str(row[path_column]), cap))
    return ImageGrid(f"Sample images per {concept}", items)
