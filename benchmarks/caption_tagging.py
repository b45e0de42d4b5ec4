"""Benchmark: precision and recall of caption tagging on hand-labelled real captions, dev and held-out apart.

Three labelled sets (guide: ``docs/caption-labelling.md``), each checked row by
row against the captions' SHA-1:

``dev``
    ``tests/data/caption_labels.csv``: the 1,000 captions of
    ``/work/shared/fixtures/laion_captions_1000.parquet``, every category.
    **Every row is development data**: the sense rules and the phrase lists
    were written while reading them, so figures on it are in-sample.
``held-out``
    ``tests/data/caption_labels_heldout.csv``: 2,000 other real LAION captions
    (``tests/data/caption_heldout.parquet`` rows 0-1,999), every category,
    labelled before any rule change made after they were extracted.
``held-out sexual``
    ``tests/data/caption_labels_heldout_sexual.csv``: all 9,000 captions of
    ``caption_heldout.parquet``, explicit sexual content only. Rows 2,000-8,999
    are also printed apart ("blind"): their tagger errors were never looked at
    while rules changed.
``training``
    ``tests/data/caption_labels_train.csv``: identity labels on 2,840 captions
    of rows 2,000-8,999 of ``caption_heldout.parquet`` (every caption a broad
    candidate net fires on, plus a random sample of 700 of the rest). The v3
    vocabulary and the sense model were built from it: in-sample, like dev.

A caption is positive for a category when it describes or depicts a person with
that attribute, in words (strict sense); ``sexual`` is explicit sexual content.
The tagger flags a category when any concept of the matching lexicon categories
is found. Measured in one run, on the same captions:

- ``v1``: the starter lexicons as they were before the v2 lexicons
  (``tests/data/lexicons_v1/``), plain whole-word matching (the first baseline);
- ``previous``: the tagger before this round, v2 lexicons and context words
  (``tests/data/lexicons_v2/``) with every sense rule;
- ``lexicon v3, no rules``: the new lexicons, plain matching;
- ``new minus RULE``: the new tagger with one sense rule switched off (what each rule buys);
- ``new``: the v3 lexicons with every sense rule (the default ``Tagger.for_lexicon``);
- ``new + sense model``: ``new`` followed by the learned sense model
  (:mod:`audit.dataset.sense_model`, opt-in).

Precision and recall carry 95 % Wilson intervals. ``person identity`` pools
gender, age, ethnicity/nationality, religion and disability (caption x category
pairs). Also printed: the cost of the sense rules and of the sense model per
caption they touch, and the language detector against the labels.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/caption_tagging.py [--errors CATEGORY] [--errors-set dev|training]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path("/work/shared/fixtures/laion_captions_1000.parquet")
LABELS = ROOT / "tests" / "data" / "caption_labels.csv"
HELDOUT = ROOT / "tests" / "data" / "caption_heldout.parquet"
HELDOUT_LABELS = ROOT / "tests" / "data" / "caption_labels_heldout.csv"
HELDOUT_SEXUAL = ROOT / "tests" / "data" / "caption_labels_heldout_sexual.csv"
#: Rows of the held-out sexual labels whose tagger errors were never inspected.
BLIND_FROM = 2000
TRAIN_LABELS = ROOT / "tests" / "data" / "caption_labels_train.csv"
V1 = ROOT / "tests" / "data" / "lexicons_v1"
V2 = ROOT / "tests" / "data" / "lexicons_v2"
#: Evaluation category -> lexicon categories that flag it.
CATEGORIES = {
    "gender": ("gender",), "age": ("age",), "ethnicity": ("ethnicity", "nationality", "skin_tone"),
    "religion": ("religion",), "disability": ("disability",), "sexual": ("sexual",),
}
IDENTITY = ("gender", "age", "ethnicity", "religion", "disability")


def load_labelled(fixture: Path = FIXTURE, labels: Path = LABELS) -> tuple[list[str], pd.DataFrame]:
    """Captions and their labels, checked row by row against the caption hash.

    The label file may cover the first rows of the caption file only.

    Examples
    --------
    >>> caps, lab = load_labelled()  # doctest: +SKIP
    """
    caps = [c or "" for c in pq.read_table(fixture, columns=["TEXT"]).column("TEXT").to_pylist()]
    lab = pd.read_csv(labels, keep_default_na=False)
    if "selection" in lab.columns:  # a sample of rows: ``row`` indexes the caption file
        caps = [caps[r] for r in lab["row"]]
    caps = caps[:len(lab)]
    if len(lab) != len(caps):
        raise SystemExit(f"{labels}: {len(lab)} rows but {fixture} has {len(caps)} captions")
    sha = [hashlib.sha1(c.encode("utf-8")).hexdigest()[:12] for c in caps]
    bad = np.flatnonzero(lab["sha1"].to_numpy() != np.array(sha))
    if bad.size:
        raise SystemExit(f"{labels}: rows {bad[:10].tolist()} do not match the captions' SHA-1 (wrong fixture?)")
    return caps, lab


def flags(tagger, lexicon, captions: list[str]) -> pd.DataFrame:
    """Caption x evaluation category: does the tagger flag it?"""
    rows, sids = tagger.match(pa.array(captions, pa.string()))
    out = pd.DataFrame(False, index=range(len(captions)), columns=list(CATEGORIES) + ["slur"])
    cat_of = {c: lexicon.category_of(c) for c in lexicon.concepts}
    for r, s in zip(rows.tolist(), sids.tolist()):
        for cid in lexicon.surface_concepts[s]:
            cat = cat_of[lexicon.concepts[cid]]
            for ev, cats in CATEGORIES.items():
                if cat in cats:
                    out.at[r, ev] = True
            if cat == "slur":
                out.at[r, "slur"] = True
    return out


def scores(pred: pd.DataFrame, lab: pd.DataFrame, mask: np.ndarray | None = None,
           categories: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Precision and recall with Wilson intervals per category and pooled person identity."""
    from audit.metrics import wilson_interval

    m = np.ones(len(lab), bool) if mask is None else mask
    cats = tuple(c for c in CATEGORIES if c in lab.columns) if categories is None else categories
    rows = []

    def add(name: str, p: np.ndarray, t: np.ndarray) -> None:
        tp, fp, fn = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
        (plo, rlo), (phi, rhi) = wilson_interval([tp, tp], [tp + fp, tp + fn])
        rows.append({"category": name, "labelled": tp + fn, "flagged": tp + fp, "tp": tp, "fp": fp, "fn": fn,
                     "precision": tp / (tp + fp) if tp + fp else np.nan, "p_lo": plo, "p_hi": phi,
                     "recall": tp / (tp + fn) if tp + fn else np.nan, "r_lo": rlo, "r_hi": rhi})

    for c in cats:
        add(c, pred[c].to_numpy()[m], lab[c].to_numpy().astype(bool)[m])
    if not all(c in cats for c in IDENTITY):
        return pd.DataFrame(rows)
    add("person identity", np.concatenate([pred[c].to_numpy()[m] for c in IDENTITY]),
        np.concatenate([lab[c].to_numpy().astype(bool)[m] for c in IDENTITY]))
    return pd.DataFrame(rows)


