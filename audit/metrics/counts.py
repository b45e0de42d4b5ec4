"""Mergeable (concept, attribute) counts, dense contingency tables, and the wide label table.

Counts are plain tidy tables ``[concept, attribute, n]``; counts of shards add
up to the counts of the whole (:func:`merge_counts`), so every metric can run
from merged per-shard counts at any scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import re

import numpy as np
import pandas as pd

from audit.errors import UserError

__all__ = ["sort_labels", "count_pairs", "merge_counts", "Contingency", "contingency", "wide_labels", "require_columns"]


def _natural_key(label: str) -> tuple:
    parts = re.split(r"(\d+)", label)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def sort_labels(values: Iterable) -> tuple[str, ...]:
    """Distinct values as strings in natural order ("2" before "10").

    Examples
    --------
    >>> sort_labels(["10", "2", "b", "a", "2"])
    ('2', '10', 'a', 'b')
    """
    return tuple(sorted({str(v) for v in values}, key=_natural_key))


def require_columns(df: pd.DataFrame, columns: Iterable[str], *, what: str = "table") -> None:
    """Raise :class:`~audit.errors.UserError` naming the missing columns of ``df``.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a"])
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(
            f"{what}: missing column(s) {missing}; present: {list(df.columns)} "
            f"(fix: pass the right concept=/attribute=/cluster= names or add the columns)"
        )


def count_pairs(df: pd.DataFrame, *, concept: str, attribute: str, weight: str | None = None) -> pd.DataFrame:
    """Count rows per (concept, attribute) pair.

    Rows where the concept or the attribute is missing are left out (a prompt
    that does not set the concept is not part of that probe).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per image (see :func:`wide_labels`).
    concept, attribute : str
        Column names, e.g. ``"profession"`` and ``"presentation"``.
    weight : str, optional
        Column of per-row weights; counts become weight sums (float).

    Returns
    -------
    pandas.DataFrame
        Columns ``[concept, attribute, "n"]``, sorted, one row per observed pair.

    Examples
    --------
    >>> df = pd.DataFrame({"job": ["nurse", "nurse", "ceo"], "g": ["f", "f", "m"]})
    >>> count_pairs(df, concept="job", attribute="g")
         job  g  n
    0    ceo  m  1
    1  nurse  f  2
    """
    cols = [concept, attribute] + ([weight] if weight else [])
    require_columns(df, cols, what="count_pairs input")
    keep = df[concept].notna() & df[attribute].notna()
    sub = df.loc[keep, [concept, attribute]].astype(str)
    if weight:
        w = df.loc[keep, weight].to_numpy(dtype=float)
        out = sub.assign(n=w).groupby([concept, attribute], sort=True, observed=True)["n"].sum()
    else:
        out = sub.groupby([concept, attribute], sort=True, observed=True).size().rename("n").astype("int64")
    return out.reset_index()


