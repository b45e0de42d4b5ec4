"""Benchmark: images/s of the built-in cascade at 64 x 64 (default settings), and model FLOP utilisation.

Prints the figure (median of repeats), a baseline measured in the same process (the same
cascade at the diffusers-typical setting of DDIM, 50 base steps and 50 SR steps with
guidance on both stages, timed on a few images), their ratio, FLOPs per image (counted with
torch's FlopCounterMode), the machine's fp32 matmul peak measured here, and the MFU.

    python benchmarks/generate.py [--n 64] [--repeats 3] [--weights DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from generator.api import SamplerSettings, generate, load_cascade

PROMPTS = ["a photo of a nurse", "a photo of a dark-skinned pilot", "a portrait of an elderly chef", "a photo of a farmer"]


def _rate(pipe, n: int, settings: SamplerSettings) -> float:
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(n)]
    t0 = time.perf_counter()
    generate(prompts, seeds=list(range(n)), pipeline=pipe, settings=settings, batch_size=64, output_type="np")
    return n / (time.perf_counter() - t0)


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """Measured fp32 matmul FLOP/s (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * size**3 / (time.perf_counter() - t0))
    return best


def flops_per_image(pipe, settings: SamplerSettings, n: int = 8) -> float:
    """FLOPs of one image at these settings (text encoding included)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        generate([PROMPTS[0]] * n, seeds=list(range(n)), pipeline=pipe, settings=settings, output_type="np")
    return counter.get_total_flops() / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-n", type=int, default=8)
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()
    pipe = load_cascade(args.weights)
    default = SamplerSettings()
    _rate(pipe, 8, default)  # warm-up (encoder load, allocations)
    rates = [_rate(pipe, args.n, default) for _ in range(args.repeats)]
    fig = statistics.median(rates)
    slow = SamplerSettings(steps=50, sr_steps=50, scheduler="ddim", guidance=4.0)
    base = statistics.median(_rate(pipe, args.baseline_n, slow) for _ in range(args.repeats))
    flops = flops_per_image(pipe, default)
    peak = matmul_peak()
    print(f"cascade at defaults ({default.steps} base + {default.sr_steps} SR steps, {default.scheduler}, "
          f"guidance {default.guidance}, {torch.get_num_threads()} threads): {fig:.1f} images/s "
          f"(median of {args.repeats}: {', '.join(f'{r:.1f}' for r in rates)}); goal >= 10")
    print(f"baseline (DDIM, 50 + 50 steps, guidance on both stages): {base:.2f} images/s")
    print(f"ratio: {fig / base:.1f}x")
    print(f"FLOPs per image: {flops / 1e9:.2f} GFLOP; fp32 matmul peak here: {peak / 1e9:.1f} GFLOP/s; "
          f"MFU: {100 * flops * fig / peak:.1f}%")


if __name__ == "__main__":
    main()
