"""Gate: the dataset audit recovers the world spec's P(presentation | profession) and P(skin group | profession).

For each seed this builds a world dataset (``imagen-audit world build --n 4000``), audits it
(``imagen-audit dataset audit --labeler world``, with whatever weights are in
``data/weights/world-labeler`` or ``--world-weights``) and compares ``image_by_concept.parquet``
(rows ``profession:X`` x ``presentation`` / ``skin_group``) with the spec's true conditional
probabilities (:func:`generator.world.spec.conditional_tables`; skin group = the sum of its Monk
tones). Printed per seed and pooled over seeds:

- raw MAE: mean |labelled share - spec| over cells (the baseline, measured in the same run);
- corrected MAE: mean |labeler-error-corrected share - spec|, and the ratio corrected / raw;
- coverage: share of cells whose corrected interval holds the spec value (raw intervals beside it);
- n cells (profession x value with at least one labelled image);
- floor: the MAE a perfect labeler would still have, from sampling alone
  (``E|Binomial(n, p) / n - p|`` for each cell's ``n`` images, averaged like the MAE).

With 4,000 images a profession has about 100-170 captioned images, so one seed's MAE sits near
its sampling floor (about 0.025-0.03); the pooled estimate sums the five seeds' counts (20,000
images; corrected: the seeds' corrected shares weighted by their answered images) and is what
the gate reads:

Gate (issue 15): pooled corrected MAE <= 0.02 and lower than raw, for presentation and skin
group; corrected intervals (per seed) cover the spec value in >= 93% of all cells of all seeds.

The spec value is P(value | profession); the audit estimates P(label | caption names the
profession). The world's captions never name a wrong profession, so the two agree unless the
caption tagger misses or mistags a profession (``--truth-concepts`` replaces the caption concept
by the ground-truth profession to separate the two).

Run: ``python benchmarks/world_dataset_gate.py [--seeds 0 1 2 3 4 --n 4000 --work DIR]``
(builds and audits are reused if DIR already holds them; about 1 min of CPU per seed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ATTRIBUTES = ("presentation", "skin_group")
GATE_MAE, GATE_COVERAGE = 0.02, 0.93


def spec_truth() -> pd.DataFrame:
    """``profession, attribute, value, p``: the spec's true conditionals."""
    from audit.schema import skin_group
    from generator.world.spec import conditional_tables, load_spec

    t = conditional_tables(load_spec())
    pres = t["presentation"].rename(columns={"presentation": "value"}).assign(attribute="presentation")
    tone = t["skin_tone"].assign(value=lambda d: d["skin_tone"].map(skin_group))
    skin = tone.groupby(["profession", "value"], as_index=False)["p"].sum().assign(attribute="skin_group")
    return pd.concat([pres, skin], ignore_index=True)[["profession", "attribute", "value", "p"]]


