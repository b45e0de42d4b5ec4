"""Imagen finding (a) at this scale: guidance sweep with dynamic vs static thresholding.

For guidance 1...15 and each thresholding mode, generates "a photo of a {profession}" for
every profession and reports: colour saturation (mean HSV saturation; static thresholding
over-saturates at high guidance), profession alignment (world labeler), and the measured
skin-group distribution of the unprompted people — the sampler itself shifts measured skin
tone, so an audit must report its sampler settings. The baseline is guidance 1 (no guidance)
measured in the same run; ratios are against it.

    python benchmarks/guidance_sweep.py [--per-prompt 4] [--guidance 1,2,4,8,15]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from audit.labelers.world import WorldLabeler
from generator.api import SamplerSettings, generate, load_cascade
from generator.world.vocab import PROFESSIONS


def saturation(images: np.ndarray) -> float:
    """Mean HSV saturation in [0, 1] of uint8 RGB images."""
    x = images.astype(np.float32) / 255
    mx, mn = x.max(-1), x.min(-1)
    return float(np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0).mean())


def sweep(*, pipe, labeler, guidances, per_prompt: int, seed: int = 0) -> pd.DataFrame:
    """One row per (thresholding, guidance): saturation, alignment, skin-group shares."""
    prompts = [f"a photo of a {p}" for p in PROFESSIONS for _ in range(per_prompt)]
    truth = np.array([p for p in PROFESSIONS for _ in range(per_prompt)], dtype=object)
    seeds = list(range(seed, seed + len(prompts)))
    rows = []
    for mode in ("dynamic", "static"):
        for g in guidances:
            imgs = np.stack(generate(prompts, seeds=seeds, pipeline=pipe, output_type="np",
                                     settings=SamplerSettings(guidance=g, thresholding=mode)))
            probs = labeler.predict_proba(list(imgs))
            prof = np.array(PROFESSIONS, dtype=object)[probs["profession"].argmax(1)]
            tone = probs["skin_tone"].argmax(1) + 1
            rows.append({"thresholding": mode, "guidance": g, "saturation": saturation(imgs),
                         "alignment": float((prof == truth).mean()),
                         "light": float((tone <= 3).mean()), "medium": float(((tone >= 4) & (tone <= 6)).mean()),
                         "dark": float((tone >= 7).mean())})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-prompt", type=int, default=4)
    ap.add_argument("--guidance", default="1,2,4,8,15")
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()
    guidances = [float(g) for g in args.guidance.split(",")]
    table = sweep(pipe=load_cascade(args.weights), labeler=WorldLabeler.from_pretrained(), guidances=guidances,
                  per_prompt=args.per_prompt)
    base = table[table.guidance == guidances[0]].set_index("thresholding")
    table["alignment_ratio"] = table.alignment / table.thresholding.map(base.alignment)
    table["saturation_ratio"] = table.saturation / table.thresholding.map(base.saturation)
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(table.to_string(index=False))
    print(f"baseline: guidance {guidances[0]} (per thresholding mode); ratios above are against it")


if __name__ == "__main__":
    main()