def fmt(df: pd.DataFrame) -> str:
    def cell(v, lo, hi):
        return "   n/a             " if np.isnan(v) else f"{v:6.1%} [{lo:5.1%}, {hi:5.1%}]"
    lines = [f"  {'category':16s} {'labelled':>8s} {'flagged':>7s} {'TP':>4s} {'FP':>4s} {'FN':>4s}  "
             f"{'precision [95% CI]':24s} {'recall [95% CI]':24s}"]
    for r in df.itertuples():
        lines.append(f"  {r.category:16s} {r.labelled:8d} {r.flagged:7d} {r.tp:4d} {r.fp:4d} {r.fn:4d}  "
                     f"{cell(r.precision, r.p_lo, r.p_hi):24s} {cell(r.recall, r.r_lo, r.r_hi):24s}")
    return "\n".join(lines)


def _gate_line(name: str, res: pd.DataFrame) -> str:
    r = res.set_index("category")
    parts = []
    if "person identity" in r.index:
        pi = r.loc["person identity"]
        parts.append(f"person-identity precision {pi.precision:.1%} [{pi.p_lo:.1%}, {pi.p_hi:.1%}] (>= 85%: "
                     f"{'met' if pi.precision >= 0.85 else 'NOT met'}), recall {pi.recall:.1%} "
                     f"[{pi.r_lo:.1%}, {pi.r_hi:.1%}] (>= 80%: {'met' if pi.recall >= 0.80 else 'NOT met'})")
    if "sexual" in r.index:
        sx = r.loc["sexual"]
        parts.append(f"explicit sexual recall {sx.recall:.1%} [{sx.r_lo:.1%}, {sx.r_hi:.1%}] (>= 90%: "
                     f"{'met' if sx.recall >= 0.90 else 'NOT met'}) at precision {sx.precision:.1%} "
                     f"[{sx.p_lo:.1%}, {sx.p_hi:.1%}] (>= 80%: {'met' if sx.precision >= 0.80 else 'NOT met'}), "
                     f"n positives {int(sx.labelled)}")
    return f"  {name}: " + "; ".join(parts)


