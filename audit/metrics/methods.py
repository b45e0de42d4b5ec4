"""Interval methods of :class:`~audit.metrics.AuditFrame`: their names, assumptions and how one is chosen."""

from __future__ import annotations

from audit.metrics.design import INDEPENDENT, DesignEffect, design_effect_posterior

__all__ = ["INTERVALS", "CHOICES", "resolve_method"]

#: Interval methods: name -> what it assumes (the ``method`` column of every interval table).
INTERVALS = {
    "jeffreys_deff": "Jeffreys posterior on effective counts n / phi, with phi drawn from its posterior given "
    "the pooled within-concept Pearson dispersion of prompt clusters (prior: P(phi = 1) = 1/4, else log-uniform "
    "up to the cluster size); shortest 95% interval of the Dirichlet draws, a zero cell's lower bound 0",
    "jeffreys_iid": "Jeffreys posterior treating images as independent (cluster=None)",
    "jeffreys_iid_ignores_prompt_effects": "fallback: one cluster per concept, so the design effect cannot be "
    "estimated; Jeffreys posterior treating images as independent, ignoring prompt effects (too narrow when "
    "prompts differ)",
    "stratified_bootstrap": "percentile bootstrap resampling clusters within each concept",
    "cluster_bootstrap": "percentile bootstrap resampling all clusters together (the method before issue 15; "
    "too narrow with few prompts per concept)",
}
CHOICES = ("auto", *INTERVALS)


def resolve_method(interval: str, ccs, *, cluster) -> tuple[str, DesignEffect, object]:
    """The interval method actually used, the posterior of its design effect and the cluster counts behind it.

    With several cluster columns the factor with the largest posterior mean design effect is used.

    Parameters
    ----------
    interval : str
        ``"auto"`` or a name in :data:`INTERVALS`.
    ccs : list of ClusterCounts
        One per cluster column (:func:`~audit.metrics.cluster_counts`).
    cluster : str or sequence or None
        The cluster column(s) asked for.

    Returns
    -------
    (str, DesignEffect, ClusterCounts or None)

    Examples
    --------
    >>> resolve_method("auto", [], cluster=None)[0]
    'jeffreys_iid'
    """
    if interval in ("cluster_bootstrap", "stratified_bootstrap"):
        return interval, INDEPENDENT, None
    if interval == "jeffreys_iid" or cluster is None:
        return "jeffreys_iid", INDEPENDENT, None
    estimates = [(design_effect_posterior(cc), cc) for cc in ccs]
    estimates = [e for e in estimates if e[0].df > 0]
    if not estimates:
        return "jeffreys_iid_ignores_prompt_effects", INDEPENDENT, None
    best = max(estimates, key=lambda e: e[0].mean)
    return "jeffreys_deff", best[0], best[1]
