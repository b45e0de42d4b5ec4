"""Imagen finding (b) at this scale: a frozen *pretrained* text encoder against a randomly
initialised encoder of the same shape (also frozen), base stages trained equally.

Both arms train the base U-Net for the same number of steps on the same images, captions, seed
and hyper-parameters; only the token states differ (all-MiniLM-L6-v2 as shipped vs the same
architecture with seeded random weights). Each arm is then sampled base-only (the 16 px sample
bilinearly upsampled, so the SR stage plays no part) and labelled by the shipped world labeler:
profession alignment on in-vocabulary prompts, on reworded prompts the captions never used, and
attribute compliance. The random encoder is the baseline run in the same process; the ratio is
pretrained / random.

    python benchmarks/encoder_ablation.py --data /path/to/world --out /tmp/ablation [--steps 1500]

Resumable: each arm trains under OUT/{pretrained,random}/ and continues from its checkpoint.
On two cores, train the arms side by side first (``--only random`` and ``--only pretrained`` in
two processes), then run without ``--only`` to evaluate both and print the comparison.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def run_arm(*, data_dir: str, out: Path, random_encoder: bool, steps: int, max_items: int, per_prompt: int) -> dict:
    """Train one arm's base stage for ``steps`` and evaluate it base-only."""
    from diffusers import UNet2DConditionModel

    from audit.labelers.world import WorldLabeler
    from generator.api import SamplerSettings
    from generator.cascade import SR_PRESETS, ImagenCascadePipeline, build_unet
    from generator.evaluate import evaluate_generator
    from generator.train import StageConfig, load_training_data, train_stage

    data = load_training_data(data_dir, cache_dir=out / "cache", max_items=max_items, random_encoder=random_encoder)
    result = train_stage(data, out=out, cfg=StageConfig(stage="base"), steps=steps, seed=0)
    base = UNet2DConditionModel.from_pretrained(out / "base" / "unet", torch_dtype=torch.float32)
    pipe = ImagenCascadePipeline(base, build_unet(SR_PRESETS["tiny-sr-64"]), text_encoder_random_init=random_encoder)
    figures = evaluate_generator(pipeline=pipe, labeler=WorldLabeler.from_pretrained(), per_prompt=per_prompt,
                                 n_fid=64, settings=SamplerSettings(base_only=True))
    return {"steps": result["step"], "train_minutes": round(result["elapsed_minutes"], 1),
            "alignment": figures["alignment"], "reworded_alignment": figures["reworded_alignment"],
            "compliance": {k: figures["compliance"][k] for k in ("skin_group", "presentation", "age_group")}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None,
                    help="world (LAION webdataset) folder (default: build a 40,000-person world in OUT/world)")
    ap.add_argument("--out", default="runs/encoder-ablation", help="work folder for both arms (checkpoints, caches)")
    ap.add_argument("--steps", type=int, default=1500, help="training steps per arm (equal for both)")
    ap.add_argument("--max-items", type=int, default=20000)
    ap.add_argument("--per-prompt", type=int, default=2)
    ap.add_argument("--only", choices=("random", "pretrained"), default=None,
                    help="train and evaluate one arm only (to run the arms in parallel processes)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.data is None:
        from generator.world.build import build_world

        args.data = str(out / "world")
        build_world(n=max(args.max_items, 1000), out=args.data, seed=0)  # resumable; reuses complete shards
    rows = {}
    for name, random_encoder in (("random", True), ("pretrained", False)):
        if args.only and name != args.only:
            continue
        rows[name] = run_arm(data_dir=args.data, out=out / name, random_encoder=random_encoder, steps=args.steps,
                             max_items=args.max_items, per_prompt=args.per_prompt)
        print(name, json.dumps(rows[name]), flush=True)
    if args.only:
        return 0
    print(f"\n{'encoder':<11} {'steps':>6} {'alignment':>10} {'reworded':>9} {'skin':>6} {'present.':>9} {'age':>6}")
    for name, r in rows.items():
        c = r["compliance"]
        print(f"{name:<11} {r['steps']:>6} {r['alignment']:>10.1%} {r['reworded_alignment']:>9.1%} "
              f"{c['skin_group']:>6.1%} {c['presentation']:>9.1%} {c['age_group']:>6.1%}")
    pre, rnd = rows["pretrained"], rows["random"]
    for key in ("alignment", "reworded_alignment"):
        ratio = pre[key] / rnd[key] if rnd[key] else float("inf")
        print(f"{key}: pretrained {pre[key]:.1%} vs random {rnd[key]:.1%} (ratio {ratio:.2f}x)")
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
