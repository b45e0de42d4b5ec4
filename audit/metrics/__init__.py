"""Bias metrics with uncertainty: DataFrame in, DataFrame out.

Public API (see ``docs/metrics.md``): mergeable counts (:func:`count_pairs`,
:func:`merge_counts`), nPMI (:func:`npmi`, :func:`npmi_gaps`,
:func:`most_skewed`), Wilson intervals (:func:`wilson_interval`), the cluster
bootstrap (:func:`cluster_bootstrap`), and the label pivot (:func:`wide_labels`).
Importing this package loads numpy and pandas only.
"""

from audit.metrics.bootstrap import bootstrap_tables, cluster_bootstrap, cluster_counts
from audit.metrics.counts import Contingency, contingency, count_pairs, merge_counts, wide_labels
from audit.metrics.intervals import percentile_interval, wilson_interval
from audit.metrics.npmi import most_skewed, npmi, npmi_array, npmi_gaps

__all__ = [
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
