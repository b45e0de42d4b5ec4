"""Gate: the dataset audit recovers the world spec's P(presentation | profession) and P(skin group | profession).

One command (``python benchmarks/world_dataset_gate.py``) does, for each seed: build a world
dataset (``imagen-audit world build --n 4000``), audit it (``imagen-audit dataset audit --labeler
world --confusion MATCHED.json``) and compare ``image_by_concept.parquet`` (rows ``profession:X`` x
``presentation`` / ``skin_group``) with the spec's true conditionals
(:func:`generator.world.spec.conditional_tables`; skin group = the sum of its Monk tones).

Which confusion matrix. The labeler-error correction must use a matrix measured on images like
the audited ones. The world labeler's card matrices are measured on its own held-out pool
(balanced attributes, 20 % of images JPEG-recompressed at quality 20-90; the ``augmented`` split adds
diffusion-like colour/blur artifacts), not on PNG or JPEG world datasets. So the benchmark first
builds a held-out VALIDATION world (``--validation-seed``, default 100; same codec as the audited
worlds), audits it, and counts ground truth x label into ``confusion_matched.json`` (the
``--confusion`` file every audit then uses; ``confusion_source`` in ``image_by_concept.parquet``
says so). The card's matrix is scored beside it (recomputed from the same labels with
:func:`audit.dataset.results.image_shares`), and so is the labeler's actual error on the audited
images themselves (from their ground truth).

``--jpeg-quality LO HI`` builds the worlds with JPEG images (``world build --jpeg-quality``: the
same people as the PNG build, each image recompressed at a quality drawn from LO..HI): the
setting where the labeler has error to remove.

Printed per seed and pooled over seeds, per attribute:

- raw MAE: mean |labelled share - spec| over cells (the baseline, measured in the same run);
- corrected MAE (matched matrix; card matrix beside it; with ``--recompute`` also the least-squares
  correction that the Gibbs posterior replaced, ``mae_lsq`` / ``cov_lsq``) and the ratio corrected / raw;
- floor: the MAE a perfect labeler would still have from sampling alone
  (``E|Binomial(n, p) / n - p|`` for each cell's ``n`` images, averaged like the MAE);
- coverage: share of cells whose interval holds the spec value (raw, corrected);
- n cells (profession x value with at least one labelled image);
- the labeler's error alone: |share - share of the same images' true labels| (no sampling error:
  the only error a correction can remove), raw and corrected.

Skin tone (10 Monk classes) is scored too but not gated: under JPEG it is where the labeler errs
most (neighbouring tones), the diagnostic of what correction does with real labeler error.

The pooled estimate sums the seeds' counts (corrected: the seeds' corrected shares weighted by
their answered images). Gate (issue 15): pooled corrected MAE <= 0.02 and lower than raw, for
presentation and skin group; corrected intervals (per seed) cover the spec value in >= 93 % of all
cells of all seeds. Where raw sits at its sampling floor no estimator can be lower except by
chance: the script prints raw - floor, the error there is to remove.

The spec value is P(value | profession); the audit estimates P(label | caption names the
profession). The world's captions never name a wrong profession, so the two agree unless the
caption tagger misses or mistags a profession.

Run: ``python benchmarks/world_dataset_gate.py [--seeds 0 1 2 3 4 --n 4000 --work DIR
--jpeg-quality 20 40 --world-weights DIR]`` (builds and audits are reused when DIR already holds
them, and refused when they were made with other weights: a new labeler needs a new --work; about
3 min of wall time per audit on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Attributes scored; the gate reads the first two. Skin tone (10 Monk classes, not gated) is where the
#: labeler errs most under JPEG: the diagnostic of whether correction removes labeler error.
ATTRIBUTES = ("presentation", "skin_group", "skin_tone")
GATED = ("presentation", "skin_group")
#: Attributes whose validation counts go into the matched confusion file.
MATRIX_ATTRIBUTES = ("presentation", "skin_group", "skin_tone", "age_group")
GATE_MAE, GATE_COVERAGE = 0.02, 0.93


def spec_truth() -> pd.DataFrame:
    """``profession, attribute, value, p``: the spec's true conditionals."""
    from audit.schema import skin_group
    from generator.world.spec import conditional_tables, load_spec

    t = conditional_tables(load_spec())
    pres = t["presentation"].rename(columns={"presentation": "value"}).assign(attribute="presentation")
    tone = t["skin_tone"].assign(value=lambda d: d["skin_tone"].map(skin_group))
    skin = tone.groupby(["profession", "value"], as_index=False)["p"].sum().assign(attribute="skin_group")
    tones = t["skin_tone"].assign(value=lambda d: d["skin_tone"].astype(str), attribute="skin_tone")
    return pd.concat([pres, skin, tones], ignore_index=True)[["profession", "attribute", "value", "p"]]