def _cli(*args: str) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    subprocess.run([sys.executable, "-m", "audit.cli", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def build_and_audit(work: Path, seed: int, *, n: int, weights: str | None) -> Path:
    """World dataset and its audit for one seed (reused when already complete); the audit folder."""
    world, audit = work / f"world{seed}", work / f"audit{seed}"
    if not (world / "ground_truth.parquet").is_file():
        _cli("world", "build", "--n", str(n), "--out", str(world), "--seed", str(seed), "--workers", "1",
             "--no-progress")
    if not (audit / "image_by_concept.parquet").is_file():
        extra = ["--world-weights", weights] if weights else []
        _cli("dataset", "audit", str(world), "--out", str(audit), "--labeler", "world", "--no-progress", *extra)
    return audit


def truth_concept_shares(world: Path, audit: Path, *, weights: str | None) -> pd.DataFrame:
    """``image_by_concept``-like table with the ground-truth profession as the concept."""
    from audit.dataset.results import image_shares
    from audit.registry import world_labeler

    labels = pd.read_parquet(audit / "image_labels.parquet")
    truth = pd.read_parquet(world / "ground_truth.parquet")
    concepts = pd.DataFrame({"image_id": truth["key"].astype(str),
                             "concept": "profession:" + truth["profession"].str.replace(" ", "_")})
    from audit.schema import NON_ANSWER_VALUES

    labels = labels[~labels["value"].astype(str).isin(NON_ANSWER_VALUES)]
    labels = labels[labels["attribute"].isin(ATTRIBUTES)]
    return image_shares(labels, concepts, labeler=world_labeler(weights=weights))


def compare(shares: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per (profession, attribute, value) cell with labelled images: estimates, intervals, spec value."""
    t = shares[shares["concept"].str.startswith("profession:") & shares["attribute"].isin(ATTRIBUTES)].copy()
    t["profession"] = t["concept"].str.split(":", n=1).str[1].str.replace("_", " ")
    t = t.merge(truth, on=["profession", "attribute", "value"], how="inner")
    t = t[t["n_concept"] > 0]
    t["err_raw"] = (t["share"] - t["p"]).abs()
    t["err_corrected"] = (t["share_corrected"] - t["p"]).abs()
    t["cover_raw"] = (t["lo"] <= t["p"]) & (t["p"] <= t["hi"])
    t["cover_corrected"] = (t["lo_corrected"] <= t["p"]) & (t["p"] <= t["hi_corrected"])
    return t


def sampling_floor(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``E|Binomial(n, p) / n - p|`` per cell: the error a perfect labeler still makes."""
    from scipy.stats import binom

    out = np.empty(len(p))
    for i, (pi, ni) in enumerate(zip(p, n.astype(int))):
        k = np.arange(ni + 1)
        out[i] = float(binom.pmf(k, ni, pi) @ np.abs(k / ni - pi)) if ni > 0 else np.nan
    return out


def pool_seeds(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per cell over all seeds: summed counts, answered-weighted corrected share."""
    c = cells.assign(wc=cells["share_corrected"] * cells["n_answered"])
    g = c.groupby(["profession", "attribute", "value"], as_index=False).agg(
        n=("n", "sum"), n_concept=("n_concept", "sum"), wc=("wc", "sum"), n_answered=("n_answered", "sum"),
        p=("p", "first"))
    g["share"] = g["n"] / g["n_concept"]
    g["share_corrected"] = g["wc"] / g["n_answered"]
    g["err_raw"] = (g["share"] - g["p"]).abs()
    g["err_corrected"] = (g["share_corrected"] - g["p"]).abs()
    g["floor"] = sampling_floor(g["p"].to_numpy(), g["n_concept"].to_numpy())
    return g


def summarise(cells: pd.DataFrame) -> pd.DataFrame:
    cells = cells.assign(floor=sampling_floor(cells["p"].to_numpy(), cells["n_concept"].to_numpy()))
    g = cells.groupby("attribute")
    out = pd.DataFrame({
        "mae_raw": g["err_raw"].mean(), "mae_corrected": g["err_corrected"].mean(), "floor": g["floor"].mean(),
        "coverage_raw": g["cover_raw"].mean(), "coverage_corrected": g["cover_corrected"].mean(),
        "cells": g.size(),
        "professions_missing": g["profession"].nunique().rsub(24),
    })
    out["ratio"] = out["mae_corrected"] / out["mae_raw"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--work", type=Path, default=Path("runs/world-dataset-gate"))
    ap.add_argument("--world-weights", default=None, help="world labeler folder (default: the shipped weights)")
    ap.add_argument("--truth-concepts", action="store_true",
                    help="also score with the ground-truth profession as the concept (diagnostic)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    truth = spec_truth()
    args.work.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 160)
    every = []
    for seed in args.seeds:
        audit = build_and_audit(args.work, seed, n=args.n, weights=args.world_weights)
        cells = compare(pd.read_parquet(audit / "image_by_concept.parquet"), truth).assign(seed=seed)
        every.append(cells)
        print(f"seed {seed} (world --n {args.n}; {audit}):")
        print(summarise(cells).round(4).to_string(), flush=True)
        if args.truth_concepts:
            tc = compare(truth_concept_shares(args.work / f"world{seed}", audit, weights=args.world_weights), truth)
            print("  with ground-truth professions as concepts:")
            print(summarise(tc).round(4).to_string(), flush=True)
    pooled = pd.concat(every, ignore_index=True)
    summary = summarise(pooled)
    print(f"\nall cells of seeds {args.seeds} (MAE = mean per-seed error; coverage of per-seed intervals):")
    print(summary.round(4).to_string())
    est = pool_seeds(pooled).groupby("attribute")
    joint = pd.DataFrame({"mae_raw": est["err_raw"].mean(), "mae_corrected": est["err_corrected"].mean(),
                          "floor": est["floor"].mean(), "cells": est.size(),
                          "images_per_profession": est["n_concept"].mean() / 1})
    joint["ratio"] = joint["mae_corrected"] / joint["mae_raw"]
    print(f"\npooled estimate (counts of seeds {args.seeds} summed; the gate's MAE):")
    print(joint.round(4).to_string())
    worst = pooled.sort_values("err_corrected", ascending=False).head(8)
    print("\nlargest corrected errors:")
    print(worst[["seed", "profession", "attribute", "value", "n", "n_concept", "p", "share", "share_corrected",
                 "lo_corrected", "hi_corrected"]].round(4).to_string(index=False))
    fails = []
    for attr, row in joint.iterrows():
        if not row["mae_corrected"] <= GATE_MAE:
            fails.append(f"{attr}: pooled corrected MAE {row['mae_corrected']:.4f} > {GATE_MAE}")
        if not row["mae_corrected"] < row["mae_raw"]:
            fails.append(f"{attr}: pooled corrected MAE {row['mae_corrected']:.4f} not below raw {row['mae_raw']:.4f}")
    for attr, row in summary.iterrows():
        if not row["coverage_corrected"] >= GATE_COVERAGE:
            fails.append(f"{attr}: corrected interval coverage {row['coverage_corrected']:.3f} < {GATE_COVERAGE}")
    print(f"\nelapsed {time.perf_counter() - t0:.0f} s")
    print(f"gate: pooled corrected MAE <= {GATE_MAE} and below raw; corrected coverage >= {GATE_COVERAGE}")
    print("GATE PASSES" if not fails else "GATE FAILS:\n  " + "\n  ".join(fails))
    raise SystemExit(0 if not fails else 1)


if __name__ == "__main__":
    main()
