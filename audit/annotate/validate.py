"""Validate labelers against human annotations: accuracy per group, confusion matrix, annotator agreement.

Reads every ``RUN_DIR/annotations/*.json`` (one per annotator, see
:mod:`audit.annotate.store`) and ``labels.parquet``; writes
``RUN_DIR/validation/accuracy.csv`` and ``RUN_DIR/validation/confusion.json``
(per labeler and attribute: classes, counts ``C[true, predicted]``, the
row-normalised matrix -- each annotated image weighted by its stratum's
inverse sampling rate, since the sample is stratified on the labeler's answer --
with Wilson intervals on the raw counts, non-answers per true class), which
:func:`load_confusion` turns into the ``DataFrame`` the labeler-error
correction (:mod:`audit.metrics.correction`) takes; :func:`corrected_shares`
corrects observed shares with it and gives a bootstrap interval over both the
audited labels and the annotations.

The truth of an image is the majority of its annotators' answers ("can't
tell" does not vote; a tie leaves the image out, counted as ``no_majority``).
Groups are skin group x presentation, Gender Shades-style: each from the
annotations when someone annotated it, else from the labeler's own answer
(``group_source`` says which).

Examples
--------
>>> round(krippendorff_alpha_nominal([["a", "a"], ["b", "b"], ["a", "b"]]), 3)
0.444
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.annotate.store import CANT_TELL, load_run_tables
from audit.errors import UserError

__all__ = ["krippendorff_alpha_nominal", "validate_run", "load_confusion", "corrected_shares"]


def krippendorff_alpha_nominal(units: list[list[str]]) -> float:
    """Krippendorff's alpha for nominal data; ``units`` holds each unit's values (units with < 2 are ignored).

    Examples
    --------
    >>> krippendorff_alpha_nominal([["a", "a"], ["b", "b"]])
    1.0
    """
    units = [u for u in units if len(u) >= 2]
    cats = sorted({v for u in units for v in u})
    if not units or len(cats) < 2:
        return float("nan") if not units else 1.0
    idx = {c: i for i, c in enumerate(cats)}
    o = np.zeros((len(cats), len(cats)))
    for u in units:
        c = Counter(u)
        m = len(u)
        for a, na in c.items():
            for b, nb in c.items():
                o[idx[a], idx[b]] += na * (nb - (a == b)) / (m - 1)
    n_c = o.sum(1)
    n = n_c.sum()
    d_o = n - np.trace(o)
    d_e = (n * n - (n_c ** 2).sum()) / (n - 1)
    return float(1 - d_o / d_e) if d_e > 0 else 1.0


def _read_annotations(run_dir: Path) -> list[dict[str, Any]]:
    files = sorted((run_dir / "annotations").glob("*.json"))
    if not files:
        raise UserError(f"{run_dir / 'annotations'}: no annotation files (fix: run `imagen-audit annotate {run_dir}` "
                        "first)")
    out = []
    for f in files:
        try:
            out.append(json.loads(f.read_text()))
        except ValueError as exc:
            raise UserError(f"{f}: not JSON ({exc}) (fix: move the file away)") from exc
    return out


def _truths(files: list[dict[str, Any]]) -> tuple[dict[tuple[str, str], dict[str, str]], dict[tuple[str, str], Any]]:
    """Majority truth per (labeler, attribute) and image; and per (labeler, attribute) the answers of each image."""
    votes: dict[tuple[str, str], dict[str, list[str]]] = {}
    for f in files:
        key = (f["labeler"], f["attribute"])
        for image_id, a in f["answers"].items():
            votes.setdefault(key, {}).setdefault(image_id, []).append(a["value"])
    truths: dict[tuple[str, str], dict[str, str]] = {}
    for key, per in votes.items():
        t = {}
        for image_id, vs in per.items():
            c = Counter(v for v in vs if v != CANT_TELL).most_common()
            if c and (len(c) == 1 or c[0][1] > c[1][1]):
                t[image_id] = c[0][0]
        truths[key] = t
    return truths, votes


def _pair_counts(truth, pred, classes: list[str], *, weights=None) -> np.ndarray:
    """(Weighted) counts ``C[true, predicted]`` over ``classes`` (predicted non-answers are left out)."""
    idx = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(classes), len(classes)))
    w = np.ones(len(truth)) if weights is None else np.asarray(weights, dtype=float)
    for t, p, x in zip(truth, pred, w):
        if t in idx and p in idx:
            out[idx[t], idx[p]] += x
    return out


def _stratum_weights(image_ids, files: list[dict[str, Any]], key: tuple[str, str], labels: pd.DataFrame,
                     run_dir: Path) -> np.ndarray:
    """Inverse sampling rates: the sample is stratified on (concept, labeler answer), so each annotated image
    stands for ``N(stratum) / n(stratum annotated)`` images of the run; without them the matrix
    ``P(predicted | true)`` would follow the sample's answer mix, not the run's."""
    from audit.annotate.store import load_run_tables

    items = {it["image_id"]: (it["concept"], it["labeler_value"]) for f in files
             if (f["labeler"], f["attribute"]) == key for it in f["items"]}
    concept = next((f.get("concept") for f in files if (f["labeler"], f["attribute"]) == key), None)
    manifest, _ = load_run_tables(run_dir)
    sel = labels[(labels.labeler == key[0]) & (labels.attribute == key[1])][["image_id", "value"]]
    sel = sel.merge(manifest, on="image_id", how="inner")
    conc = sel[concept].astype(str) if concept and concept in sel else pd.Series("", index=sel.index)
    population = pd.Series(list(zip(conc, sel.value.astype(str)))).value_counts()
    strata = [items.get(i) for i in image_ids]
    sampled = pd.Series(strata).value_counts()
    return np.array([population.get(s, 0) / sampled[s] if s is not None else 1.0 for s in strata], dtype=float)


def corrected_shares(predicted, truth_pred: pd.DataFrame, *, classes: list[str], weights=None, n_boot: int = 400,
                     seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """True shares corrected for labeler error, with a Bayesian-bootstrap interval over the labels and the annotations.

    Parameters
    ----------
    predicted
        The labeler's answers on the audited images (non-answers are left out).
    truth_pred
        Annotated images: columns ``truth`` and ``pred``.
    classes
        The attribute's values (matrix order).
    weights
        Stratum weights of the annotated images (see :func:`validate_run`); default equal.

    Returns
    -------
    pandas.DataFrame
        Index ``classes``; ``observed``, ``estimate``, ``lo``, ``hi`` and ``n``.

    Examples
    --------
    >>> tp = pd.DataFrame({"truth": ["a"] * 50 + ["b"] * 50, "pred": ["a"] * 45 + ["b"] * 5 + ["b"] * 50})
    >>> r = corrected_shares(["a"] * 45 + ["b"] * 55, tp, classes=["a", "b"], n_boot=50)
    >>> round(float(r.loc["a", "estimate"]), 2)
    0.5
    """
    from audit.metrics.correction import simplex_lsq

    rng = np.random.default_rng(seed)
    pred = np.asarray([p for p in map(str, predicted) if p in classes])
    obs = np.array([(pred == c).mean() for c in classes]) if len(pred) else np.full(len(classes), np.nan)
    t, p = truth_pred["truth"].astype(str).to_numpy(), truth_pred["pred"].astype(str).to_numpy()
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=float)

    def matrix(ti, pi, wi) -> np.ndarray:
        c = _pair_counts(ti, pi, classes, weights=wi)
        rows = c.sum(1, keepdims=True)
        return np.where(rows > 0, c / np.maximum(rows, 1e-12), np.eye(len(classes)))  # no annotation: no correction

    est = np.asarray(simplex_lsq(obs, matrix(t, p, w))).reshape(-1)
    # Bayesian bootstrap with Jeffreys priors: observed shares ~ Dirichlet(counts + 1/2); each matrix row ~
    # Dirichlet(its weighted shares x its annotated images + 1/2). Unlike resampling, a row with no errors
    # among few annotations still admits some, so small samples do not give overconfident intervals.
    raw = _pair_counts(t, p, classes)
    m_hat = matrix(t, p, w)
    row_n = raw.sum(1, keepdims=True)
    obs_counts = obs * len(pred) if len(pred) else np.zeros(len(classes))
    boots = []
    for _ in range(n_boot):
        q = rng.dirichlet(obs_counts + 0.5)
        m = np.array([rng.dirichlet(m_hat[i] * row_n[i, 0] + 0.5) if row_n[i, 0] > 0 else np.eye(len(classes))[i]
                      for i in range(len(classes))])
        boots.append(np.asarray(simplex_lsq(q, m)).reshape(-1))
    a = (1 - confidence) / 2
    lo, hi = np.quantile(np.array(boots), [a, 1 - a], axis=0)
    return pd.DataFrame({"observed": obs, "estimate": est, "lo": np.minimum(lo, est), "hi": np.maximum(hi, est),
                         "n": len(pred)}, index=classes)


def validate_run(run_dir: str | Path) -> dict[str, Any]:
    """Compute and write the validation of every annotated labeler x attribute of a run.

    Returns
    -------
    dict
        ``{"accuracy": DataFrame, "confusion": {...}, "agreement": {...}, "paths": [...]}``.
    """
    from audit.metrics.intervals import wilson_interval
    from audit.files import write_json_atomic

    run_dir = Path(run_dir)
    _, labels = load_run_tables(run_dir)
    files = _read_annotations(run_dir)
    truths, votes = _truths(files)
    by_attr: dict[str, dict[str, str]] = {}
    for (_, attr), t in truths.items():
        for image_id, v in t.items():
            by_attr.setdefault(attr, {})[image_id] = v
    rows, confusion, agreement = [], {}, {}
    for (labeler, attr), truth in sorted(truths.items()):
        lab = labels[(labels.labeler == labeler)]
        pred = lab[lab.attribute == attr].set_index("image_id")["value"].astype(str)
        choices = next(f["choices"] for f in files if (f["labeler"], f["attribute"]) == (labeler, attr))
        answered = votes[(labeler, attr)]
        ids = [i for i in truth if i in pred.index]
        df = pd.DataFrame({"image_id": ids, "truth": [truth[i] for i in ids], "pred": [pred[i] for i in ids]})
        for g in ("skin_group", "presentation"):
            mine = lab[lab.attribute == g].set_index("image_id")["value"].astype(str)
            human = by_attr.get(g, {})
            df[g] = [human.get(i, mine.get(i, "unknown")) for i in ids]
            df[f"{g}_source"] = ["annotation" if i in human else "labeler" for i in ids]
        df["correct"] = df.truth == df.pred
        for (sg, pr), g in [(("all", "all"), df)] + list(df.groupby(["skin_group", "presentation"])):
            k, n = int(g.correct.sum()), len(g)
            lo, hi = wilson_interval(k, n)
            a = k / n if n else np.nan
            lo, hi = (min(float(lo), a), max(float(hi), a)) if n else (np.nan, np.nan)  # float rounding at 0 / 1
            rows.append({"labeler": labeler, "attribute": attr, "skin_group": sg, "presentation": pr, "n": n,
                         "correct": k, "accuracy": a, "lo": lo, "hi": hi,
                         "group_source": "annotation" if (g.skin_group_source == "annotation").all() and
                         (g.presentation_source == "annotation").all() else "labeler"})
        k = _pair_counts(df.truth, df.pred, choices)
        w = _stratum_weights(df.image_id, files, (labeler, attr), labels, run_dir)
        kw = _pair_counts(df.truth, df.pred, choices, weights=w)
        row_n = k.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            lo, hi = wilson_interval(k, np.broadcast_to(row_n[:, None], k.shape))
            matrix = np.where(kw.sum(1)[:, None] > 0, kw / np.maximum(kw.sum(1)[:, None], 1e-12), np.nan)
        non_answers = df[~df.pred.isin(choices)].groupby("truth").pred.value_counts()
        confusion.setdefault(labeler, {})[attr] = {
            "classes": choices, "counts": k.astype(int).tolist(), "matrix": np.round(matrix, 6).tolist(),
            "lo": np.round(lo, 6).tolist(), "hi": np.round(hi, 6).tolist(), "n": int(len(df)),
            "non_answers": {f"{t}|{p}": int(c) for (t, p), c in non_answers.items()},
            "images_annotated": len(answered), "no_majority": len(answered) - len(truth),
        }
        agreement.setdefault(labeler, {})[attr] = {
            "krippendorff_alpha": krippendorff_alpha_nominal([[v for v in vs if v != CANT_TELL]
                                                              for vs in answered.values()]),
            "annotators": sum((f["labeler"], f["attribute"]) == (labeler, attr) for f in files),
            "units_with_2plus": sum(len([v for v in vs if v != CANT_TELL]) >= 2 for vs in answered.values()),
        }
    acc = pd.DataFrame(rows)
    out = run_dir / "validation"
    from audit.files import atomic_write_bytes

    atomic_write_bytes(out / "accuracy.csv", acc.to_csv(index=False).encode())
    write_json_atomic(out / "confusion.json", {"confusion": confusion, "agreement": agreement})
    return {"accuracy": acc, "confusion": confusion, "agreement": agreement,
            "paths": [out / "accuracy.csv", out / "confusion.json"]}


def load_confusion(run_dir: str | Path, *, labeler: str, attribute: str) -> pd.DataFrame:
    """The annotation-estimated confusion matrix ``C[true, predicted]`` (rows sum to 1) for the correction.

    Raises :class:`UserError` naming the fix when the run has no validation for it.
    """
    path = Path(run_dir) / "validation" / "confusion.json"
    if not path.is_file():
        raise UserError(f"{path}: missing (fix: run `imagen-audit validate {run_dir}` after annotating)")
    c = json.loads(path.read_text())["confusion"].get(labeler, {}).get(attribute)
    if c is None:
        raise UserError(f"{path}: no matrix for labeler {labeler!r} attribute {attribute!r} (fix: annotate it with "
                        f"`imagen-audit annotate {run_dir} --labeler {labeler} --attribute {attribute}`)")
    return pd.DataFrame(c["matrix"], index=c["classes"], columns=c["classes"], dtype=float)
