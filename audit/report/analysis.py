"""Report sections computed from a per-image table: associations, labeler card, image grids.

Both the probe-run report and the dataset audit call these with their own
per-image tables (one row per image, a cluster column, concept and attribute
columns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from audit.metrics import AuditFrame, most_skewed
from audit.report.blocks import Chart, GridItem, ImageGrid, ReportSection, Table, Text
from audit.report.figures import bars_with_intervals, gap_bars, npmi_heatmap

__all__ = ["association_section", "labeler_card_section", "image_grid", "CAVEATS", "NON_ANSWERS"]

#: Label values that are explicit non-answers (kept visible, counted on the labeler card).
NON_ANSWERS = ("no_face", "out_of_domain", "unreadable", "unknown", "none")

#: Caveats printed on every labeler card.
CAVEATS = (
    "Presentation labels describe how a person is drawn, not anyone's gender identity.",
    "Skin tone is estimated from rendered pixels on the Monk scale and is sensitive to lighting and style.",
    "Intervals are percentile cluster-bootstrap intervals over prompts: images of one prompt are not independent.",
    "Raw numbers carry the labelers' errors; corrected columns assume the confusion matrix measured on validation "
    "renders also holds for these images.",
    "nPMI is -1 for pairs never observed; with few images per concept that is weak evidence.",
)


def _frame(data, *, concept, attribute, cluster, reference, confusion, values, n_resamples, confidence,
           seed) -> AuditFrame:
    return AuditFrame(
        data, concept=concept, attribute=attribute, cluster=cluster, reference=reference, confusion=confusion,
        attributes=values, n_resamples=n_resamples, confidence=confidence, seed=seed,
    )


def association_section(
    data: pd.DataFrame,
    *,
    concept: str,
    attributes: Sequence[str],
    title: str | None = None,
    cluster: str | Sequence[str] | None = "prompt_id",
    references: Mapping[str, pd.DataFrame] | None = None,
    confusions: Mapping[str, pd.DataFrame] | None = None,
    values: Mapping[str, Sequence[str]] | None = None,
    groups: tuple[str, str] = ("feminine", "masculine"),
    k: int = 10,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    grid: ImageGrid | None = None,
) -> ReportSection:
    """One section for a concept: per attribute, nPMI heatmap, shares vs reference, skew ranking, tables.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per image with ``concept``, each attribute and the cluster column(s).
    concept : str
        E.g. ``"profession"``.
    attributes : sequence of str
        E.g. ``("presentation", "skin_group", "skin_tone")``; ones without data are skipped.
    title : str, optional
    cluster : str or sequence or None, default "prompt_id"
    references : mapping attribute -> DataFrame, optional
        Reference ``[concept, attribute, p|n]`` per attribute (``n`` also gives amplification).
    confusions : mapping attribute -> DataFrame, optional
        Labeler confusion matrices for corrected columns.
    values : mapping attribute -> sequence of str, optional
        Every value an attribute can take (unobserved ones count as 0).
        Explicit non-answers (:data:`NON_ANSWERS`, e.g. ``no_face``) are left
        out of the shares and counted in the results as ``n_non_answer``.
    groups : (str, str)
        Groups of the nPMI gap (used when both occur).
    k : int
        How many concepts the skew ranking keeps.
    n_resamples, confidence, seed
        Bootstrap settings.
    grid : ImageGrid, optional
        Sample images appended to the section.

    Returns
    -------
    ReportSection

    Examples
    --------
    >>> df = pd.DataFrame({"prompt_id": range(8), "job": ["ceo", "nurse"] * 4,
    ...                    "presentation": ["masculine", "feminine"] * 3 + ["feminine", "masculine"]})
    >>> s = association_section(df, concept="job", attributes=["presentation"], n_resamples=50)
    >>> [r["metric"] for r in s.results["presentation"]["headline"]][:2]
    ['mad_from_uniform_mean', 'normalized_entropy_mean']
    """
    references, confusions, values = dict(references or {}), dict(confusions or {}), dict(values or {})
    sec = ReportSection(title or f"{concept}", key=concept)
    for attribute in attributes:
        if attribute not in data:
            continue
        non_answer = data[attribute].astype(str).isin(NON_ANSWERS) & data[attribute].notna()
        sub = data[~non_answer & data[concept].notna()]
        if sub[attribute].notna().sum() == 0:
            continue
        af = _frame(
            sub, concept=concept, attribute=attribute, cluster=cluster, reference=references.get(attribute),
            confusion=confusions.get(attribute), values=values.get(attribute), n_resamples=n_resamples,
            confidence=confidence, seed=seed,
        )
        label = f"{concept} x {attribute}"
        by_group = af.by_group.join(af.by_group_ci)
        res: dict = {"n_images": float(af.table.n.sum()), "n_non_answer": int(non_answer.sum())}
        sec.blocks.append(Text(
            f"{label}: {int(af.table.n.sum())} images, {len(af.table.concepts)} {concept} values"
            + (f"; {int(non_answer.sum())} images with no answer ({', '.join(NON_ANSWERS)}) left out." if non_answer.any()
               else ".")))
        sec.blocks.append(Chart(f"npmi-{attribute}", npmi_heatmap(by_group, concept=concept, attribute=attribute,
                                                                  title=f"nPMI: {label}")))
        if af.corrected is not None:
            sec.blocks.append(Chart(f"npmi-{attribute}-corrected", npmi_heatmap(
                by_group, concept=concept, attribute=attribute, value="npmi_corrected",
                title=f"nPMI corrected for labeler error: {label}")))
        has_ref = "proportion_ref" in by_group and by_group["proportion_ref"].notna().any()
        if has_ref or len(af.table.attributes) <= 4:
            sec.blocks.append(Chart(f"shares-{attribute}", bars_with_intervals(
                by_group, concept=concept, attribute=attribute,
                title=f"Share of each {attribute} per {concept} (bars, {confidence:.0%} cluster-bootstrap CI)"
                      + (" vs reference (markers)" if has_ref else ""))))
        if has_ref:
            res["mean_abs_difference_to_reference"] = float(np.nanmean(np.abs(by_group["difference_to_reference"])))
            sec.summary.append(f"{label}: mean |share - reference| {res['mean_abs_difference_to_reference']:.3f}")
        by_concept = af.by_concept.join(af.by_concept_ci)
        has_groups = all(g in af.table.attributes for g in groups)
        head = af.headline(groups=groups if has_groups else None)
        res["headline"] = head.to_dict("records")
        res["mad_from_uniform_mean"] = float(head.value[0])
        res["normalized_entropy_mean"] = float(head.value[1])
        sec.blocks.append(Table(f"headline-{attribute}", head,
                                caption=f"{label}: headline numbers ({confidence:.0%} cluster-bootstrap intervals)"))
        if has_groups:
            gaps = af.gaps(groups=groups).reset_index()
            top = most_skewed(gaps, k=k)
            sec.blocks.append(Chart(f"skewed-{attribute}", gap_bars(
                top, concept=concept, title=f"Most skewed {concept}: nPMI({groups[0]}) - nPMI({groups[1]})")))
            sec.blocks.append(Table(f"most-skewed-{attribute}", top, caption=f"Most skewed {concept} ({label})"))
            res["most_skewed"] = top.to_dict("records")
            sec.summary.append(
                f"{label}: most skewed {concept} " + ", ".join(
                    f"{r[concept]} (gap {r['gap']:+.2f} [{r['lo']:+.2f}, {r['hi']:+.2f}])" for r in res["most_skewed"][:3]))
        else:
            ranked = by_concept.reset_index().rename(columns={"mad_from_uniform": "mad"})
            top = most_skewed(ranked, k=k, column="mad")
            sec.blocks.append(Table(f"most-skewed-{attribute}", top,
                                    caption=f"{concept} furthest from uniform over {attribute} (mean absolute deviation)"))
            res["most_skewed"] = top.to_dict("records")
        sec.blocks.append(Table(f"by-group-{attribute}", by_group.reset_index(), caption=f"{label}: by group"))
        sec.blocks.append(Table(f"by-concept-{attribute}", by_concept.reset_index(),
                                caption=f"{label}: deviation from uniform and normalized entropy"))
        if references.get(attribute) is not None and "n" in references[attribute].columns:
            amp = af.amplification()
            sec.blocks.append(Table(f"amplification-{attribute}", amp, caption=f"Bias amplification ({label})"))
            res["amplification"] = amp.to_dict("records")
            z = amp.set_index("metric")
            sec.summary.append(f"{label}: BiasAmp->(T->A) {z.loc['biasamp_t_to_a', 'value']:+.3f}")
        ci = (lambda r: f" [{r['lo']:.3f}, {r['hi']:.3f}]" if "lo" in r else "")  # noqa: E731
        h = {r["metric"]: r for r in res["headline"]}
        sec.summary.append(
            f"{label}: mean deviation from uniform {h['mad_from_uniform_mean']['value']:.3f}"
            f"{ci(h['mad_from_uniform_mean'])}, mean normalized entropy "
            f"{h['normalized_entropy_mean']['value']:.3f}{ci(h['normalized_entropy_mean'])}")
        sec.results[attribute] = res
    if not sec.results:
        sec.blocks.append(Text(f"No labelled images with {concept} set.", kind="caveat"))
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
    g = labels.assign(non_answer=labels["value"].astype(str).isin(NON_ANSWERS))
    card = (
        g.groupby(["labeler", "attribute"], sort=True)
        .agg(rows=("value", "size"), values=("value", "nunique"), non_answer_share=("non_answer", "mean"),
             mean_confidence=("confidence", "mean"))
        .reset_index()
    )
    sec = ReportSection("Labeler card and caveats", [Table("labelers", card, caption="Labelers")], key="labelers")
    for attribute, conf in (confusions or {}).items():
        sec.blocks.append(Table(f"confusion-{attribute}", conf.reset_index().rename(columns={"index": "true"}),
                                caption=f"Confusion matrix C[true, predicted] used to correct {attribute}"))
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
