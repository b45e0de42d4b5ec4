"""Benchmark: world renders per second at 64 x 64, including shard writing (goal >= 1,000/s on 2 cores).

Prints the figure (median of repeats, full build: sample, caption, render, PNG, tar, parquet,
ground truth), a baseline measured in the same process (the same build rendering one image
per call instead of vectorised batches), and their ratio.

    python benchmarks/world_render.py [--n 10000] [--repeats 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from generator.world import build as world_build
from generator.world.build import build_world
from generator.world.render import render_batch


def _timed_build(n: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        build_world(n=n, out=Path(d) / "w", seed=0, shard_size=1000, workers=workers, progress=False)
        return n / (time.perf_counter() - t0)


def _one_at_a_time(attrs, *, rng):
    return np.concatenate([render_batch(attrs.iloc[i:i + 1], rng=rng) for i in range(len(attrs))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-n", type=int, default=1000)
    args = ap.parse_args()
    _timed_build(200, 1)  # warm caches (sprite sheets, imports)
    rates = [_timed_build(args.n, args.workers) for _ in range(args.repeats)]
    fig = statistics.median(rates)
    original = world_build.render_batch
    world_build.render_batch = _one_at_a_time  # baseline: same pipeline, one image per render call
    try:
        base = statistics.median(_timed_build(args.baseline_n, args.workers) for _ in range(args.repeats))
    finally:
        world_build.render_batch = original
    print(f"world build, {args.n} images, {args.workers} workers: {fig:,.0f} images/s "
          f"(median of {args.repeats}: {', '.join(f'{r:,.0f}' for r in rates)})")
    print(f"baseline (one image per render call, {args.baseline_n} images): {base:,.0f} images/s")
    print(f"ratio: {fig / base:.1f}x; goal >= 1,000 images/s: {'met' if fig >= 1000 else 'NOT met'}")


if __name__ == "__main__":
    main()