def _cli(*args: str) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    subprocess.run([sys.executable, "-m", "audit.cli", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def build(world: Path, *, seed: int, n: int, jpeg: tuple[int, int] | None) -> None:
    """``world build`` into ``world`` unless it is already complete."""
    if not (world / "ground_truth.parquet").is_file():
        extra = ["--jpeg-quality", str(jpeg[0]), str(jpeg[1])] if jpeg else []
        _cli("world", "build", "--n", str(n), "--out", str(world), "--seed", str(seed), "--workers", "1",
             "--no-progress", *extra)


def audit(world: Path, out: Path, *, weights: str | None, confusion: Path | None) -> Path:
    """``dataset audit --labeler world`` of ``world`` into ``out`` unless already complete."""
    if not (out / "image_by_concept.parquet").is_file():
        extra = ["--world-weights", weights] if weights else []
        extra += ["--confusion", str(confusion)] if confusion else []
        _cli("dataset", "audit", str(world), "--out", str(out), "--labeler", "world", "--no-progress", *extra)
    return out


def truth_and_labels(world: Path, audit_dir: Path) -> pd.DataFrame:
    """Ground truth joined with the audit's label per image (``<attr>`` true, ``<attr>_label`` labelled)."""
    truth = pd.read_parquet(world / "ground_truth.parquet")
    truth.index = truth["key"].astype(str)
    labels = pd.read_parquet(audit_dir / "image_labels.parquet")
    wide = labels.pivot_table(index="image_id", columns="attribute", values="value", aggfunc="first")
    wide.columns = [f"{c}_label" for c in wide.columns]
    return truth.join(wide, how="left")


def measure_confusion(world: Path, audit_dir: Path, out: Path) -> Path:
    """Ground truth x label counts of a validation world, as a ``--confusion`` file."""
    from audit.dataset.confusion import confusion_counts_table
    from audit.labelers.world import HEADS
    from audit.schema import SKIN_GROUP_NAMES

    t = truth_and_labels(world, audit_dir)
    classes = {"skin_group": list(SKIN_GROUP_NAMES), **{k: list(map(str, v)) for k, v in HEADS.items()}}
    data = {a: confusion_counts_table(t[a], t[f"{a}_label"].fillna(""), classes=classes[a])
            for a in MATRIX_ATTRIBUTES}
    data["source"] = f"validation world {world} ({len(t)} images)"
    out.write_text(json.dumps(data, indent=1))
    return out


def own_error(world: Path, audit_dir: Path) -> dict[str, float]:
    """The labeler's actual error rate on the audited images (from their ground truth)."""
    t = truth_and_labels(world, audit_dir)
    return {a: float((t[a].astype(str) != t[f"{a}_label"].astype(str)).mean()) for a in ATTRIBUTES}


def _caption_concepts(world: Path, ids: list[str]) -> pd.DataFrame:
    """Caption concepts of the images, tagged as ``dataset audit`` tags them (default lexicons)."""
    from audit.dataset.images import _concepts_per_image
    from audit.dataset.lexicon import load_lexicons

    truth = pd.read_parquet(world / "ground_truth.parquet")
    caption = dict(zip(truth["key"].astype(str), truth["TEXT"]))
    return _concepts_per_image(ids, [caption.get(i) for i in ids], load_lexicons())


def shares_with(world: Path, audit_dir: Path, labeler, *, correction: str = "gibbs") -> pd.DataFrame:
    """``image_by_concept`` rows of ATTRIBUTES recomputed from the audit's labels with another labeler's matrix.

    The same function and inputs as ``dataset audit`` (labels without non-answers; caption concepts
    tagged with the default lexicons), so with the same matrix the result equals the audit's.
    """
    from audit.dataset.results import image_shares
    from audit.schema import NON_ANSWER_VALUES

    labels = pd.read_parquet(audit_dir / "image_labels.parquet")
    concepts = _caption_concepts(world, list(dict.fromkeys(labels["image_id"].astype(str))))
    labels = labels[~labels["value"].astype(str).isin(NON_ANSWER_VALUES) & labels["attribute"].isin(ATTRIBUTES)]
    return image_shares(labels, concepts, labeler=labeler, correction=correction)


def true_label_shares(world: Path, audit_dir: Path) -> pd.DataFrame:
    """``concept, attribute, value, share_true``: the shares a perfect labeler would report for the same images.

    Scoring the audit against these removes sampling error: what is left is the labeler's error,
    the part a correction can remove.
    """
    from audit.dataset.results import image_shares
    from audit.schema import NON_ANSWER_VALUES

    labels = pd.read_parquet(audit_dir / "image_labels.parquet")
    labels = labels[~labels["value"].astype(str).isin(NON_ANSWER_VALUES) & labels["attribute"].isin(ATTRIBUTES)]
    truth = pd.read_parquet(world / "ground_truth.parquet")
    truth.index = truth["key"].astype(str)
    ids = list(dict.fromkeys(labels["image_id"].astype(str)))
    exact = pd.concat([pd.DataFrame({"image_id": ids, "attribute": a, "value": truth[a].reindex(ids).astype(str)})
                       for a in ATTRIBUTES], ignore_index=True)
    t = image_shares(exact, _caption_concepts(world, ids), n_resamples=0)
    return t[["concept", "attribute", "value", "share"]].rename(columns={"share": "share_true"})


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
    """One row per cell over all seeds: summed counts, answered-weighted corrected shares."""
    lsq = cells["lsq_corrected"] if "lsq_corrected" in cells else np.nan
    w = cells["n_answered"]
    c = cells.assign(wc=cells["share_corrected"] * w, wk=cells["card_corrected"] * w, wl=lsq * w)
    g = c.groupby(["profession", "attribute", "value"], as_index=False).agg(
        n=("n", "sum"), n_concept=("n_concept", "sum"), wc=("wc", "sum"), wk=("wk", "sum"), wl=("wl", "sum"),
        n_answered=("n_answered", "sum"), p=("p", "first"))
    g["share"] = g["n"] / g["n_concept"]
    g["err_raw"] = (g["share"] - g["p"]).abs()
    g["err_corrected"] = (g["wc"] / g["n_answered"] - g["p"]).abs()
    g["err_card"] = (g["wk"] / g["n_answered"] - g["p"]).abs()
    g["err_lsq"] = (g["wl"] / g["n_answered"] - g["p"]).abs() if "lsq_corrected" in cells else np.nan
    g["floor"] = sampling_floor(g["p"].to_numpy(), g["n_concept"].to_numpy())
    return g


def summarise(cells: pd.DataFrame) -> pd.DataFrame:
    """Per attribute: MAE raw / corrected (matched, card), floor, ratio, coverage, cells."""
    cells = cells.assign(floor=sampling_floor(cells["p"].to_numpy(), cells["n_concept"].to_numpy()))
    g = cells.groupby("attribute")
    out = pd.DataFrame({
        "mae_raw": g["err_raw"].mean(), "mae_corrected": g["err_corrected"].mean(), "mae_card": g["err_card"].mean(),
        "floor": g["floor"].mean(), "cov_raw": g["cover_raw"].mean(), "cov_corrected": g["cover_corrected"].mean(),
        "cov_card": g["cover_card"].mean(), "cells": g.size()})
    out.insert(3, "ratio", out["mae_corrected"] / out["mae_raw"])
    if "err_lsq" in cells:  # the least-squares correction (before the Gibbs posterior), same matrix
        out.insert(3, "mae_lsq", g["err_lsq"].mean())
        out.insert(out.columns.get_loc("cov_corrected") + 1, "cov_lsq", g["cover_lsq"].mean())
    return out


def check_weights(work: Path, weights: str | None) -> None:
    """Refuse to reuse ``work``'s audits when they were made with other world-labeler weights."""
    import hashlib

    folder = Path(weights) if weights else Path(__file__).resolve().parent.parent / "data/weights/world-labeler"
    digest = hashlib.sha256(b"".join((folder / f).read_bytes() for f in ("model.safetensors", "card.json")
                                     if (folder / f).is_file())).hexdigest()
    stamp = work / "weights.sha256"
    if stamp.is_file() and stamp.read_text().strip() != digest:
        raise SystemExit(f"{work} holds audits made with other world-labeler weights (fix: pass a new --work)")
    stamp.write_text(digest + "\n")


def run(args: argparse.Namespace) -> list[str]:
    """Build, audit and score every seed; the gate's failures."""
    from audit.registry import world_labeler

    jpeg = tuple(args.jpeg_quality) if args.jpeg_quality else None
    codec = f"JPEG quality {jpeg[0]}-{jpeg[1]}" if jpeg else "PNG"
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    check_weights(work, args.world_weights)
    truth = spec_truth()
    card_labeler = world_labeler(weights=args.world_weights)
    vworld = work / f"world{args.validation_seed}"
    build(vworld, seed=args.validation_seed, n=args.validation_n, jpeg=jpeg)
    vaudit = audit(vworld, work / f"audit{args.validation_seed}", weights=args.world_weights, confusion=None)
    matched = measure_confusion(vworld, vaudit, work / "confusion_matched.json")
    print(f"worlds: {codec}; confusion matrix measured on validation world seed {args.validation_seed} "
          f"(--n {args.validation_n}, same codec): {matched}")
    for a in ATTRIBUTES:
        m = json.loads(matched.read_text())[a]
        c = pd.DataFrame(m["matrix"], index=m["classes"], columns=m["classes"])
        k = card_labeler.confusion_counts(a)
        print(f"  {a}: matched off-diagonal error {1 - np.trace(c.to_numpy()) / c.to_numpy().sum():.4f}, "
              f"card 'clean' split {1 - np.trace(k.to_numpy()) / k.to_numpy().sum():.4f} (balanced pool)")
    every, errors = [], []
    for seed in args.seeds:
        world = work / f"world{seed}"
        build(world, seed=seed, n=args.n, jpeg=jpeg)
        out = audit(world, work / f"audit{seed}", weights=args.world_weights, confusion=matched)
        if args.recompute:  # the audit's labels, today's metrics code (same function as the audit)
            from audit.dataset.confusion import WithConfusion, load_confusion_file

            shares = shares_with(world, out, WithConfusion(card_labeler, load_confusion_file(matched),
                                                          source=str(matched)))
        else:
            shares = pd.read_parquet(out / "image_by_concept.parquet")
        cells = compare(shares, truth).assign(seed=seed)
        card = compare(shares_with(world, out, card_labeler), truth)
        key = ["profession", "attribute", "value"]
        card = card.set_index(key).reindex(pd.MultiIndex.from_frame(cells[key]))
        cells["card_corrected"] = card["share_corrected"].to_numpy()
        cells["err_card"] = card["err_corrected"].to_numpy()
        cells["cover_card"] = card["cover_corrected"].to_numpy().astype(bool)
        if args.recompute:  # the correction before the Gibbs posterior, same labels and matrix
            lsq = compare(shares_with(world, out, WithConfusion(card_labeler, load_confusion_file(matched),
                                                                source=str(matched)), correction="lsq"), truth)
            lsq = lsq.set_index(key).reindex(pd.MultiIndex.from_frame(cells[key]))
            cells["lsq_corrected"] = lsq["share_corrected"].to_numpy()
            cells["err_lsq"] = lsq["err_corrected"].to_numpy()
            cells["cover_lsq"] = lsq["cover_corrected"].to_numpy().astype(bool)
        exact = true_label_shares(world, out).set_index(["concept", "attribute", "value"])["share_true"]
        share_true = exact.reindex(pd.MultiIndex.from_frame(cells[["concept", "attribute", "value"]])).to_numpy()
        cells["label_err_raw"] = np.abs(cells["share"] - share_true)
        cells["label_err_corrected"] = np.abs(cells["share_corrected"] - share_true)
        cells["label_err_card"] = np.abs(cells["card_corrected"] - share_true)
        if "lsq_corrected" in cells:
            cells["label_err_lsq"] = np.abs(cells["lsq_corrected"] - share_true)
        errors.append(pd.Series(own_error(world, out), name=seed))
        every.append(cells)
        print(f"\nseed {seed} ({out}; matrix: {cells['confusion_source'].dropna().iloc[0]}):")
        print(summarise(cells).round(4).to_string(), flush=True)
    err = pd.concat(errors, axis=1).mean(axis=1)
    print("\nlabeler error on the audited images themselves (ground truth): "
          + ", ".join(f"{a} {v:.4f}" for a, v in err.items()))
    pooled = pd.concat(every, ignore_index=True)
    summary = summarise(pooled)
    print(f"\nall cells of seeds {args.seeds} (MAE = mean per-seed error; coverage of per-seed intervals):")
    print(summary.round(4).to_string())
    est = pool_seeds(pooled).groupby("attribute")
    joint = pd.DataFrame({"mae_raw": est["err_raw"].mean(), "mae_corrected": est["err_corrected"].mean(),
                          "mae_lsq": est["err_lsq"].mean(), "mae_card": est["err_card"].mean(),
                          "floor": est["floor"].mean(), "cells": est.size(),
                          "images_per_profession": est["n_concept"].mean()})
    joint.insert(3, "ratio", joint["mae_corrected"] / joint["mae_raw"])
    joint["raw_minus_floor"] = joint["mae_raw"] - joint["floor"]
    print(f"\npooled estimate (counts of seeds {args.seeds} summed; the gate's MAE):")
    print(joint.round(4).to_string())
    g = pooled.groupby("attribute")
    lab = pd.DataFrame({"raw": g["label_err_raw"].mean(), "corrected": g["label_err_corrected"].mean(),
                        "card": g["label_err_card"].mean(), "cells": g.size()})
    lab.insert(2, "ratio", lab["corrected"] / lab["raw"].where(lab["raw"] > 0))
    if "label_err_lsq" in pooled:
        lab.insert(3, "lsq", g["label_err_lsq"].mean())
    print("\nlabeler error alone: mean |share - share of the same images' TRUE labels| (no sampling error; "
          "what a correction can remove):")
    print(lab.round(5).to_string())
    worst = pooled.sort_values("err_corrected", ascending=False).head(6)
    print("\nlargest corrected errors:")
    print(worst[["seed", "profession", "attribute", "value", "n", "n_concept", "p", "share", "share_corrected",
                 "lo_corrected", "hi_corrected"]].round(4).to_string(index=False))
    fails = []
    for attr, row in joint.loc[list(GATED)].iterrows():
        line = (f"{attr}: pooled corrected MAE {row['mae_corrected']:.4f} (<= {GATE_MAE}: "
                f"{'yes' if row['mae_corrected'] <= GATE_MAE else 'NO'}), raw {row['mae_raw']:.4f} (lower: "
                f"{'yes' if row['mae_corrected'] < row['mae_raw'] else 'NO'}), floor {row['floor']:.4f}")
        print("gate " + line)
        if not row["mae_corrected"] <= GATE_MAE or not row["mae_corrected"] < row["mae_raw"]:
            fails.append(line)
    for attr, row in summary.loc[list(GATED)].iterrows():
        line = f"{attr}: corrected interval coverage {row['cov_corrected']:.3f} over {int(row['cells'])} cells"
        print(f"gate {line} (>= {GATE_COVERAGE}: {'yes' if row['cov_corrected'] >= GATE_COVERAGE else 'NO'})")
        if not row["cov_corrected"] >= GATE_COVERAGE:
            fails.append(line)
    return fails


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--work", type=Path, default=Path("runs/world-dataset-gate"))
    ap.add_argument("--world-weights", default=None, help="world labeler folder (default: the shipped weights)")
    ap.add_argument("--jpeg-quality", type=int, nargs=2, metavar=("LO", "HI"), default=None,
                    help="build JPEG worlds (quality drawn from LO..HI) instead of PNG")
    ap.add_argument("--validation-seed", type=int, default=100, help="seed of the validation world (default 100)")
    ap.add_argument("--validation-n", type=int, default=8000, help="images of the validation world (default 8000)")
    ap.add_argument("--recompute", action="store_true",
                    help="recompute the audits' corrected shares from their labels with the current metrics code "
                         "(when only audit/metrics changed since the audits were made) instead of reading "
                         "image_by_concept.parquet")
    args = ap.parse_args()
    if args.validation_seed in args.seeds:
        raise SystemExit("--validation-seed must differ from --seeds (the matrix is measured on held-out images)")
    t0 = time.perf_counter()
    pd.set_option("display.width", 160)
    fails = run(args)
    print(f"\nelapsed {time.perf_counter() - t0:.0f} s")
    print("GATE PASSES" if not fails else "GATE FAILS:\n  " + "\n  ".join(fails))
    raise SystemExit(0 if not fails else 1)


if __name__ == "__main__":
    main()
