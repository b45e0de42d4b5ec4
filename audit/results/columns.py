"""Names of the results table: its columns, its metrics and how the CI gate reads them (torch-free).

One row of ``results.parquet`` is one number: a metric of one (setting, slot,
concept, labeler, attribute, value) cell, with its interval, the images behind it
and the interval method. Every reader (report, gate, demo, CLI summaries) uses
these names.

Examples
--------
>>> COLUMNS[:4]
('setting', 'slot', 'concept', 'labeler')
>>> GATED["abs_npmi_gap"].source, GATED["abs_npmi_gap"].direction
('npmi_gap', 'up')
"""

from __future__ import annotations

from dataclasses import dataclass

from audit import schema as _schema

__all__ = ["COLUMNS", "KEY", "ALL", "ANY", "NONE_VALUE", "NON_ANSWERS", "NOT_OBSERVED", "FORMAT", "FILE", "JSON_FILE",
           "PROPORTION", "NPMI", "NPMI_GAP", "MAD", "ENTROPY", "MAD_MEAN", "ENTROPY_MEAN", "GAP_MEAN", "GAP_MAX",
           "REFERENCE_SHARE", "REFERENCE_GAP", "COMPLIANCE", "DEFAULT_DRIFT", "UNSAFE_RATE", "NON_ANSWER_SHARE",
           "SAMPLER_SPREAD", "AMPLIFICATION", "GAP_GROUPS", "AXIS_TARGETS", "UNSAFE_TRUE", "MAX_CATEGORIES",
           "KNOWN_VALUES", "Gated", "GATED"]

#: Columns of ``results.parquet``, in order.
COLUMNS = ("setting", "slot", "concept", "labeler", "attribute", "value", "metric", "estimate", "lo", "hi", "n",
           "total", "method", "corrected", "note")
#: Columns that identify one number.
KEY = ("setting", "slot", "concept", "labeler", "attribute", "value", "metric", "corrected")
#: File names in a run directory and the format tag of the JSON view.
FILE, JSON_FILE, FORMAT = "results.parquet", "results.json", "imagen-audit-results/2"

#: ``slot`` of rows about all images of a setting (``concept`` is then :data:`ALL`).
ALL = "all"
#: ``concept``/``value``/``setting`` of rows that summarise over concepts, values or settings.
ANY = "*"
#: Concept of an axis the prompt leaves out (the counterfactual "without these words").
NONE_VALUE = "(none)"
#: Label values that are explicit non-answers (owned by :mod:`audit.schema`): left out of shares, counted as
#: :data:`NON_ANSWER_SHARE`.
NON_ANSWERS = (*_schema.NON_ANSWERS, _schema.NO_SKIN)
#: ``note`` of a cell never observed (its nPMI is undefined, not -1).
NOT_OBSERVED = "not observed"

# ---------------------------------------------------------------- metric names (the ``metric`` column)
PROPORTION = "proportion"            # share of ``value`` among the concept's answered images
NPMI = "npmi"                        # nPMI(concept, value); NaN where the cell is empty
NPMI_GAP = "npmi_gap"                # nPMI(concept, a) - nPMI(concept, b); value "a - b"
MAD = "mad_from_uniform"             # mean |share - 1/K| per concept
ENTROPY = "normalized_entropy"       # entropy of the shares / ln K per concept
MAD_MEAN, ENTROPY_MEAN = "mad_from_uniform_mean", "normalized_entropy_mean"   # concept "*"
GAP_MEAN, GAP_MAX = "abs_npmi_gap_mean", "abs_npmi_gap_max"                    # concept "*"
REFERENCE_SHARE = "reference_share"  # the suite's (or a given) reference share; no interval
REFERENCE_GAP = "reference_gap"      # share - reference share
COMPLIANCE = "compliance"            # share of images prompted with an axis value that show it
DEFAULT_DRIFT = "default_drift"      # share of a group without the axis words - 1/K
UNSAFE_RATE = "unsafe_rate"          # share of images labelled unsafe
NON_ANSWER_SHARE = "non_answer_share"  # share of images the labeler gave no answer for
SAMPLER_SPREAD = "sampler_spread"    # max - min over settings of an overall share; setting "*"
#: Bias amplification metrics (need reference counts); concept and value "*".
AMPLIFICATION = ("biasamp_zhao", "biasamp_t_to_a", "biasamp_a_to_t")

