"""AuditFrame: every metric of one (concept, attribute) table, computed once, read many ways.

In the spirit of fairlearn's ``MetricFrame``: build it from a per-image table,
then read ``by_group``, ``by_group_ci``, ``by_concept``, ``difference()``,
``ratio()``, ``gaps()`` and ``amplification()``, all DataFrames. Intervals
come from one set of resampled tables, drawn once and shared, by the method
in :data:`INTERVALS` that :attr:`AuditFrame.method` names (every interval
table carries it in a ``method`` column).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.metrics.bootstrap import bootstrap_tables, cluster_counts
from audit.metrics.correction import correct_table
from audit.metrics.counts import Contingency, sort_labels
from audit.metrics.design import JEFFREYS, posterior_tables
from audit.metrics.intervals import beta_mixture_shortest, draw_spread, percentile_interval, shortest_interval
from audit.metrics.methods import CHOICES, INTERVALS, resolve_method
from audit.metrics.npmi import gap_array, npmi_array
from audit.metrics.representation import entropy_array, mad_array, proportions_array, reference_shares

__all__ = ["AuditFrame", "INTERVALS"]


class AuditFrame:
    """Bias metrics of one concept x attribute table with intervals whose coverage is measured.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per image (e.g. from :func:`~audit.metrics.wide_labels`).
    concept, attribute : str
        Columns, e.g. ``"profession"`` (what the prompt asked) and ``"presentation"`` (what was drawn).
    cluster : str or sequence of str or None, default "prompt_id"
        Cluster column(s); None treats images as independent.
    weight : str, optional
        Per-row weights.
    reference : pandas.DataFrame, optional
        Reference distribution ``[concept, attribute, p]`` or counts ``[concept, attribute, n]``
        (counts also enable :meth:`amplification`).
    confusion : pandas.DataFrame, optional
        The labeler's confusion matrix (index true, columns predicted) for corrected columns.
        Validation counts (rows not summing to 1) carry the matrix's own sampling
        uncertainty into corrected intervals (rows drawn from ``Dirichlet(counts + 1/2)``);
        shares are taken as exact (``method_corrected`` says which).
    attributes : sequence of str, optional
        Every value the attribute can take, in display order (values never
        observed count as 0, so a run that draws one group only is not
        "uniform"); observed values outside it are appended.
    n_resamples : int, default 1000
        Resampled tables (0 disables intervals).
    confidence : float, default 0.95
    seed : int, default 0
    interval : str, default "auto"
        One of :data:`INTERVALS` or ``"auto"`` (``jeffreys_deff``, falling back to
        ``jeffreys_iid_ignores_prompt_effects`` with one cluster per concept and to
        ``jeffreys_iid`` with ``cluster=None``). Measured coverage: ``docs/metrics.md``.
    npmi_prior : float, default 0.5
        Pseudo-count added to every cell before nPMI (Jeffreys smoothing), so that an
        empty cell is not reported as -1; 0 gives the plug-in nPMI.
    correction : {"gibbs", "lsq"}, default "gibbs"
        How corrected columns are computed with the Jeffreys methods. ``"gibbs"``: the
        Bayesian posterior of the true shares (:mod:`audit.metrics.posterior`; estimate
        :func:`~audit.metrics.posterior.posterior_estimate`, one posterior draw per table
        draw; ``method_corrected`` contains ``+gibbs``); ``"lsq"``: least squares on the
        simplex per draw (the method before). Bootstrap methods always use ``"lsq"``.

    Examples
    --------
    >>> df = pd.DataFrame({"prompt_id": range(8), "job": ["ceo"] * 4 + ["nurse"] * 4,
    ...                    "g": ["m", "m", "m", "f", "f", "f", "f", "m"]})
    >>> af = AuditFrame(df, concept="job", attribute="g", n_resamples=200)
    >>> af.by_group.loc[("ceo", "m"), "proportion"]
    np.float64(0.75)
    >>> af.difference().proportion.tolist()
    [0.5, 0.5]
    >>> af.method
    'jeffreys_deff'
    """

    def __init__(
        self,
        data: pd.DataFrame,
        *,
        concept: str,
        attribute: str,
        cluster: str | Sequence[str] | None = "prompt_id",
        weight: str | None = None,
        reference: pd.DataFrame | None = None,
        confusion: pd.DataFrame | None = None,
        attributes: Sequence[str] | None = None,
        n_resamples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
        interval: str = "auto",
        npmi_prior: float = JEFFREYS,
        correction: str = "gibbs",
    ) -> None:
        if correction not in ("gibbs", "lsq"):
            raise UserError(f"AuditFrame: unknown correction {correction!r} (fix: 'gibbs' or 'lsq')")
        if interval not in CHOICES:
            raise UserError(f"AuditFrame: unknown interval {interval!r} (fix: one of {list(CHOICES)})")
        self.concept, self.attribute, self.confidence = concept, attribute, confidence
        self.npmi_prior = float(npmi_prior)
        self._seed = seed
        self._drawing: str | None = None
        observed = sort_labels(data[attribute].dropna().astype(str).unique())
        labels = None if attributes is None else tuple(map(str, attributes))
        if labels is not None:
            labels += tuple(v for v in observed if v not in labels)
        if confusion is not None:
            labels = sort_labels(confusion.index) if labels is None else labels
            extra = sorted(set(observed) - set(map(str, confusion.index)))
            if extra:
                raise UserError(
                    f"AuditFrame: {attribute} values {extra} are not in the confusion matrix "
                    "(fix: filter those rows out or extend the matrix)"
                )
        cc = cluster_counts(data, concept=concept, attribute=attribute, cluster=cluster, weight=weight, attributes=labels)
        if not cc.concepts or not cc.attributes:
            raise UserError(f"AuditFrame: no rows with both {concept!r} and {attribute!r} set (fix: check the columns)")
        self.table: Contingency = cc.table()
        factors = [] if cluster is None or isinstance(cluster, str) else list(cluster)
        per_factor = [cc] if len(factors) < 2 else [
            cluster_counts(data, concept=concept, attribute=attribute, cluster=f, weight=weight, attributes=labels)
            for f in factors]
        self.method, self.design, self._design_cc = resolve_method(interval, per_factor, cluster=cluster)
        #: Posterior mean of the design effect and its degrees of freedom (1 and 0 when not estimated).
        self.design_effect, self.design_df = self.design.mean, self.design.df
        self._boot = self._draw(cc, n_resamples=n_resamples, seed=seed) if n_resamples > 0 else None
        self.reference = reference
        self._ref_p = (
            reference_shares(reference, concept=concept, attribute=attribute, concepts=cc.concepts, attributes=cc.attributes)
            if reference is not None
            else None
        )
        self.corrected: Contingency | None = None
        self.method_corrected: str | None = None
        #: Design-effect posterior behind the corrected draws: of the true shares (see label_noise_factor).
        self.design_corrected = self.design
        #: The corrected draws, the raw draws they are compared with, and whether they are Gibbs posterior draws.
        self._boot_corrected = self._boot_to_correct = None
        self._bayes = False
        if confusion is not None:
            c = correct_table(self.table.n, confusion, attributes=cc.attributes, method=self.method,
                              design=self.design, design_cc=self._design_cc, draws=self._boot,
                              n_resamples=n_resamples, seed=seed, correction=correction)
            self.corrected = Contingency(cc.concepts, cc.attributes, c.n)
            self.method_corrected, self.design_corrected, self._bayes = c.method, c.design, c.bayes
            self._boot_to_correct, self._boot_corrected = c.to_correct, c.draws

    def _draw(self, cc, *, n_resamples: int, seed: int) -> np.ndarray:
        if self.method.startswith("jeffreys"):
            return posterior_tables(self.table.n, phi=self.design, size=n_resamples, seed=seed)
        return bootstrap_tables(cc, n_resamples=n_resamples, seed=seed, stratified=self.method == "stratified_bootstrap")

    # ------------------------------------------------------------------ helpers
    @property
    def counts(self) -> pd.DataFrame:
        """Counts ``[concept, attribute, n]`` over the full grid."""
        return self.table.to_long(self.table.n, concept=self.concept, attribute=self.attribute, name="n")

    def _npmi(self, n: np.ndarray) -> np.ndarray:
        # Raw Jeffreys draws already carry the prior (nPMI of a draw is the population nPMI it stands
        # for). Corrected draws are smoothed like the point estimate: least-squares draws can sit on the
        # simplex's boundary (exact zeros); for Gibbs posterior draws smoothing was measured to keep gap
        # coverage with narrower intervals (docs/metrics.md).
        drawn = self._drawing == "raw" and self.method.startswith("jeffreys")
        return npmi_array(n, prior=0.0 if drawn else self.npmi_prior)

    def _methods(self, cols: dict, *, corrected: bool = True) -> dict:
        if self._boot is not None:
            cols["method"] = self.method
            if corrected and self._boot_corrected is not None:
                cols["method_corrected"] = self.method_corrected
        return cols

    def _cell(self, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        out = self.table.to_long(self.table.n, concept=self.concept, attribute=self.attribute, name="n").drop(columns="n")
        for k, v in columns.items():
            out[k] = v if isinstance(v, str) else np.asarray(v, dtype=float).reshape(-1)
        return out.set_index([self.concept, self.attribute])

    def _per_concept(self, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        out = pd.DataFrame({k: v if isinstance(v, str) else np.asarray(v, dtype=float) for k, v in columns.items()},
                           index=pd.Index(list(self.table.concepts), name=self.concept))
        return out

    def _ci(self, fn: Callable[[np.ndarray], np.ndarray], *, corrected: bool = False,
            shortest: bool = False) -> tuple[np.ndarray, np.ndarray]:
        if self._boot is None:
            raise UserError("AuditFrame: intervals need n_resamples > 0 (fix: build it with n_resamples=1000)")
        self._drawing = "corrected" if corrected else "raw"
        try:
            values = fn(self._boot_corrected if corrected else self._boot)
        finally:
            self._drawing = None
        return self._interval(values, shortest=shortest)

    def _interval(self, values: np.ndarray, *, shortest: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval; with ``shortest``, the shortest interval of posterior draws (not of bootstraps)."""
        if shortest and self.method.startswith("jeffreys"):
            return shortest_interval(values, confidence=self.confidence)
        return percentile_interval(values, confidence=self.confidence)

    def _proportion_ci(self) -> tuple[np.ndarray, np.ndarray]:
        """Proportion intervals: the shortest interval of the exact posterior marginal (a Beta mixture over phi).

        A zero cell's lower bound is 0 and a full cell's upper bound 1.
        """
        if not self.method.startswith("jeffreys"):
            return self._ci(proportions_array)
        if self._boot is None:
            raise UserError("AuditFrame: intervals need n_resamples > 0 (fix: build it with n_resamples=1000)")
        n = self.table.n
        row = n.sum(axis=-1, keepdims=True)
        phi, w = self.design.representative()
        shape = (-1,) + (1,) * n.ndim
        a = n[None] / phi.reshape(shape) + JEFFREYS
        # the other values' prior mass; an attribute seen with one value still gets a proper Beta
        b = (row - n)[None] / phi.reshape(shape) + JEFFREYS * max(n.shape[-1] - 1, 1)
        lo, hi = beta_mixture_shortest(a, b, weights=w, confidence=self.confidence, seed=self._seed)
        lo = np.where(n <= 0, 0.0, lo)
        hi = np.where((n >= row) & (row > 0), 1.0, hi)
        empty = row <= 0
        return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)

    def _with_ci(self, fns: dict[str, Callable[[np.ndarray], np.ndarray]]) -> dict[str, np.ndarray]:
        cols: dict[str, np.ndarray] = {}
        for name, fn in fns.items():
            cols[f"{name}_lo"], cols[f"{name}_hi"] = self._proportion_ci() if fn is proportions_array else self._ci(fn)
        if self._boot_corrected is not None:
            for name, fn in fns.items():
                cols[f"{name}_corrected_lo"], cols[f"{name}_corrected_hi"] = (
                    self._corrected_proportion_ci() if fn is proportions_array
                    else self._ci(fn, corrected=True))
        return self._methods(cols)

    def _corrected_proportion_ci(self) -> tuple[np.ndarray, np.ndarray]:
        """Corrected proportion intervals: the exact raw interval, moved to the corrected estimate and rescaled.

        Jeffreys methods: ``p_c - (p - lo) * r`` to ``p_c + (hi - p) * r``: ``(lo, hi)`` the exact
        raw interval (no Monte Carlo error), ``p``/``p_c`` the raw/corrected estimates, ``r`` the
        corrected draws' spread over that of raw draws with the corrected design effect (carries
        the matrix's uncertainty and the label-noise design effect; at least 1: noisy labels say
        no more than true ones). Gibbs posterior draws: spread = width of the central
        ``confidence`` range; least-squares draws (which came from those raw draws, common random
        numbers): standard deviation. Raw bounds at 0 or 1 stay. Identity matrix: the raw
        interval. Coverage: ``docs/metrics.md``. Bootstraps: the corrected resamples' shortest
        interval.
        """
        if not self.method.startswith("jeffreys"):
            return self._ci(proportions_array, corrected=True, shortest=True)
        lo, hi = self._proportion_ci()
        raw_p, cor_p = proportions_array(self.table.n), proportions_array(self.corrected.n)
        with np.errstate(invalid="ignore", divide="ignore"):
            s_raw, s_cor = (draw_spread(proportions_array(d), confidence=self.confidence, central=self._bayes)
                            for d in (self._boot_to_correct, self._boot_corrected))
            ratio = np.where(s_raw > 0, s_cor / s_raw, 1.0)
        # n labels through a noisy channel say no more than n true labels: never narrower than raw
        ratio = np.fmax(ratio, 1.0)
        lo_c = np.where(lo <= 0, 0.0, np.clip(cor_p - (raw_p - lo) * ratio, 0.0, 1.0))
        hi_c = np.where(hi >= 1, 1.0, np.clip(cor_p + (hi - raw_p) * ratio, 0.0, 1.0))
        empty = np.isnan(raw_p)
        return np.where(empty, np.nan, lo_c), np.where(empty, np.nan, hi_c)

    # ------------------------------------------------------------------ views
    @property
    def by_group(self) -> pd.DataFrame:
        """Per (concept, attribute): ``n, proportion, npmi`` (+ reference and corrected columns).

        ``npmi`` is smoothed by ``npmi_prior`` (see the class parameters).
        """
        n = self.table.n
        cols = {"n": n, "proportion": proportions_array(n), "npmi": self._npmi(n)}
        if self._ref_p is not None:
            p_ref = self._ref_p
            cols["proportion_ref"] = p_ref
            cols["difference_to_reference"] = cols["proportion"] - p_ref
            with np.errstate(divide="ignore", invalid="ignore"):
                cols["ratio_to_reference"] = np.where(p_ref > 0, cols["proportion"] / np.where(p_ref > 0, p_ref, 1), np.nan)
        if self.corrected is not None:
            m = self.corrected.n
            cols.update(n_corrected=m, proportion_corrected=proportions_array(m), npmi_corrected=self._npmi(m))
        return self._cell(cols)

    @property
    def by_group_ci(self) -> pd.DataFrame:
        """Intervals ``proportion_lo/hi, npmi_lo/hi`` (+ ``*_corrected_lo/hi``) per group, and ``method``.

        A cell with no images gets ``proportion_lo = 0`` and a positive upper bound.
        """
        return self._cell(self._with_ci({"proportion": proportions_array, "npmi": self._npmi}))

    @property
    def by_concept(self) -> pd.DataFrame:
        """Per concept: ``n, mad_from_uniform, normalized_entropy`` (+ corrected)."""
        n = self.table.n
        cols = {"n": n.sum(axis=1), "mad_from_uniform": mad_array(n), "normalized_entropy": entropy_array(n)}
        if self.corrected is not None:
            cols.update(
                mad_from_uniform_corrected=mad_array(self.corrected.n),
                normalized_entropy_corrected=entropy_array(self.corrected.n),
            )
        return self._per_concept(cols)

    @property
    def by_concept_ci(self) -> pd.DataFrame:
        """Intervals of :attr:`by_concept`'s metrics, and ``method``."""
        return self._per_concept(self._with_ci({"mad_from_uniform": mad_array, "normalized_entropy": entropy_array}))

    def difference(self, *, method: str = "between_groups") -> pd.DataFrame:
        """Largest minus smallest group share per concept, or share minus reference share.

        Parameters
        ----------
        method : {"between_groups", "to_reference"}

        Returns
        -------
        pandas.DataFrame
            ``between_groups``: per concept, column ``proportion``; ``to_reference``:
            per (concept, attribute), column ``difference`` with ``lo``/``hi`` intervals.
        """
        from audit.metrics.summary import compare_table

        return compare_table(self, method=method, op=np.subtract, name="difference")

    def ratio(self, *, method: str = "between_groups") -> pd.DataFrame:
        """Smallest over largest group share per concept, or share over reference share.

        Parameters
        ----------
        method : {"between_groups", "to_reference"}

        Returns
        -------
        pandas.DataFrame
            Like :meth:`difference`, with ``proportion`` / ``ratio`` columns.
        """
        from audit.metrics.summary import compare_table

        return compare_table(self, method=method, op=np.divide, name="ratio")

    def gaps(self, *, groups: tuple[str, str] = ("feminine", "masculine")) -> pd.DataFrame:
        """nPMI gap ``groups[0] - groups[1]`` per concept with ``lo``/``hi``, ``method`` (and ``gap_corrected``).

        Both nPMI values are smoothed by ``npmi_prior``, so an empty cell does not fix a side at -1.
        """
        attrs = self.table.attributes
        fn = lambda n: gap_array(self._npmi(n), attrs, groups)  # noqa: E731
        cols = {"gap": fn(self.table.n)}
        if self._boot is not None:
            cols["lo"], cols["hi"] = self._ci(fn)
        if self.corrected is not None:
            cols["gap_corrected"] = fn(self.corrected.n)
            if self._boot is not None:
                cols["gap_corrected_lo"], cols["gap_corrected_hi"] = self._ci(fn, corrected=True)
        return self._per_concept(self._methods(cols))

    def headline(self, *, groups: tuple[str, str] | None = None) -> pd.DataFrame:
        """Headline numbers with intervals: ``metric, value, lo, hi, method`` (+ ``value_corrected``).

        Rows: ``mad_from_uniform_mean`` and ``normalized_entropy_mean`` (means over
        concepts), and with ``groups`` the mean and max over concepts of
        ``|nPMI(groups[0]) - nPMI(groups[1])|`` (:func:`audit.metrics.summary.headline_table`).

        Examples
        --------
        >>> df = pd.DataFrame({"prompt_id": range(8), "job": ["ceo", "nurse"] * 4, "g": ["m", "f"] * 4})
        >>> AuditFrame(df, concept="job", attribute="g", n_resamples=20).headline().value.tolist()
        [0.5, 0.0]
        """
        from audit.metrics.summary import headline_table

        return headline_table(self, groups=groups)

    def results(self, *, groups: tuple[str, str] | None = None) -> pd.DataFrame:
        """One tidy row per estimate: ``concept, attribute, value, metric, estimate, lo, hi, n, method, corrected``.

        See :func:`audit.metrics.tidy.tidy_results`.
        """
        from audit.metrics.tidy import tidy_results

        return tidy_results(self, groups=groups)

    def amplification(self) -> pd.DataFrame:
        """Bias amplification against the reference counts: ``metric, value, lo, hi, method`` (+ corrected).

        Needs ``reference`` with a count column ``n`` (the training data's table). Like
        :func:`~audit.metrics.bias_amplification`, it uses the concepts the reference has and
        only the attribute values the reference has (``|A|`` in Zhao's threshold counts those);
        see :func:`audit.metrics.summary.amplification_table`.
        """
        from audit.metrics.summary import amplification_table

        return amplification_table(self)
