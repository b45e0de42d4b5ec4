"""Benchmark: precision and recall of caption tagging on 1,000 hand-labelled real captions.

Labels: ``tests/data/caption_labels.csv`` (guide: ``docs/caption-labelling.md``),
one row per caption of ``/work/shared/fixtures/laion_captions_1000.parquet``,
checked against the caption's SHA-1. A caption is positive for a category when it
describes or depicts a person with that attribute, in words (strict sense);
``sexual`` is explicit sexual content. The tagger flags a category when any
concept of the matching lexicon categories is found.

Measured in one run, on the same captions:

- ``current``: the starter lexicons as they were before this change
  (``tests/data/lexicons_v1/``), plain whole-word matching;
- ``lexicon v2, no rules``: the new lexicons, plain matching;
- ``new minus RULE``: the new tagger with one sense rule switched off (what each rule buys);
- ``new``: the new lexicons with every sense rule (the default ``Tagger.for_lexicon``).

Precision and recall carry 95 % Wilson intervals. ``person identity`` pools
gender, age, ethnicity/nationality, religion and disability (caption x category
pairs). The labelled set is also the set the rules were developed on: figures
are in-sample (see the guide). Also printed: the cost of the sense rules per
caption they touch, and the language detector against the labels.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/caption_tagging.py [--errors CATEGORY]
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
V1 = ROOT / "tests" / "data" / "lexicons_v1"
#: Evaluation category -> lexicon categories that flag it.
CATEGORIES = {
    "gender": ("gender",), "age": ("age",), "ethnicity": ("ethnicity", "nationality", "skin_tone"),
    "religion": ("religion",), "disability": ("disability",), "sexual": ("sexual",),
}
IDENTITY = ("gender", "age", "ethnicity", "religion", "disability")


def load_labelled(fixture: Path = FIXTURE, labels: Path = LABELS) -> tuple[list[str], pd.DataFrame]:
    """Captions and their labels, checked row by row against the caption hash.

    Examples
    --------
    >>> caps, lab = load_labelled()  # doctest: +SKIP
    """
    caps = [c or "" for c in pq.read_table(fixture, columns=["TEXT"]).column("TEXT").to_pylist()]
    lab = pd.read_csv(labels, keep_default_na=False)
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


def scores(pred: pd.DataFrame, lab: pd.DataFrame, mask: np.ndarray | None = None) -> pd.DataFrame:
    """Precision and recall with Wilson intervals per category and pooled person identity."""
    from audit.metrics import wilson_interval

    m = np.ones(len(lab), bool) if mask is None else mask
    rows = []

    def add(name: str, p: np.ndarray, t: np.ndarray) -> None:
        tp, fp, fn = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
        (plo, rlo), (phi, rhi) = wilson_interval([tp, tp], [tp + fp, tp + fn])
        rows.append({"category": name, "labelled": tp + fn, "flagged": tp + fp, "tp": tp, "fp": fp, "fn": fn,
                     "precision": tp / (tp + fp) if tp + fp else np.nan, "p_lo": plo, "p_hi": phi,
                     "recall": tp / (tp + fn) if tp + fn else np.nan, "r_lo": rlo, "r_hi": rhi})

    for c in CATEGORIES:
        add(c, pred[c].to_numpy()[m], lab[c].to_numpy().astype(bool)[m])
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--errors", default="", help="print the false positives/negatives of this category (new tagger)")
    ap.add_argument("--timing-rows", type=int, default=200_000, help="captions for the sense-rule cost figure")
    args = ap.parse_args()

    from audit.dataset.language import english_mask
    from audit.dataset.lexicon import load_lexicons
    from audit.dataset.senses import RULES
    from audit.dataset.tagger import Tagger

    caps, lab = load_labelled()
    print(f"labelled set: {LABELS.relative_to(ROOT)} ({len(lab)} captions of {FIXTURE.name}); positives: "
          + ", ".join(f"{c} {int(lab[c].sum())}" for c in [*CATEGORIES, "slur", "non_english"]))
    v1 = load_lexicons([*sorted(V1.glob("*.yaml"))], include_defaults=False)
    lex = load_lexicons()
    versions = {"current (v1 lexicons, plain matching)": (Tagger(v1.forms), v1),
                "lexicon v2, no sense rules": (Tagger.for_lexicon(lex, rules=()), lex)}
    for r in RULES:
        versions[f"new minus {r}"] = (Tagger.for_lexicon(lex, rules=[x for x in RULES if x != r]), lex)
    versions["new (v2 lexicons + all sense rules)"] = (Tagger.for_lexicon(lex), lex)
    preds, seconds = {}, {}
    for name, (t, lx) in versions.items():
        t0 = time.perf_counter()
        preds[name] = flags(t, lx, caps)
        seconds[name] = time.perf_counter() - t0
    english = lab["non_english"].to_numpy() == 0
    results = {}
    for name, pred in preds.items():
        results[name] = scores(pred, lab)
        print(f"\n{name} -- all {len(lab)} captions")
        print(fmt(results[name]))
    for name in (next(iter(preds)), "new (v2 lexicons + all sense rules)"):
        print(f"\n{name} -- English captions only ({int(english.sum())}, by label)")
        print(fmt(scores(preds[name], lab, english)))

    print("\nwhat each sense rule buys (person identity, all captions; new minus the rule -> new):")
    new_name = "new (v2 lexicons + all sense rules)"
    new = results[new_name].set_index("category")
    for r in RULES:
        wo = results[f"new minus {r}"].set_index("category")
        print(f"  {r:11s} precision {wo.at['person identity', 'precision']:.1%} -> "
              f"{new.at['person identity', 'precision']:.1%}, recall {wo.at['person identity', 'recall']:.1%} -> "
              f"{new.at['person identity', 'recall']:.1%} (FP {wo.at['person identity', 'fp']} -> "
              f"{new.at['person identity', 'fp']}, FN {wo.at['person identity', 'fn']} -> "
              f"{new.at['person identity', 'fn']})")

    pi, sx = new.loc["person identity"], new.loc["sexual"]
    print(f"\ngates (new): person-identity precision {pi.precision:.1%} (>= 85%: "
          f"{'met' if pi.precision >= 0.85 else 'NOT met'}), recall {pi.recall:.1%} (>= 80%: "
          f"{'met' if pi.recall >= 0.80 else 'NOT met'}); explicit sexual recall {sx.recall:.1%} (>= 90%: "
          f"{'met' if sx.recall >= 0.90 else 'NOT met'}) at precision {sx.precision:.1%} (>= 80%: "
          f"{'met' if sx.precision >= 0.80 else 'NOT met'})")

    slur_lex = load_lexicons(include_slurs=True)
    sp = flags(Tagger.for_lexicon(slur_lex), slur_lex, caps)["slur"].to_numpy()
    st = lab["slur"].to_numpy().astype(bool)
    print(f"opt-in slur lexicon (counts only): flagged {int(sp.sum())}, labelled {int(st.sum())}, "
          f"TP {int((sp & st).sum())}, FP {int((sp & ~st).sum())}, FN {int((~sp & st).sum())}")

    got = ~english_mask(pa.array(caps, pa.string()))
    want = ~english
    tp, fp, fn = int((got & want).sum()), int((got & ~want).sum()), int((~got & want).sum())
    print(f"language: detected non-English {int(got.sum())} of {len(caps)} ({got.mean():.1%}); labelled "
          f"{int(want.sum())} ({want.mean():.1%}); detector precision {tp / max(tp + fp, 1):.1%}, "
          f"recall {tp / max(tp + fn, 1):.1%}")

    big = pa.array((caps * (args.timing_rows // len(caps) + 1))[:args.timing_rows], pa.string())
    plain, full = Tagger.for_lexicon(lex, rules=()), Tagger.for_lexicon(lex)
    plain.match(big[:2000]), full.match(big[:2000])
    ts = {}
    for name, t in (("plain", plain), ("rules", full)):
        reps = []
        for _ in range(3):
            t0 = time.perf_counter()
            rows, sids = t.match(big)
            reps.append(time.perf_counter() - t0)
        ts[name] = float(np.median(reps))
    rows, sids = plain.match(big)
    touched = int(np.unique(rows[full.senses.flagged[sids]]).size)
    extra = ts["rules"] - ts["plain"]
    print(f"sense-rule cost: tagging {len(big):,} captions takes {ts['plain'] * 1e3:.0f} ms plain, "
          f"{ts['rules'] * 1e3:.0f} ms with rules (median of 3); the rules touch {touched:,} captions "
          f"({touched / len(big):.1%}) = {extra / max(touched, 1) * 1e6:.2f} us per touched caption")

    if args.errors:
        pred = preds[list(preds)[-1]]
        c = args.errors
        t = lab[c].to_numpy().astype(bool)
        p = pred[c].to_numpy()
        for kind, m in (("false positive", p & ~t), ("false negative", ~p & t)):
            for i in np.flatnonzero(m):
                print(f"{kind} {i}: {caps[i][:120]!r}  {lab.at[i, 'note']}")


if __name__ == "__main__":
    main()