def merge_counts(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Add count tables (e.g. one per shard) into one.

    Parameters
    ----------
    frames : iterable of pandas.DataFrame
        Tables from :func:`count_pairs` with the same key columns.

    Returns
    -------
    pandas.DataFrame
        The same columns; ``n`` summed per key.

    Examples
    --------
    >>> a = pd.DataFrame({"c": ["x"], "a": ["f"], "n": [2]})
    >>> b = pd.DataFrame({"c": ["x", "y"], "a": ["f", "m"], "n": [1, 4]})
    >>> merge_counts([a, b])
       c  a  n
    0  x  f  3
    1  y  m  4
    """
    frames = list(frames)
    if not frames:
        raise UserError("merge_counts: no count tables given (fix: pass at least one table)")
    keys = [c for c in frames[0].columns if c != "n"]
    for f in frames:
        require_columns(f, keys + ["n"], what="merge_counts input")
    return pd.concat(frames, ignore_index=True).groupby(keys, sort=True)["n"].sum().reset_index()


@dataclass(frozen=True)
class Contingency:
    """A dense count array with its labels: ``n[..., concept, attribute]``.

    Examples
    --------
    >>> t = Contingency(("a", "b"), ("f", "m"), np.array([[1.0, 0.0], [2.0, 3.0]]))
    >>> t.n.sum()
    np.float64(6.0)
    """

    concepts: tuple[str, ...]
    attributes: tuple[str, ...]
    n: np.ndarray

    def to_long(self, values: np.ndarray, *, concept: str, attribute: str, name: str) -> pd.DataFrame:
        """Return a tidy ``[concept, attribute, name]`` table of a (X, Y) array.

        Examples
        --------
        >>> t = Contingency(("a",), ("f", "m"), np.array([[1.0, 3.0]]))
        >>> t.to_long(t.n, concept="c", attribute="g", name="n").n.tolist()
        [1.0, 3.0]
        """
        values = np.asarray(values)
        return pd.DataFrame(
            {
                concept: np.repeat(np.array(self.concepts, dtype=object), len(self.attributes)),
                attribute: np.tile(np.array(self.attributes, dtype=object), len(self.concepts)),
                name: values.reshape(-1),
            }
        )


def contingency(
    counts: pd.DataFrame,
    *,
    concept: str,
    attribute: str,
    concepts: Sequence[str] | None = None,
    attributes: Sequence[str] | None = None,
) -> Contingency:
    """Turn a counts table into a dense :class:`Contingency` (missing pairs are 0).

    Parameters
    ----------
    counts : pandas.DataFrame
        ``[concept, attribute, n]`` as from :func:`count_pairs`.
    concept, attribute : str
        Key column names.
    concepts, attributes : sequence of str, optional
        Fix the label order (and include labels never observed).

    Returns
    -------
    Contingency

    Examples
    --------
    >>> c = pd.DataFrame({"job": ["ceo", "nurse"], "g": ["m", "f"], "n": [3, 2]})
    >>> contingency(c, concept="job", attribute="g").n.tolist()
    [[0.0, 3.0], [2.0, 0.0]]
    """
    require_columns(counts, [concept, attribute, "n"], what="counts table")
    cx = sort_labels(counts[concept].astype(str).unique()) if concepts is None else tuple(map(str, concepts))
    ay = sort_labels(counts[attribute].astype(str).unique()) if attributes is None else tuple(map(str, attributes))
    xi = pd.Index(cx).get_indexer(counts[concept].astype(str))
    yi = pd.Index(ay).get_indexer(counts[attribute].astype(str))
    ok = (xi >= 0) & (yi >= 0)
    flat = np.bincount(
        xi[ok] * len(ay) + yi[ok], weights=counts["n"].to_numpy(dtype=float)[ok], minlength=len(cx) * len(ay)
    )
    return Contingency(cx, ay, flat.reshape(len(cx), len(ay)))


def wide_labels(
    labels: pd.DataFrame,
    manifest: pd.DataFrame,
    *,
    attributes: Sequence[str] | None = None,
    labeler: str | None = None,
) -> pd.DataFrame:
    """Pivot the tidy labels table to one row per image and join the manifest.

    Label columns are named after the attribute; when the manifest already has
    a column of that name (a prompt slot such as ``profession``), the label
    column is named ``<attribute>_label`` so that the prompt's value and the
    labeler's value sit side by side. Images without a label keep NaN.

    Parameters
    ----------
    labels : pandas.DataFrame
        Tidy labels: ``image_id, labeler, attribute, value, confidence``.
    manifest : pandas.DataFrame
        One row per image with ``image_id`` (and prompt slots).
    attributes : sequence of str, optional
        Keep only these attributes.
    labeler : str, optional
        Keep only this labeler's rows (needed when two labelers label the same attribute).

    Returns
    -------
    pandas.DataFrame
        The manifest's rows and columns plus one column per attribute.

    Examples
    --------
    >>> m = pd.DataFrame({"image_id": ["a", "b"], "profession": ["nurse", "ceo"]})
    >>> lab = pd.DataFrame({"image_id": ["a", "b", "a"], "labeler": "w",
    ...     "attribute": ["presentation", "presentation", "profession"],
    ...     "value": ["feminine", "masculine", "nurse"], "confidence": 1.0})
    >>> wide_labels(lab, m)[["image_id", "profession", "presentation", "profession_label"]]
      image_id profession presentation profession_label
    0        a      nurse     feminine            nurse
    1        b        ceo    masculine              NaN
    """
    require_columns(labels, ["image_id", "labeler", "attribute", "value"], what="labels table")
    require_columns(manifest, ["image_id"], what="manifest table")
    lab = labels
    if labeler is not None:
        lab = lab[lab["labeler"] == labeler]
    if attributes is not None:
        lab = lab[lab["attribute"].isin(list(attributes))]
    images = pd.Index(manifest["image_id"])
    if not images.is_unique:
        raise UserError("manifest table: image_id values repeat (fix: one manifest row per image)")
    rows = images.get_indexer(lab["image_id"])
    codes, names = pd.factorize(lab["attribute"], sort=True)
    ok = (rows >= 0) & (codes >= 0)
    key = rows[ok].astype(np.int64) * max(1, len(names)) + codes[ok]
    uniq, counts = np.unique(key, return_counts=True)
    if (counts > 1).any():
        repeated = np.isin(key, uniq[counts > 1])
        bad = lab.loc[ok].loc[repeated, ["attribute", "labeler"]].drop_duplicates().head(5).to_dict("records")
        raise UserError(
            f"labels table: several values per (image_id, attribute), e.g. {bad} "
            "(fix: pass labeler=... to pick one labeler)"
        )
    values = lab["value"].to_numpy(dtype=object)
    out = manifest.copy()
    for j, name in enumerate(names):
        col = np.full(len(manifest), np.nan, dtype=object)
        sel = ok & (codes == j)
        col[rows[sel]] = values[sel]
        out[f"{name}_label" if name in manifest.columns else str(name)] = col
    return out
