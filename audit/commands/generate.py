"""``imagen-audit generate``: images from prompts with the built-in cascade (PNGs + manifest)."""

from __future__ import annotations

import argparse

from generator.defaults import DEFAULT_GUIDANCE

EPILOG = """examples:
  imagen-audit generate "a photo of a nurse" "a photo of a dark-skinned pilot" --n 4 --seed 0 --out out/
  imagen-audit generate "a photo of a chef" --guidance 8 --thresholding static --scheduler ddim --steps 20 --out out/

Image i of prompt p uses seed SEED + p * N + i, so a seed reproduces its image.
Writes NNNN.png files and manifest.parquet (image_id, path, prompt, seed, sampler settings),
which `imagen-audit label OUT` reads.
"""


def add_sampler_options(p: argparse.ArgumentParser) -> None:
    """Sampler flags shared by ``generate`` and ``eval generator``."""
    p.add_argument("--steps", type=int, default=10, help="base-stage sampler steps (default 10)")
    p.add_argument("--sr-steps", type=int, default=2, help="super-resolution sampler steps (default 2)")
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                   help=f"classifier-free guidance scale (default {DEFAULT_GUIDANCE:g})")
    p.add_argument("--thresholding", choices=("dynamic", "static", "none"), default="dynamic")
    p.add_argument("--scheduler", choices=("dpm++", "ddim", "ddpm"), default="dpm++")
    p.add_argument("--weights", default=None, help="cascade pipeline folder (default: data/weights/imagen-world)")


def sampler_settings(args: argparse.Namespace):
    """Build :class:`generator.api.SamplerSettings` from parsed flags, with clear errors."""
    from audit.errors import UserError
    from generator.api import SamplerSettings

    if args.steps < 1 or args.sr_steps < 1:
        raise UserError("--steps and --sr-steps must be >= 1")
    if not args.guidance >= 0:
        raise UserError(f"--guidance must be a number >= 0, got {args.guidance}")
    return SamplerSettings(steps=args.steps, sr_steps=args.sr_steps, guidance=args.guidance,
                           thresholding=args.thresholding, scheduler=args.scheduler)


def _run(args: argparse.Namespace) -> int:
    import io
    from pathlib import Path

    import pandas as pd

    from audit.errors import UserError
    from audit.files import atomic_write_bytes, write_parquet_atomic
    from generator.api import generate, load_cascade

    if args.n < 0:
        raise UserError(f"--n must be >= 0, got {args.n}")
    settings = sampler_settings(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prompts = [p for p in args.prompts for _ in range(args.n)]
    seeds = [args.seed + i for i in range(len(prompts))]
    if not prompts:
        print("nothing to generate (--n 0)")
        return 0
    pipe = load_cascade(args.weights)
    images = generate(prompts, seeds=seeds, pipeline=pipe, settings=settings, progress=not args.no_progress)
    rows = []
    for i, (prompt, seed, img) in enumerate(zip(prompts, seeds, images)):
        name = f"{i:04d}.png"
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        atomic_write_bytes(out / name, buf.getvalue())
        rows.append({"image_id": name[:-4], "path": name, "file": name, "prompt": prompt, "seed": seed,
                     "width": img.size[0], "height": img.size[1], **settings.to_dict()})
    write_parquet_atomic(out / "manifest.parquet", pd.DataFrame(rows))
    print(f"{len(rows)} images")
    print(f"results: {out} (NNNN.png, manifest.parquet)")
    return 0


def register(sub) -> None:
    """Add ``generate``."""
    from audit.cli import add_progress_option

    p = sub.add_parser("generate", help="generate images with the built-in cascade", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompts", nargs="+", metavar="PROMPT", help="text prompts")
    p.add_argument("--n", type=int, default=4, help="images per prompt (default 4)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--out", required=True, help="output folder")
    add_sampler_options(p)
    add_progress_option(p)
    p.set_defaults(handler=_run)
