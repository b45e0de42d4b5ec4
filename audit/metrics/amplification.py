"""Bias amplification between a reference table (training data) and a generated run.

* Zhao et al. 2017 BiasAmp: ``1/|T| sum_t sum_a y_at (P_gen(a|t) - P_ref(a|t))`` with
  ``y_at = 1[P_ref(a|t) > 1/|A|]``.
* Wang & Russakovsky 2021 directional BiasAmp->:
  ``1/(|A||T|) sum_{a,t} [y_at D_at - (1 - y_at) D_at]`` with
  ``y_at = 1[P_ref(a, t) > P_ref(a) P_ref(t)]`` and ``D_at = P_gen(a|t) - P_ref(a|t)``
  (task -> attribute) or ``P_gen(t|a) - P_ref(t|a)`` (attribute -> task).

Here the task ``t`` is the concept (e.g. profession) and ``a`` the attribute
(e.g. presentation). Positive values mean the run is more skewed than the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.metrics.counts import contingency

__all__ = ["amplification_arrays", "bias_amplification", "align_tables", "METRICS"]

#: Names of the amplification metrics, in output order.
METRICS = ("biasamp_zhao", "biasamp_t_to_a", "biasamp_a_to_t")


def _cond(n: np.ndarray, axis: int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return n / n.sum(axis=axis, keepdims=True)


def amplification_arrays(ref: np.ndarray, gen: np.ndarray) -> dict[str, np.ndarray]:
    """The three amplification values for aligned tables ``ref[X, Y]`` and ``gen[..., X, Y]``.

    Concepts (or attributes) empty in ``gen`` drop out of the averages.

    Examples
    --------
    >>> ref = np.array([[8.0, 2.0], [2.0, 8.0]])
    >>> {k: round(float(v), 3) for k, v in amplification_arrays(ref, np.array([[10.0, 0.0], [0.0, 10.0]])).items()}
    {'biasamp_zhao': 0.2, 'biasamp_t_to_a': 0.2, 'biasamp_a_to_t': 0.2}
    """
    ref = np.asarray(ref, dtype=float)
    gen = np.asarray(gen, dtype=float)
    p_a_t, g_a_t = _cond(ref, -1), _cond(gen, -1)  # P(a | t), rows are concepts
    p_t_a, g_t_a = _cond(ref, -2), _cond(gen, -2)  # P(t | a)
    n_attr = ref.shape[-1]
    joint = ref / ref.sum()
    y_dir = joint > joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    y_zhao = p_a_t > 1.0 / n_attr
    sign = np.where(y_dir, 1.0, -1.0)
    d_ta, d_at = g_a_t - p_a_t, g_t_a - p_t_a
    with np.errstate(invalid="ignore"):
        zhao_t = np.where(y_zhao, d_ta, 0.0).sum(axis=-1)  # (..., X), NaN for empty concepts
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {
                "biasamp_zhao": np.nanmean(zhao_t, axis=-1),
                "biasamp_t_to_a": np.nanmean(sign * d_ta, axis=(-2, -1)),
                "biasamp_a_to_t": np.nanmean(sign * d_at, axis=(-2, -1)),
            }


def align_tables(reference: pd.DataFrame, generated: pd.DataFrame, *, concept: str, attribute: str):
    """Dense reference and generated tables on the reference's attribute values and shared concepts.

    Examples
    --------
    >>> r = pd.DataFrame({"c": ["a", "b"], "g": ["f", "m"], "n": [1, 1]})
    >>> ref, gen = align_tables(r, r.assign(n=[2, 0]), concept="c", attribute="g")
    >>> ref.concepts, gen.n.tolist()
    (('a', 'b'), [[2.0, 0.0], [0.0, 0.0]])
    """
    ref = contingency(reference, concept=concept, attribute=attribute)
    gen_c = set(generated[concept].astype(str))
    shared = tuple(c for c in ref.concepts if c in gen_c)
    if not shared:
        raise UserError(f"bias_amplification: no {concept} value shared by reference and run (fix: check the names)")
    ref = contingency(reference, concept=concept, attribute=attribute, concepts=shared, attributes=ref.attributes)
    gen = contingency(generated, concept=concept, attribute=attribute, concepts=shared, attributes=ref.attributes)
    return ref, gen


def bias_amplification(reference: pd.DataFrame, generated: pd.DataFrame, *, concept: str, attribute: str) -> pd.DataFrame:
    """BiasAmp (Zhao 2017) and directional BiasAmp-> both ways (Wang & Russakovsky 2021).

    Parameters
    ----------
    reference : pandas.DataFrame
        Counts ``[concept, attribute, n]`` of the training data (world truth or a dataset audit).
    generated : pandas.DataFrame
        Counts ``[concept, attribute, n]`` of the generated run.
    concept, attribute : str
        Key column names. Only concepts present in both and the reference's
        attribute values are used.

    Returns
    -------
    pandas.DataFrame
        ``[metric, value]`` with the metrics of :data:`METRICS`.

    Examples
    --------
    >>> ref = pd.DataFrame({"job": ["ceo", "ceo", "nurse", "nurse"], "g": ["f", "m", "f", "m"], "n": [3, 7, 8, 2]})
    >>> bias_amplification(ref, ref, concept="job", attribute="g").value.tolist()
    [0.0, 0.0, 0.0]
    """
    ref, gen = align_tables(reference, generated, concept=concept, attribute=attribute)
    vals = amplification_arrays(ref.n, gen.n)
    return pd.DataFrame({"metric": list(METRICS), "value": [float(vals[m]) for m in METRICS]})
