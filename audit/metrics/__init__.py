"""Bias metrics with uncertainty: DataFrame in, DataFrame out.

Public API (see ``docs/metrics.md``): mergeable counts (:func:`count_pairs`,
:func:`merge_counts`), nPMI (:func:`npmi`, :func:`npmi_gaps`,
:func:`most_skewed`), Wilson intervals (:func:`wilson_interval`), the cluster
bootstrap (:func:`cluster_bootstrap`), representation (:func:`proportions`,
:func:`representation`, :func:`reference_gap`), amplification
(:func:`bias_amplification`), labeler-error correction (:func:`correct_counts`; the Bayesian posterior
:func:`posterior_shares`, :func:`posterior_estimate`),
the design effect, its posterior and Jeffreys posterior draws (:func:`dispersion`, :func:`design_effect_posterior`,
:func:`posterior_tables`), the label pivot (:func:`wide_labels`) and
:class:`AuditFrame` (interval methods in :data:`INTERVALS`).
Importing this package loads numpy and pandas only.
"""

from audit.metrics.amplification import align_tables, amplification_arrays, bias_amplification
from audit.metrics.bootstrap import bootstrap_tables, cluster_bootstrap, cluster_counts
from audit.metrics.correction import (
    confusion_array,
    confusion_is_counts,
    correct_array,
    correct_counts,
    correct_draws,
    draw_confusions,
    rogan_gladen,
    simplex_lsq,
    simplex_lsq_batch,
)
from audit.metrics.counts import Contingency, contingency, count_pairs, merge_counts, sort_labels, wide_labels
from audit.metrics.design import (
    DesignEffect,
    design_effect_posterior,
    dispersion,
    label_noise_factor,
    posterior_tables,
    unit_strata,
)
from audit.metrics.frame import INTERVALS, AuditFrame
from audit.metrics.intervals import (
    beta_interval,
    beta_mixture_shortest,
    percentile_interval,
    shortest_interval,
    wilson_interval,
)
from audit.metrics.npmi import gap_array, most_skewed, npmi, npmi_array, npmi_gaps
from audit.metrics.posterior import expected_shares, posterior_estimate, posterior_shares
from audit.metrics.tidy import TIDY_COLUMNS, tidy_results
from audit.metrics.representation import (
    entropy_array,
    mad_array,
    proportions,
    proportions_array,
    reference_gap,
    reference_shares,
    reference_table,
    representation,
)

__all__ = [
    "AuditFrame",
    "INTERVALS",
    "TIDY_COLUMNS",
    "tidy_results",
    "beta_interval",
    "confusion_is_counts",
    "correct_draws",
    "dispersion",
    "DesignEffect",
    "design_effect_posterior",
    "label_noise_factor",
    "beta_mixture_shortest",
    "shortest_interval",
    "draw_confusions",
    "posterior_tables",
    "unit_strata",
    "align_tables",
    "amplification_arrays",
    "bias_amplification",
    "confusion_array",
    "correct_counts",
    "entropy_array",
    "gap_array",
    "mad_array",
    "proportions",
    "proportions_array",
    "reference_gap",
    "reference_shares",
    "reference_table",
    "representation",
    "rogan_gladen",
    "simplex_lsq",
    "simplex_lsq_batch",
    "correct_array",
    "posterior_estimate",
    "expected_shares",
    "posterior_shares",
    "sort_labels",
    "Contingency",
    "bootstrap_tables",
    "cluster_bootstrap",
    "cluster_counts",
    "contingency",
    "count_pairs",
    "merge_counts",
    "most_skewed",
    "npmi",
    "npmi_array",
    "npmi_gaps",
    "percentile_interval",
    "wide_labels",
    "wilson_interval",
]