def _median_time(fn, repeats: int = 3) -> float:
    reps = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        reps.append(time.perf_counter() - t0)
    return float(np.median(reps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--errors", default="", help="print the false positives/negatives of this category (new tagger)")
    ap.add_argument("--errors-set", default="dev", choices=("dev", "training", "held-out", "held-out-sexual"),
                    help="labelled set whose errors --errors prints (default: dev; keep the held-out sets unseen)")
    ap.add_argument("--timing-rows", type=int, default=200_000, help="captions for the cost figures")
    args = ap.parse_args()

    from audit.dataset.language import english_mask
    from audit.dataset.lexicon import load_lexicons
    from audit.dataset.sense_model import SenseModel
    from audit.dataset.senses import RULES
    from audit.dataset.tagger import Tagger

    caps, lab = load_labelled()
    t_caps, t_lab = load_labelled(HELDOUT, TRAIN_LABELS)
    h_caps, h_lab = load_labelled(HELDOUT, HELDOUT_LABELS)
    s_caps, s_lab = load_labelled(HELDOUT, HELDOUT_SEXUAL)
    sets = {"dev": (caps, lab), "training": (t_caps, t_lab), "held-out": (h_caps, h_lab),
            "held-out-sexual": (s_caps, s_lab)}
    print(f"dev set: {LABELS.relative_to(ROOT)} ({len(lab)} captions of {FIXTURE.name}, all development data); "
          "positives: " + ", ".join(f"{c} {int(lab[c].sum())}" for c in [*CATEGORIES, "slur", "non_english"]))
    print(f"training set: {TRAIN_LABELS.relative_to(ROOT)} ({len(t_lab)} captions of rows 2,000-8,999, identity "
          f"only, {int((t_lab['selection'] == 'random').sum())} of them a random sample; the v3 vocabulary and the "
          "sense model were built from it); positives: "
          + ", ".join(f"{c} {int(t_lab[c].sum())}" for c in IDENTITY))
    print(f"held-out set: {HELDOUT_LABELS.relative_to(ROOT)} ({len(h_lab)} captions); positives: "
          + ", ".join(f"{c} {int(h_lab[c].sum())}" for c in [*CATEGORIES, "slur", "non_english"]))
    print(f"held-out sexual set: {HELDOUT_SEXUAL.relative_to(ROOT)} ({len(s_lab)} captions, sexual only); "
          f"positives {int(s_lab['sexual'].sum())}, of which {int(s_lab['sexual'][BLIND_FROM:].sum())} in the blind "
          f"rows {BLIND_FROM:,}-{len(s_lab) - 1:,}")
    v1 = load_lexicons([*sorted(V1.glob("*.yaml"))], include_defaults=False)
    v2 = load_lexicons([p for p in sorted(V2.glob("*.yaml")) if p.name != "senses.yaml"], include_defaults=False)
    lex = load_lexicons()
    model = SenseModel.load()
    V1N, PREV, NEW, MODEL = ("v1 (v1 lexicons, plain matching)", "previous (v2 lexicons + sense rules)",
                             "new (v3 lexicons + sense rules)", "new + sense model (opt-in)")
    versions = {V1N: (Tagger(v1.forms), v1),
                PREV: (Tagger.for_lexicon(v2, senses_path=V2 / "senses.yaml"), v2),
                "lexicon v3, no sense rules": (Tagger.for_lexicon(lex, rules=()), lex)}
    for r in RULES:
        versions[f"new minus {r}"] = (Tagger.for_lexicon(lex, rules=[x for x in RULES if x != r]), lex)
    versions[NEW] = (Tagger.for_lexicon(lex), lex)
    versions[MODEL] = (Tagger.for_lexicon(lex, sense_model=model), lex)
    preds = {k: {name: flags(t, lx, c) for name, (t, lx) in versions.items()} for k, (c, _) in sets.items()}
    results = {k: {} for k in sets}
    for k, (c, lb) in sets.items():
        cats = IDENTITY if k == "training" else ("sexual",) if k == "held-out-sexual" else None
        for name in versions:
            results[k][name] = scores(preds[k][name], lb, categories=cats)
            if not name.startswith("new minus"):
                tag = " (in-sample: vocabulary and model built from it)" if k == "training" else ""
                print(f"\n[{k}] {name} -- all {len(lb)} captions{tag}")
                print(fmt(results[k][name]))
    blind = np.arange(len(s_lab)) >= BLIND_FROM
    for name in (V1N, PREV, NEW):
        print(f"\n[held-out-sexual, blind rows {BLIND_FROM:,}-{len(s_lab) - 1:,}] {name}")
        print(fmt(scores(preds["held-out-sexual"][name], s_lab, blind, categories=("sexual",))))
    for k in ("dev", "held-out"):
        c, lb = sets[k]
        english = lb["non_english"].to_numpy() == 0
        for name in (NEW, MODEL):
            print(f"\n[{k}] {name} -- English captions only ({int(english.sum())}, by label)")
            print(fmt(scores(preds[k][name], lb, english)))

    for k in ("dev", "training", "held-out"):
        print(f"\n[{k}] what each sense rule buys (person identity; new minus the rule -> new):")
        new = results[k][NEW].set_index("category")
        for r in RULES:
            wo = results[k][f"new minus {r}"].set_index("category")
            print(f"  {r:11s} precision {wo.at['person identity', 'precision']:.1%} -> "
                  f"{new.at['person identity', 'precision']:.1%}, recall {wo.at['person identity', 'recall']:.1%} -> "
                  f"{new.at['person identity', 'recall']:.1%} (FP {wo.at['person identity', 'fp']} -> "
                  f"{new.at['person identity', 'fp']}, FN {wo.at['person identity', 'fn']} -> "
                  f"{new.at['person identity', 'fn']})")
    cv = model.meta.get("cross_validation", {})
    if cv:
        print("\nsense model, 5-fold cross-validation on its own training data (dev + training; "
              "from data/lexicons/sense_model.json):")
        for key, v in cv.items():
            print(f"  {key:14s} precision {v['precision']:.1%} recall {v['recall']:.1%} (TP {v['tp']}, FP {v['fp']}, "
                  f"positives {v['positives']})")

    print("\ngates (the held-out lines are the ones that count):")
    for name in (PREV, NEW, MODEL):
        print(f" {name}:")
        print(_gate_line("dev (in-sample)", results["dev"][name]))
        print(_gate_line("held-out", results["held-out"][name]))
        print(_gate_line("held-out sexual (9,000)", results["held-out-sexual"][name]))
        print(_gate_line("held-out sexual, blind rows only",
                         scores(preds["held-out-sexual"][name], s_lab, blind, categories=("sexual",))))

    slur_lex = load_lexicons(include_slurs=True)
    slur_tagger = Tagger.for_lexicon(slur_lex)
    for k in ("dev", "held-out"):
        c, lb = sets[k]
        sp = flags(slur_tagger, slur_lex, c)["slur"].to_numpy()
        st = lb["slur"].to_numpy().astype(bool)
        print(f"[{k}] opt-in slur lexicon (counts only): flagged {int(sp.sum())}, labelled {int(st.sum())}, "
              f"TP {int((sp & st).sum())}, FP {int((sp & ~st).sum())}, FN {int((~sp & st).sum())}")

    for k in ("dev", "held-out"):
        c, lb = sets[k]
        want = lb["non_english"].to_numpy() != 0
        got = ~english_mask(pa.array(c, pa.string()))
        tp, fp, fn = int((got & want).sum()), int((got & ~want).sum()), int((~got & want).sum())
        print(f"[{k}] language: detected non-English {int(got.sum())} of {len(c)} ({got.mean():.1%}); labelled "
              f"{int(want.sum())} ({want.mean():.1%}); detector precision {tp / max(tp + fp, 1):.1%}, "
              f"recall {tp / max(tp + fn, 1):.1%}")

    big = pa.array((caps * (args.timing_rows // len(caps) + 1))[:args.timing_rows], pa.string())
    plain, full, withmodel = Tagger.for_lexicon(lex, rules=()), versions[NEW][0], versions[MODEL][0]
    for t in (plain, full, withmodel):
        t.match(big[:2000])
    ts = {name: _median_time(lambda t=t: t.match(big)) for name, t in
          (("plain", plain), ("rules", full), ("model", withmodel))}
    rows, sids = plain.match(big)
    touched = int(np.unique(rows[full.senses.flagged[sids]]).size)
    ident = int(np.unique(rows[withmodel.model_cats[sids] != 0]).size)
    print(f"sense-rule cost: tagging {len(big):,} captions takes {ts['plain'] * 1e3:.0f} ms plain, "
          f"{ts['rules'] * 1e3:.0f} ms with rules (median of 3); the rules touch {touched:,} captions "
          f"({touched / len(big):.1%}) = {(ts['rules'] - ts['plain']) / max(touched, 1) * 1e6:.2f} us per touched "
          "caption")
    print(f"sense-model cost: {ts['model'] * 1e3:.0f} ms with rules + model (median of 3); the model reads "
          f"{ident:,} captions with an identity hit ({ident / len(big):.1%}) = "
          f"{(ts['model'] - ts['rules']) / max(ident, 1) * 1e6:.1f} us per caption it reads; "
          f"{len(big) / ts['rules']:,.0f} -> {len(big) / ts['model']:,.0f} captions/s for the tagging step alone "
          "(one core)")

    if args.errors:
        caps, lab = sets[args.errors_set]
        pred = preds[args.errors_set][NEW]
        c = args.errors
        t = lab[c].to_numpy().astype(bool)
        p = pred[c].to_numpy()
        for kind, m in (("false positive", p & ~t), ("false negative", ~p & t)):
            for i in np.flatnonzero(m):
                print(f"{kind} {i}: {caps[i][:120]!r}  {lab.at[i, 'note']}")


if __name__ == "__main__":
    main()
