"""Benchmark: coverage of nominal 95% intervals on simulated probe runs with known truth.

Every simulated run goes through the public :class:`audit.metrics.AuditFrame` API.
Truth: 8 professions with fixed P(presentation | profession) over (feminine,
masculine, androgynous), near-zero cells included (plumber: 2% feminine, 1%
androgynous). A design is ``prompts per profession x images per prompt``
(3x16 as the shipped ``professions`` suite, 10x8, 25x8). With a prompt random
effect each prompt's shares are drawn from ``Dirichlet(kappa * p)`` (mean
``p``, intra-prompt correlation ``1 / (kappa + 1)``); without, every prompt
draws from ``p``.

Estimands: every cell's proportion and every profession's nPMI gap
(feminine - masculine) of the population table. "raw" intervals use the true
labels; "corrected" intervals use labels passed through a labeler confusion
matrix and are corrected with a matrix ESTIMATED from 200 validation images per
class (the true matrix is never given to the estimator); "uncorrected" are the
raw intervals of the noisy labels (to show what correction fixes).

Methods, measured in the same runs:
``cluster_bootstrap`` (the method before issue 15; confusion shares taken as exact),
``stratified_bootstrap`` (the width baseline of the gates), ``auto``
(``jeffreys_deff``, the new default; confusion counts resampled; corrected by the Gibbs posterior of
:mod:`audit.metrics.posterior`) and ``auto_lsq`` (the same, corrected by least squares on the simplex
per draw, the correction before the posterior: corrected rows only).

Gates (issue 15): new method coverage >= 0.93 for proportions and gaps, raw and
corrected, in every design; no single cell below 0.85; mean width <= 1.5x the
stratified bootstrap's.

Run: ``python benchmarks/coverage.py --quick`` (200 runs per design, 400 draws;
a few minutes on one core) or ``python benchmarks/coverage.py`` (1,000 runs, 1,000 draws).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from audit.metrics import AuditFrame, gap_array, npmi_array

VALUES = ("feminine", "masculine", "androgynous")
TRUTH = {
    "nurse": (0.88, 0.10, 0.02),
    "secretary": (0.80, 0.17, 0.03),
    "teacher": (0.70, 0.27, 0.03),
    "doctor": (0.45, 0.50, 0.05),
    "ceo": (0.25, 0.72, 0.03),
    "engineer": (0.15, 0.82, 0.03),
    "firefighter": (0.05, 0.93, 0.02),
    "plumber": (0.02, 0.97, 0.01),
}
JOBS = tuple(sorted(TRUTH))  # AuditFrame orders concepts naturally
P = np.array([TRUTH[j] for j in JOBS])
#: The labeler's true confusion matrix C[true, predicted] (androgynous is hard).
CONFUSION = np.array([[0.94, 0.04, 0.02], [0.03, 0.95, 0.02], [0.20, 0.20, 0.60]])
VALIDATION_PER_CLASS = 200
DESIGNS = ((3, 16), (10, 8), (25, 8))
KAPPA = 20.0
METHODS = ("cluster_bootstrap", "stratified_bootstrap", "auto", "auto_lsq")
GROUPS = ("feminine", "masculine")
TRUE_GAP = gap_array(npmi_array(P), VALUES, GROUPS)


def simulate(rng: np.random.Generator, prompts: int, images: int, kappa: float | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One run: per-image table (true and observed labels) and an estimated confusion matrix (counts)."""
    x = np.repeat(np.arange(len(JOBS)), prompts)
    shares = P[x] if kappa is None else np.stack([rng.dirichlet(kappa * P[i]) for i in x])
    k = len(VALUES)
    truth = (rng.random((len(x), images, 1)) > np.cumsum(shares, axis=1)[:, None, :]).sum(-1).clip(0, k - 1)
    cum_c = np.cumsum(CONFUSION, axis=1)
    observed = (rng.random(truth.shape + (1,)) > cum_c[truth]).sum(-1).clip(0, k - 1)
    names = np.array(VALUES, dtype=object)
    df = pd.DataFrame({
        "prompt_id": np.repeat(np.arange(len(x)), images),
        "profession": np.array(JOBS, dtype=object)[np.repeat(x, images)],
        "presentation": names[truth.reshape(-1)],
        "observed": names[observed.reshape(-1)],
    })
    counts = np.stack([rng.multinomial(VALIDATION_PER_CLASS, row) for row in CONFUSION]).astype(float)
    return df, pd.DataFrame(counts, index=list(VALUES), columns=list(VALUES))


class Tally:
    """Hits and widths per (estimand, cell)."""

    def __init__(self) -> None:
        self.hits: dict[str, np.ndarray] = {}
        self.width: dict[str, float] = {}
        self.runs: dict[str, int] = {}
        self.error: dict[str, float] = {}

    def add(self, key: str, lo: np.ndarray, hi: np.ndarray, truth: np.ndarray, *, estimate=None) -> None:
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        if estimate is not None:  # mean absolute error of the point estimate
            self.error[key] = self.error.get(key, 0.0) + float(np.nanmean(np.abs(np.asarray(estimate, float) - truth)))
        hit = (lo <= truth + 1e-12) & (truth - 1e-12 <= hi)
        self.hits[key] = self.hits.get(key, 0) + hit
        self.width[key] = self.width.get(key, 0.0) + float(np.nanmean(hi - lo))
        self.runs[key] = self.runs.get(key, 0) + 1

    def coverage(self, key: str) -> tuple[float, float, float]:
        cov = self.hits[key] / self.runs[key]
        return float(np.mean(cov)), float(np.min(cov)), self.width[key] / self.runs[key]