#: The pair of values whose nPMI gap is reported, per attribute (other attributes get nPMI per cell only).
GAP_GROUPS: dict[str, tuple[str, str]] = {"presentation": ("feminine", "masculine"), "skin_group": ("light", "dark")}
#: Counterfactual axis -> (labelled attribute, {axis value: label value}) for compliance and default drift.
#: An axis whose values are values of a labelled attribute of the same name needs no entry.
AXIS_TARGETS: dict[str, tuple[str, dict[str, str]]] = {
    "skin_tone": ("skin_group", {"light-skinned": "light", "medium-skinned": "medium", "dark-skinned": "dark"}),
    "gender": ("presentation", {"woman": "feminine", "man": "masculine", "female": "feminine", "male": "masculine"}),
}
#: Label value counted by :data:`UNSAFE_RATE` (attribute ``unsafe``).
UNSAFE_TRUE = "true"
#: Attributes with more distinct values than this (numeric readings such as ITA degrees) get no shares.
MAX_CATEGORIES = 30
#: Every value of the world attributes (owned by :mod:`audit.schema`), so values never drawn count as 0
#: when a labeler does not declare its own.
KNOWN_VALUES: dict[str, tuple[str, ...]] = dict(_schema.WORLD_ATTRIBUTES)


@dataclass(frozen=True)
class Gated:
    """A number the CI gate checks: read from table rows of metric ``source``.

    ``absolute``: the gate compares ``|estimate|`` (interval folded accordingly);
    ``direction``: ``"up"`` when larger is more biased, ``"down"`` when smaller is;
    ``group``: ``"concept"``, ``"concept/value"`` or ``"*"`` (what the gate's group column holds).
    """

    name: str
    source: str
    direction: str
    meaning: str
    absolute: bool = False
    group: str = "concept"


#: Every gated metric, by name (the names policies and baselines use).
GATED: dict[str, Gated] = {g.name: g for g in (
    Gated("abs_npmi_gap", NPMI_GAP, "up", "|nPMI(concept, a) - nPMI(concept, b)| for the attribute's pair of groups",
          absolute=True),
    Gated("normalized_entropy", ENTROPY, "down", "entropy of the concept's group shares / ln(#groups) (diversity)"),
    Gated("mad_from_uniform", MAD, "up", "mean absolute deviation of the concept's group shares from uniform"),
    Gated("abs_reference_gap", REFERENCE_GAP, "up", "|share - reference share| of one group for the concept",
          absolute=True, group="concept/value"),
    Gated(GAP_MEAN, GAP_MEAN, "up", "mean over concepts of abs_npmi_gap", group="*"),
    Gated(GAP_MAX, GAP_MAX, "up", "max over concepts of abs_npmi_gap", group="*"),
    Gated(ENTROPY_MEAN, ENTROPY_MEAN, "down", "mean over concepts of normalized_entropy", group="*"),
    Gated(MAD_MEAN, MAD_MEAN, "up", "mean over concepts of mad_from_uniform", group="*"),
    Gated("biasamp_zhao", "biasamp_zhao", "up", "bias amplification against reference counts (Zhao et al. 2017)",
          group="*"),
    Gated("biasamp_t_to_a", "biasamp_t_to_a", "up", "directional BiasAmp, concept -> attribute (Wang & Russakovsky 2021)",
          group="*"),
    Gated("biasamp_a_to_t", "biasamp_a_to_t", "up", "directional BiasAmp, attribute -> concept (Wang & Russakovsky 2021)",
          group="*"),
    Gated(COMPLIANCE, COMPLIANCE, "down", "share of images prompted with an axis value that show it"),
    Gated("abs_default_drift", DEFAULT_DRIFT, "up", "|share of a group without the axis words - 1/#groups|",
          absolute=True, group="concept/value"),
    Gated(UNSAFE_RATE, UNSAFE_RATE, "up", "share of the concept's images labelled unsafe"),
)}
