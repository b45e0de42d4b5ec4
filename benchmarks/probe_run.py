"""Benchmark: a probe run end to end, and its Dask speed-up from 1 to 2 workers.

1. The ``professions`` suite with 16 samples per prompt, end to end (generate, label,
   metrics, report) in one process. Goal with the built-in generator: <= 5 minutes on 2 cores.
2. The same run on a Dask LocalCluster with 1 worker (the baseline) and with 2 workers
   (the figure); prints both times and the speed-up. Goal: >= 1.7x.

Every time is the median of ``--repeats`` fresh runs (a new run directory each time).

Usage::

    python benchmarks/probe_run.py                                   # built-in generator
    python benchmarks/probe_run.py --generator diffusers:path/to/pipeline --steps 25
    python benchmarks/probe_run.py --tiny --samples 4                # tiny random SD pipeline
    python benchmarks/probe_run.py --random-cascade --labelers ita   # the built-in architecture, random weights
    python benchmarks/probe_run.py --weights runs/candidate           # a trained cascade folder

``--random-cascade`` times the built-in cascade's architecture (``base-16`` + ``sr-64``
presets, default sampler steps) with random weights: the cost of the built-in
generator before its trained weights exist (the images are noise).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _labelers(names: str) -> list[str]:
    """Labeler names, resolved by run_probe through audit.registry."""
    return [n for n in names.split(",") if n]


def _timed_run(args, generator: str, root: Path, tag: str, **extra) -> float:
    from audit.run import run_probe

    out = root / f"{tag}-{time.monotonic_ns()}"
    start = time.perf_counter()
    options = _options(args) if isinstance(generator, str) else None
    run_probe(args.suite, generator=generator, generator_options=options, out=out, samples=args.samples,
              labelers=_labelers(args.labelers), shard_images=args.shard_images, batch_size=args.batch_size,
              threads=args.threads,
              report=not args.no_report, progress=False, **extra)
    return time.perf_counter() - start


def _options(args) -> dict:
    return {k: v for k, v in {"steps": args.steps, "guidance": args.guidance}.items() if v is not None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="builtin", help="builtin | diffusers:PATH (default builtin)")
    p.add_argument("--tiny", action="store_true", help="use a tiny random Stable Diffusion pipeline")
    p.add_argument("--random-cascade", action="store_true",
                   help="use the built-in cascade's architecture with random weights")
    p.add_argument("--weights", default=None,
                   help="a cascade pipeline folder to time as the built-in generator (e.g. trained, not yet shipped)")
    p.add_argument("--suite", default="professions")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--labelers", default="world", help="comma-separated names from audit.registry (default world)")
    p.add_argument("--shard-images", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per process, here and in each worker (default 1: on a shared machine "
                        "more threads contend)")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--skip-dask", action="store_true")
    args = p.parse_args(argv)

    import torch

    root = Path(tempfile.mkdtemp(prefix="probe-bench-"))
    generator = args.generator
    if args.tiny:
        from generator.adapters.tiny import save_tiny_stable_diffusion

        generator = f"diffusers:{save_tiny_stable_diffusion(root)}"
    elif args.weights:
        generator = f"builtin:{args.weights}"
    elif args.random_cascade:
        from generator.cascade import BASE_PRESETS, SR_PRESETS, ImagenCascadePipeline, build_unet

        torch.manual_seed(0)
        ImagenCascadePipeline(build_unet(BASE_PRESETS["base-16"]), build_unet(SR_PRESETS["sr-64"])).save_pretrained(
            root / "cascade")
        generator = f"builtin:{root / 'cascade'}"
    from probes.suite import resolve_suite
    from probes.expand import expand_prompts

    n_images = len(expand_prompts(resolve_suite(args.suite))) * args.samples
    print(f"suite {args.suite}: {n_images} images ({args.samples} per prompt); generator {generator}; "
          f"labelers {args.labelers}; torch threads per process {args.threads}")

    local = statistics.median(_timed_run(args, generator, root, "local") for _ in range(args.repeats))
    print(f"end to end, one process: {local:.1f} s  ({n_images / local:.1f} images/s); goal <= 300 s: "
          f"{'met' if local <= 300 else 'not met'}")
    if args.skip_dask:
        return 0
    one = statistics.median(_timed_run(args, generator, root, "dask1", workers=1) for _ in range(args.repeats))
    two = statistics.median(_timed_run(args, generator, root, "dask2", workers=2) for _ in range(args.repeats))
    print(f"Dask LocalCluster, 1 worker (baseline): {one:.1f} s")
    print(f"Dask LocalCluster, 2 workers:           {two:.1f} s")
    print(f"speed-up 1 -> 2 workers: {one / two:.2f}x  (goal >= 1.7x: {'met' if one / two >= 1.7 else 'not met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
