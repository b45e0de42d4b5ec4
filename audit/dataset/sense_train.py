"""Train the learned sense model (:mod:`audit.dataset.sense_model`) from hand-labelled captions.

Training data (guide and provenance: docs/caption-labelling.md):

- the **dev** set, ``tests/data/caption_labels.csv`` over the 1,000 captions of
  ``shared/fixtures/laion_captions_1000.parquet``;
- the **training** set, ``tests/data/caption_labels_train.csv``: identity labels
  on 2,840 captions of rows 2,000-8,999 of ``tests/data/caption_heldout.parquet``.

The held-out identity set (rows 0-1,999) is never read. Every (caption,
category) with a hit of an identity form is one example; its label is the
caption's label for that category. The model is an L2-regularised logistic
regression fitted with SciPy's L-BFGS (deterministic: the same data give the
same weights). ``--folds`` also prints cross-validated precision and recall
(folds by caption) against the rules alone, to choose ``C`` and the threshold
without the held-out set.

Usage::

    PYTHONPATH=. .venv/bin/python -m audit.dataset.sense_train [--out data/lexicons/sense_model.json] [--folds 5]
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.dataset.sense_model import CATEGORIES, SenseModel, category_masks, collect, hash_features

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path("/work/shared/fixtures/laion_captions_1000.parquet")
DEV = ROOT / "tests" / "data" / "caption_labels.csv"
TRAIN_CAPTIONS = ROOT / "tests" / "data" / "caption_heldout.parquet"
TRAIN = ROOT / "tests" / "data" / "caption_labels_train.csv"
DIM = 1 << 15


def labelled(fixture: Path, labels: Path) -> tuple[list[str], pd.DataFrame]:
    """Captions and identity labels of a label file (``row`` indexes the caption file), hash-checked."""
    caps = [c or "" for c in pq.read_table(fixture, columns=["TEXT"]).column("TEXT").to_pylist()]
    lab = pd.read_csv(labels, keep_default_na=False)
    rows = lab["row"].to_numpy()
    if rows.max() >= len(caps):
        raise SystemExit(f"{labels}: row {rows.max()} but {fixture} has {len(caps)} captions")
    out = [caps[r] for r in rows]
    bad = [r for r, c, h in zip(rows, out, lab["sha1"]) if hashlib.sha1(c.encode()).hexdigest()[:12] != h]
    if bad:
        raise SystemExit(f"{labels}: rows {bad[:10]} do not match the captions' SHA-1 (wrong caption file?)")
    return out, lab.reset_index(drop=True)


def examples(captions: list[str], lab: pd.DataFrame, *, lexicon=None) -> tuple[list[list[str]], np.ndarray, np.ndarray,
                                                                             np.ndarray]:
    """Feature strings, labels, caption index and the rules' decision of every (caption, category) with a hit."""
    from audit.dataset.lexicon import load_lexicons
    from audit.dataset.senses import RULES
    from audit.dataset.tagger import Tagger, _lower

    lex = lexicon if lexicon is not None else load_lexicons()
    t = Tagger.for_lexicon(lex)
    arr = pa.array(captions, pa.string())
    lower = _lower(arr)
    row, sid, start, end = t._scan(lower)
    ok, why = t.senses.keep(lower, row, sid, start, end, original=arr, reasons=True)
    items = collect(arr, row, sid, ok, why, cats=category_masks(lex), surfaces=t.surfaces, rules=RULES)
    y = np.array([int(lab.at[r, CATEGORIES[b]]) for r, b, _ in items], np.int64)
    rule = np.array(["kept:True" in f for _, _, f in items])
    return [f for _, _, f in items], y, np.array([r for r, _, _ in items]), rule


def feature_matrix(feats: list[list[str]], *, dim: int = DIM):
    """Sparse 0/1 matrix of hashed feature strings, one row per example."""
    import scipy.sparse as sp

    idx = [hash_features(f, dim) for f in feats]
    return sp.csr_matrix((np.ones(sum(len(i) for i in idx)), np.concatenate(idx),
                          np.concatenate([[0], np.cumsum([len(i) for i in idx])])), shape=(len(feats), dim))


def fit_matrix(x, y: np.ndarray, *, c: float = 1.0) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (penalty ``|w|^2 / (2c)``, intercept free) by L-BFGS on a matrix."""
    from scipy.optimize import minimize

    s = 2.0 * y - 1.0

    def loss(wb: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = wb[:-1], wb[-1]
        z = s * (x @ w + b)
        lo = np.logaddexp(0.0, -z).sum() + w @ w / (2 * c)
        g = -s / (1.0 + np.exp(z))
        return lo, np.append(x.T @ g + w / c, g.sum())

    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return res.x[:-1], float(res.x[-1])


def fit(feats: list[list[str]], y: np.ndarray, *, c: float = 1.0, dim: int = DIM) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression over hashed feature strings (see :func:`fit_matrix`)."""
    return fit_matrix(feature_matrix(feats, dim=dim), y, c=c)