def one_run(tally: Tally, df: pd.DataFrame, conf_counts: pd.DataFrame, *, resamples: int, seed: int) -> None:
    shares = conf_counts.div(conf_counts.sum(axis=1), axis=0)
    for method in METHODS:
        kw = dict(concept="profession", cluster="prompt_id", attributes=VALUES, n_resamples=resamples, seed=seed,
                  interval=method.removesuffix("_lsq"))
        if method != "auto_lsq":  # the same raw intervals as auto
            raw = AuditFrame(df, attribute="presentation", **kw)
            ci, gaps = raw.by_group_ci, raw.gaps(groups=GROUPS)
            tally.add(f"{method}|prop|raw", ci.proportion_lo, ci.proportion_hi, P.reshape(-1))
            tally.add(f"{method}|gap|raw", gaps.lo, gaps.hi, TRUE_GAP)
        conf = shares if method == "cluster_bootstrap" else conf_counts
        correction = "lsq" if method == "auto_lsq" else "gibbs"
        cor = AuditFrame(df, attribute="observed", confusion=conf, correction=correction, **kw)
        ci, gaps, by = cor.by_group_ci, cor.gaps(groups=GROUPS), cor.by_group
        tally.add(f"{method}|prop|corrected", ci.proportion_corrected_lo, ci.proportion_corrected_hi, P.reshape(-1),
                  estimate=by.proportion_corrected)
        tally.add(f"{method}|gap|corrected", gaps.gap_corrected_lo, gaps.gap_corrected_hi, TRUE_GAP,
                  estimate=gaps.gap_corrected)
        if method == "auto":
            tally.add(f"{method}|prop|uncorrected", ci.proportion_lo, ci.proportion_hi, P.reshape(-1))
            tally.add(f"{method}|gap|uncorrected", gaps.lo, gaps.hi, TRUE_GAP)
            tally.method = raw.method, cor.method_corrected
        if method == "auto_lsq":
            tally.method_lsq = cor.method_corrected


def run_setting(setting: tuple) -> tuple[list[str], list[str]]:
    """All runs of one (design, random effect) setting: printed lines and gate failures."""
    (prompts, images), kappa, runs, resamples, seed = setting
    warnings.simplefilter("ignore", RuntimeWarning)
    rng = np.random.default_rng([seed, prompts, images, 0 if kappa is None else 1])
    tally = Tally()
    for r in range(runs):
        df, conf_counts = simulate(rng, prompts, images, kappa)
        one_run(tally, df, conf_counts, resamples=resamples, seed=r)
    design, re = f"{prompts}x{images}", "yes" if kappa else "no"
    lines, failures = [], []
    for key in sorted(tally.hits, key=lambda k: (k.split("|")[1], k.split("|")[2], METHODS.index(k.split("|")[0]))):
        method, what, kind = key.split("|")
        cov, worst, width = tally.coverage(key)
        base = tally.coverage(f"stratified_bootstrap|{what}|{kind}")[2] if kind != "uncorrected" else np.nan
        label = f"{what} {kind}"
        name = tally.method[0] if (method == "auto" and kind == "raw") else (
            tally.method[1] if method == "auto" else tally.method_lsq if method == "auto_lsq" else method)
        err = tally.error[key] / tally.runs[key] if key in tally.error else float("nan")
        lines.append(f"{design:<7} {re:<3} {name[:39]:<39} {label:<22} {cov:8.3f} {worst:6.3f} {width:7.3f} "
                     f"{width / base if base == base else float('nan'):7.2f} {err:7.4f}")
        if method == "auto" and kind != "uncorrected":
            if cov < 0.93 or worst < 0.85 or width / base > 1.5:
                failures.append(f"{design} RE={re} {label}: coverage {cov:.3f}, worst {worst:.3f}, "
                                f"width ratio {width / base:.2f}")
    return lines, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 runs per setting, 400 draws")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--resamples", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="settings run in parallel processes")
    ap.add_argument("--designs", nargs="*", default=None, help="only these designs, e.g. 3x16")
    ap.add_argument("--effect", choices=("yes", "no", "both"), default="both", help="prompt random effect")
    args = ap.parse_args()
    runs = args.runs or (200 if args.quick else 1000)
    resamples = args.resamples or (400 if args.quick else 1000)
    t0 = time.perf_counter()
    print(f"{runs} simulated runs per setting, {resamples} resamples/draws per interval, 8 professions x 3 values, "
          f"prompt random effect Dirichlet(kappa={KAPPA:g} * p); confusion estimated from {VALIDATION_PER_CLASS} "
          "validation images per class")
    print("coverage = mean over cells (worst cell) ; width = mean interval width; MAE = mean |estimate - truth| "
          "(corrected rows)")
    header = (f"{'design':<7} {'RE':<3} {'method':<39} {'estimand':<22} {'coverage':>8} {'worst':>6} {'width':>7} "
              f"{'w/strat':>7} {'MAE':>7}")
    print(header)
    print("-" * len(header))
    designs = [d for d in DESIGNS if args.designs is None or f"{d[0]}x{d[1]}" in args.designs]
    effects = {"yes": (KAPPA,), "no": (None,), "both": (None, KAPPA)}[args.effect]
    settings = [(d, k, runs, resamples, args.seed) for d in designs for k in effects]
    if args.jobs > 1:
        from multiprocessing import Pool

        with Pool(args.jobs) as pool:
            results = pool.map(run_setting, settings)
    else:
        results = map(run_setting, settings)
    failures = []
    for lines, fails in results:
        print("\n".join(lines) + "\n", flush=True)
        failures += fails
    import resource

    cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    print(f"elapsed {time.perf_counter() - t0:.0f} s wall, {cpu:.0f} s CPU")
    print("gates (new method): coverage >= 0.93, worst cell >= 0.85, width <= 1.5x stratified bootstrap")
    print("ALL GATES PASS" if not failures else "GATE FAILURES:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
