"""Benchmark: nPMI with 1,000 cluster-bootstrap resamples over 1,000,000 label rows.

Figure: :func:`audit.metrics.cluster_bootstrap` (per-prompt count arrays, multinomial
cluster weights, one sparse product) end to end from the per-image table (one
presentation label per image, so 1,000,000 rows), and again from the tidy labels
table through :func:`audit.metrics.wide_labels`; and :class:`audit.metrics.AuditFrame` with its
default interval method (``jeffreys_deff``: design effect + 1,000 Jeffreys posterior draws) reading
``by_group_ci`` and ``gaps``, without and with labeler-error correction (a 3 x 3 matrix of
validation counts: 1,000 corrected posterior draws).
Baseline, measured in the same process: a plain pandas implementation that, per
resample, draws prompts with replacement, gathers their rows (``.loc``),
counts with ``groupby`` and computes nPMI with pandas arithmetic. The baseline
runs only a few resamples; its time is extrapolated linearly to 1,000 (stated
in the output). Goal: <= 10 s on 2 cores.

Run: ``python benchmarks/metrics.py [--rows 1000000 --resamples 1000 --prompts 20000]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from audit.metrics import AuditFrame, cluster_bootstrap, npmi_array, wide_labels


def make_table(rows: int, prompts: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    jobs = np.array([f"job{i:02d}" for i in range(50)])
    prompt_job = rng.integers(0, len(jobs), prompts)
    prompt_id = rng.integers(0, prompts, rows)
    p_fem = rng.uniform(0.05, 0.95, len(jobs))[prompt_job[prompt_id]]
    u = rng.random(rows)
    presentation = np.where(u < p_fem * 0.9, "feminine", np.where(u < 0.9, "masculine", "androgynous"))
    return pd.DataFrame(
        {
            "prompt_id": prompt_id,
            "profession": pd.Categorical(jobs[prompt_job[prompt_id]]),
            "presentation": presentation,
        }
    )


def pandas_npmi_bootstrap(df: pd.DataFrame, *, n_resamples: int, seed: int) -> pd.DataFrame:
    """The plain pandas way: gather resampled clusters, groupby-count, nPMI per resample."""
    rng = np.random.default_rng(seed)
    by_prompt = df.set_index("prompt_id").sort_index()
    ids = by_prompt.index.unique().to_numpy()
    results = []
    for _ in range(n_resamples):
        sample = by_prompt.loc[rng.choice(ids, size=len(ids), replace=True)]
        n = sample.groupby(["profession", "presentation"], observed=True).size()
        total = n.sum()
        px = n.groupby(level=0, observed=True).transform("sum") / total
        py = n.groupby(level=1, observed=True).transform("sum") / total
        pxy = n / total
        results.append(np.log(pxy / (px * py)) / -np.log(pxy))
    return pd.concat(results, axis=1)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--prompts", type=int, default=20_000)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--baseline-resamples", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    df = make_table(args.rows, args.prompts)

    def ours():
        return cluster_bootstrap(
            df, statistic=npmi_array, concept="profession", attribute="presentation", cluster="prompt_id",
            n_resamples=args.resamples, seed=0,
        )

    res = ours()
    assert len(res) == 150 and res.lo.notna().all()
    t_ours = median_time(ours, args.repeats)
    # the same from the tidy labels table (1,000,000 label rows) through wide_labels
    image_id = pd.Series(np.arange(len(df))).map("img{:08d}".format)
    labels = pd.DataFrame({"image_id": image_id, "labeler": "bench", "attribute": "presentation",
                           "value": df["presentation"], "confidence": np.nan})
    manifest = df.drop(columns="presentation").assign(image_id=image_id)

    def from_labels():
        wide = wide_labels(labels, manifest)
        return cluster_bootstrap(
            wide, statistic=npmi_array, concept="profession", attribute="presentation", cluster="prompt_id",
            n_resamples=args.resamples, seed=0,
        )

    assert np.allclose(from_labels().estimate, res.estimate)
    t_labels = median_time(from_labels, args.repeats)

    def frame():
        af = AuditFrame(df, concept="profession", attribute="presentation", cluster="prompt_id",
                        n_resamples=args.resamples, seed=0)
        return af, af.by_group_ci, af.gaps(groups=("feminine", "masculine"))

    af, ci, _ = frame()
    assert ci.proportion_lo.notna().all() and af.method == "jeffreys_deff"
    t_frame = median_time(frame, args.repeats)
    values = ["feminine", "masculine", "androgynous"]
    conf = pd.DataFrame([[940, 40, 20], [30, 950, 20], [200, 200, 600]], index=values, columns=values)

    def frame_corrected(correction="gibbs"):
        af = AuditFrame(df, concept="profession", attribute="presentation", cluster="prompt_id", confusion=conf,
                        n_resamples=args.resamples, seed=0, correction=correction)
        return af, af.by_group_ci, af.gaps(groups=("feminine", "masculine"))

    afc, ci, _ = frame_corrected()
    assert ci.proportion_corrected_lo.notna().all()
    t_corrected = median_time(frame_corrected, args.repeats)
    t_lsq = median_time(lambda: frame_corrected("lsq"), args.repeats)
    t_base_few = median_time(
        lambda: pandas_npmi_bootstrap(df, n_resamples=args.baseline_resamples, seed=0), args.repeats
    )
    t_base = t_base_few * args.resamples / args.baseline_resamples
    print(f"data: {args.rows:,} label rows, {args.prompts:,} prompt clusters, 50 professions x 3 presentations")
    print(f"figure   audit.metrics.cluster_bootstrap (nPMI, {args.resamples} resamples): {t_ours:.2f} s "
          f"(median of {args.repeats}; goal <= 10 s)")
    print(f"figure   the same from the tidy labels table (wide_labels pivot + bootstrap): {t_labels:.2f} s "
          f"(median of {args.repeats})")
    print(f"figure   AuditFrame ({af.method}, design effect {af.design_effect:.2f}, {args.resamples} draws) "
          f"+ by_group_ci + gaps: {t_frame:.2f} s (median of {args.repeats}; goal <= 10 s)")
    print(f"figure   the same with labeler-error correction ({afc.method_corrected}, 3x3 validation counts): "
          f"{t_corrected:.2f} s (median of {args.repeats}; goal <= 10 s); least squares per draw (the correction "
          f"before): {t_lsq:.2f} s, ratio {t_corrected / t_lsq:.2f}")
    print(f"baseline pandas groupby per resample: {t_base_few:.2f} s for {args.baseline_resamples} resamples "
          f"(median of {args.repeats}) -> extrapolated to {args.resamples}: {t_base:.1f} s")
    print(f"ratio    baseline / figure: {t_base / t_ours:.0f}x (from the per-image table), "
          f"{t_base / t_labels:.0f}x (from tidy labels)")


if __name__ == "__main__":
    main()