@dataclass(frozen=True)
class TrainingSet:
    """Every (caption, category) example of the dev and training sets, in one place.

    ``feats`` are the feature strings, ``y`` the labels, ``src`` the set of each
    example (``"dev"`` or ``"train"``), ``rows`` a caption key unique across sets
    (cross-validation folds are by caption), ``rule`` the sense rules' decision,
    ``captions`` the caption of each example and ``positives`` the positive
    labels per set (the recall denominators, hits or not).
    """

    feats: list[list[str]]
    y: np.ndarray
    src: np.ndarray
    rows: np.ndarray
    rule: np.ndarray
    captions: list[str]
    positives: dict[str, int]

    def folds(self, k: int) -> np.ndarray:
        """Fold of each example, by caption (stable: SHA-1 of the caption key)."""
        return np.array([int(hashlib.sha1(str(r).encode()).hexdigest(), 16) % k for r in self.rows])


def training_set(fixture: Path = FIXTURE) -> TrainingSet:
    """The labelled examples the sense model learns from (dev + training sets, never the held-out set)."""
    sets = {"dev": labelled(Path(fixture), DEV), "train": labelled(TRAIN_CAPTIONS, TRAIN)}
    feats, y, src, rule, rows, caps_out = [], [], [], [], [], []
    for k, (caps, lab) in sets.items():
        f, yy, r, ru = examples(caps, lab)
        feats += f
        y.append(yy)
        rule.append(ru)
        src += [k] * len(f)
        rows.append(r + (0 if k == "dev" else 10 ** 6))
        caps_out += [caps[i] for i in r]
    positives = {k: int(lab[list(CATEGORIES)].to_numpy().sum()) for k, (_, lab) in sets.items()}
    return TrainingSet(feats, np.concatenate(y), np.array(src), np.concatenate(rows), np.concatenate(rule),
                       caps_out, positives)


def cv_scores(ts: TrainingSet, pred: np.ndarray) -> dict[str, dict]:
    """Precision and recall per set of a decision per example (recall over all positives of the set)."""
    out = {}
    for k, n_pos in ts.positives.items():
        m = ts.src == k
        tp, fp = int((pred & (ts.y == 1) & m).sum()), int((pred & (ts.y == 0) & m).sum())
        out[k] = {"tp": tp, "fp": fp, "positives": n_pos,
                  "precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / n_pos, 4)}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "data" / "lexicons" / "sense_model.json"))
    ap.add_argument("--fixture", default=str(FIXTURE), help="the dev captions (shared LAION fixture)")
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    ap.add_argument("--threshold", type=float, default=0.4,
                    help="probability at or above which a hit counts (0.4: best F1 in 5-fold CV on dev + train)")
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds for the printed figures (0: none)")
    args = ap.parse_args(argv)

    ts = training_set(Path(args.fixture))
    meta = {"trained_on": {k: {"captions": len(lab), "examples": int((ts.src == k).sum()), "positives": ts.positives[k]}
                           for k, lab in (("dev", pd.read_csv(DEV)), ("train", pd.read_csv(TRAIN)))},
            "c": args.c, "command": "python -m audit.dataset.sense_train"}
    if args.folds:
        prob = np.zeros(len(ts.y))
        fold = ts.folds(args.folds)
        for k in range(args.folds):
            w, b = fit([f for f, m in zip(ts.feats, fold != k) if m], ts.y[fold != k], c=args.c)
            prob[fold == k] = SenseModel(w, bias=b).probability([f for f, m in zip(ts.feats, fold == k) if m])
        cv = {}
        scores = {"rules": cv_scores(ts, ts.rule), "model": cv_scores(ts, prob >= args.threshold)}
        for k in ts.positives:
            for name in scores:
                r = cv[f"{k}:{name}"] = scores[name][k]
                print(f"{args.folds}-fold CV, {k}, {name:5s}: precision {r['precision']:.1%} recall {r['recall']:.1%} "
                      f"(TP {r['tp']}, FP {r['fp']}, positives {r['positives']})")
        meta["cross_validation"] = cv
    w, b = fit(ts.feats, ts.y, c=args.c)
    SenseModel(w, bias=b, threshold=args.threshold, meta=meta).save(args.out)
    print(f"wrote {args.out}: {len(ts.y)} examples ({int(ts.y.sum())} positive), {int((np.abs(w) >= 1e-6).sum())} weights")


if __name__ == "__main__":
    main()
