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
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.dataset.sense_model import CATEGORIES, SenseModel, collect, hash_features

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
    t = Tagger.for_lexicon(lex, sense_model=SenseModel(np.zeros(8), bias=0.0))
    arr = pa.array(captions, pa.string())
    lower = _lower(arr)
    row, sid, start, end = t._scan(lower)
    ok, why = t.senses.keep(lower, row, sid, start, end, original=arr, reasons=True)
    items = collect(arr, row, sid, ok, why, cats=t.model_cats, surfaces=t.surfaces, rules=RULES)
    y = np.array([int(lab.at[r, CATEGORIES[b]]) for r, b, _ in items], np.int64)
    rule = np.array(["kept:True" in f for _, _, f in items])
    return [f for _, _, f in items], y, np.array([r for r, _, _ in items]), rule


def fit(feats: list[list[str]], y: np.ndarray, *, c: float = 1.0, dim: int = DIM) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (penalty ``|w|^2 / (2c)``, intercept free) by L-BFGS."""
    import scipy.sparse as sp
    from scipy.optimize import minimize

    idx = [hash_features(f, dim) for f in feats]
    x = sp.csr_matrix((np.ones(sum(len(i) for i in idx)), np.concatenate(idx),
                       np.concatenate([[0], np.cumsum([len(i) for i in idx])])), shape=(len(feats), dim))
    s = 2.0 * y - 1.0

    def loss(wb: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = wb[:-1], wb[-1]
        z = s * (x @ w + b)
        lo = np.logaddexp(0.0, -z).sum() + w @ w / (2 * c)
        g = -s / (1.0 + np.exp(z))
        return lo, np.append(x.T @ g + w / c, g.sum())

    res = minimize(loss, np.zeros(dim + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return res.x[:-1], float(res.x[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "data" / "lexicons" / "sense_model.json"))
    ap.add_argument("--fixture", default=str(FIXTURE), help="the dev captions (shared LAION fixture)")
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    ap.add_argument("--threshold", type=float, default=0.4,
                    help="probability at or above which a hit counts (0.4: best F1 in 5-fold CV on dev + train)")
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds for the printed figures (0: none)")
    args = ap.parse_args(argv)

    sets = {"dev": labelled(Path(args.fixture), DEV), "train": labelled(TRAIN_CAPTIONS, TRAIN)}
    feats, y, src, rule, rows = [], [], [], [], []
    for k, (caps, lab) in sets.items():
        f, yy, r, ru = examples(caps, lab)
        feats += f
        y.append(yy)
        rule.append(ru)
        src += [k] * len(f)
        rows.append(r + (0 if k == "dev" else 10 ** 6))
    y, rule, src, rows = np.concatenate(y), np.concatenate(rule), np.array(src), np.concatenate(rows)
    positives = {k: int(lab[list(CATEGORIES)].to_numpy().sum()) for k, (_, lab) in sets.items()}
    meta = {"trained_on": {k: {"captions": len(c), "examples": int((src == k).sum()), "positives": positives[k]}
                           for k, (c, _) in sets.items()},
            "c": args.c, "command": "python -m audit.dataset.sense_train"}
    if args.folds:
        prob = np.zeros(len(y))
        fold = np.array([int(hashlib.sha1(str(r).encode()).hexdigest(), 16) % args.folds for r in rows])
        for k in range(args.folds):
            w, b = fit([f for f, m in zip(feats, fold != k) if m], y[fold != k], c=args.c)
            prob[fold == k] = SenseModel(w, bias=b).probability([f for f, m in zip(feats, fold == k) if m])
        cv = {}
        for k in sets:
            m = src == k
            for name, pred in (("rules", rule), ("model", prob >= args.threshold)):
                tp, fp = int((pred & (y == 1) & m).sum()), int((pred & (y == 0) & m).sum())
                cv[f"{k}:{name}"] = {"tp": tp, "fp": fp, "positives": positives[k],
                                     "precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / positives[k], 4)}
                print(f"{args.folds}-fold CV, {k}, {name:5s}: precision {tp / max(tp + fp, 1):.1%} "
                      f"recall {tp / positives[k]:.1%} (TP {tp}, FP {fp}, positives {positives[k]})")
        meta["cross_validation"] = cv
    w, b = fit(feats, y, c=args.c)
    SenseModel(w, bias=b, threshold=args.threshold, meta=meta).save(args.out)
    print(f"wrote {args.out}: {len(y)} examples ({int(y.sum())} positive), {int((np.abs(w) >= 1e-6).sum())} weights")


if __name__ == "__main__":
    main()
