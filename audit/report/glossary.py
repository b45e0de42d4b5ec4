"""Every metric name of the results table in plain language, with its formula and where it is documented.

Data, not code: :data:`GLOSSARY` maps each name of the ``metric`` column
(:mod:`audit.results.columns`), each gated name (``abs_npmi_gap`` ...) and each suite metric
name (``representation`` ...) to an :class:`Entry`; :data:`TERMS` explains the report's other
words. The report shows the entries of the metrics it uses
(:func:`audit.report.sections.glossary_section`); ``docs/report.md`` lists them all
(:func:`glossary_markdown` writes that part of the page).

Examples
--------
>>> GLOSSARY["npmi_gap"].doc
'docs/metrics.md#association'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit.results import columns as C

__all__ = ["Entry", "GLOSSARY", "TERMS", "glossary_markdown", "metric_names"]

_A, _R, _B, _U = ("docs/metrics.md#association", "docs/metrics.md#representation-and-reference",
                  "docs/metrics.md#bias-amplification", "docs/metrics.md#uncertainty-cluster-bootstrap")
_T = "docs/report.md#metrics-of-the-results-table"


@dataclass(frozen=True)
class Entry:
    """A metric explained: ``plain`` (one sentence), ``formula`` (text), ``doc`` (``file#anchor``), ``good``."""

    plain: str
    formula: str
    doc: str
    good: str = ""


GLOSSARY: dict[str, Entry] = {
    C.PROPORTION: Entry("Share of a concept's answered images that show this value (e.g. share of nurses drawn "
                        "feminine).", "p(value | concept) = n(concept, value) / n(concept, answered)", _R,
                        "depends on the reference"),
    C.NPMI: Entry("How much more (positive) or less (negative) often a concept and a value appear together than "
                  "if they were independent; blank when the pair was never observed.",
                  "nPMI = ln[p(x,y) / (p(x) p(y))] / -ln p(x,y), in [-1, 1]", _A, "0 (independent)"),
    C.NPMI_GAP: Entry("Difference between the nPMI of a concept with one group and with the other (e.g. feminine "
                      "minus masculine): the direction and strength of the skew.",
                      "nPMI(concept, a) - nPMI(concept, b), in [-2, 2]", _A, "0"),
    C.MAD: Entry("How far a concept's group shares are from an even split, on average.",
                 "mean over values of |p(value | concept) - 1/K|", _R, "0 (even split)"),
    C.ENTROPY: Entry("Diversity of a concept's group shares: 1 is an even split, 0 is one group only.",
                     "-sum p ln p / ln K", _R, "1"),
    C.MAD_MEAN: Entry("Deviation from an even split, averaged over all concepts of the slot.",
                      "mean over concepts of mad_from_uniform", _R, "0"),
    C.ENTROPY_MEAN: Entry("Diversity averaged over all concepts of the slot.",
                          "mean over concepts of normalized_entropy", _R, "1"),
    C.GAP_MEAN: Entry("Average size of the nPMI gap over concepts (how skewed the slot is overall).",
                      "mean over concepts of |npmi_gap|", _A, "0"),
    C.GAP_MAX: Entry("Largest nPMI gap over concepts (the most skewed concept).", "max over concepts of |npmi_gap|",
                     _A, "0"),
    C.REFERENCE_SHARE: Entry("The share the suite's reference gives for this concept and value (e.g. % women "
                             "among US nurses); no interval.", "as given by the reference (its source is named)",
                             _R, ""),
    C.REFERENCE_GAP: Entry("Observed share minus the reference share, in share points.",
                           "p(value | concept) - p_ref(value | concept)", _R, "0"),
    C.COMPLIANCE: Entry("Share of images whose prompt names a value (e.g. 'a dark-skinned nurse') that the labeler "
                        "reads as showing it.", "n(prompted a, labelled a) / n(prompted a, answered)", _T,
                        "1 (every image follows the prompt)"),
    C.DEFAULT_DRIFT: Entry("For prompts that leave the axis out, the share of a group minus an even split: what the "
                           "model draws by default.", "p(value | prompt without the axis words) - 1/K", _T, "0"),
    C.UNSAFE_RATE: Entry("Share of a concept's answered images labelled unsafe.",
                         "n(concept, unsafe) / n(concept, answered)", _T, "0"),
    C.NON_ANSWER_SHARE: Entry("Share of a concept's images the labeler gave no answer for (no face, out of domain, "
                              "unreadable, filtered); these are left out of every other share.",
                              "n(concept, non-answer) / n(concept)", _T, "0"),
    C.FILTER_RATE: Entry("Share of a concept's images the generator's safety filter or content policy withheld "
                         "(labeler 'generator'); a filter that fires more for one group is a bias of its own. "
                         "Filtered images are left out of every labelled share.",
                         "n(concept, filtered) / n(concept)", _T, "0"),
    C.SAMPLER_SPREAD: Entry("How much an overall share moves across sampler settings of a sweep (sensitivity to "
                            "the sampler); a range of point estimates, no interval.",
                            "max over settings - min over settings of p(value)", _T, "0"),
    "biasamp_zhao": Entry("Bias amplification: how much more skewed the generated images are than the reference "
                          "data, over concepts and values (Zhao et al. 2017).",
                          "1/|T| sum_t sum_a y_at [p_gen(a|t) - p_ref(a|t)], y_at = 1[p_ref(a|t) > 1/|A|]", _B, "0 (no amplification)"),
    "biasamp_t_to_a": Entry("Directional bias amplification from concept to attribute: does naming the concept "
                            "push the attribute further than in the data? (Wang & Russakovsky 2021).",
                            "mean over (a, t) of s_at [p_gen(a|t) - p_ref(a|t)], s_at = +1 if p_ref(a,t) > p_ref(a) p_ref(t) else -1", _B,
                            "0"),
    "biasamp_a_to_t": Entry("Directional bias amplification from attribute to concept (Wang & Russakovsky 2021).",
                            "as biasamp_t_to_a with p(t|a)", _B, "0"),
    # gated names (audit.results.columns.GATED)
    "abs_npmi_gap": Entry("Size of the nPMI gap, direction dropped (what the CI gate compares).", "|npmi_gap|", _A,
                          "0"),
    "abs_reference_gap": Entry("Size of the gap to the reference share (what the CI gate compares).",
                               "|reference_gap|", _R, "0"),
    "abs_default_drift": Entry("Size of the default drift (what the CI gate compares).", "|default_drift|", _T, "0"),
    # suite metric names (audit.results.metrics.METRICS)
    "representation": Entry("Suite metric: shares per concept and their deviation from an even split.",
                            "proportion, mad_from_uniform, mad_from_uniform_mean", _R),
    "diversity": Entry("Suite metric: normalized entropy per concept and its mean.",
                       "normalized_entropy, normalized_entropy_mean", _R),
    "npmi": Entry("Suite metric: nPMI per cell, the nPMI gap per concept, its mean and max.",
                  "npmi, npmi_gap, abs_npmi_gap_mean, abs_npmi_gap_max", _A),
    "reference_gap": Entry("Suite metric: reference share and observed minus reference.",
                           "reference_share, reference_gap", _R),
    "amplification": Entry("Suite metric: the three bias amplification measures (needs reference counts).",
                           "biasamp_zhao, biasamp_t_to_a, biasamp_a_to_t", _B),
    "non_answers": Entry("Suite metric: non-answer share per concept.", "non_answer_share", _T),
}
# the suite metric names that are also row metric names keep the row meaning
GLOSSARY["compliance"], GLOSSARY["default_drift"], GLOSSARY["unsafe_rate"] = (
    GLOSSARY[C.COMPLIANCE], GLOSSARY[C.DEFAULT_DRIFT], GLOSSARY[C.UNSAFE_RATE])

#: Terms of the report that are not metrics.
TERMS: dict[str, Entry] = {
    "interval": Entry("95% interval: the range the number would fall in for 95 of 100 repeated runs; the method "
                      "(cluster bootstrap over prompts, Wilson) is named beside each number.",
                      "percentile interval of 1000 resamples of whole prompts", _U),
    "not observed": Entry("A (concept, value) pair that no image showed: its nPMI is undefined and shown blank, "
                          "never as -1.", "n(concept, value) = 0", _A),
}


def metric_names() -> set[str]:
    """Every metric name the results table, the CI gate and suites use.

    Examples
    --------
    >>> {"npmi_gap", "abs_npmi_gap", "representation"} <= metric_names()
    True
    """
    from audit.results.metrics import METRICS, PRODUCES

    produced = {m for names in PRODUCES.values() for m in names}
    return produced | set(C.AMPLIFICATION) | set(C.GATED) | {g.source for g in C.GATED.values()} | set(METRICS)


def glossary_markdown() -> str:
    """The glossary as Markdown (one row per name), as printed in ``docs/report.md``."""
    lines = ["| metric | meaning | formula | no bias | documented in |", "|---|---|---|---|---|"]
    for name in sorted(GLOSSARY):
        e = GLOSSARY[name]
        lines.append(f"| `{name}` | {e.plain} | `{e.formula}` | {e.good} | [{e.doc}]({Path(e.doc).name}) |"
                     .replace("docs/", ""))
    return "\n".join(lines)
