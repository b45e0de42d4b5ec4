"""Does the SR stage take age from the text or from the low-res image?

Renders held-out world people, downsamples them to the base resolution, and super-resolves
them twice: with a caption naming the person's true age, and with one naming another age.
The world labeler then reads the age of each output. An SR stage that uses the text follows
the caption in the second case; one that ignores it follows the image.

    python scripts/sr_text_usage.py --weights CASCADE [--n 192] [--sr-guidance 1] [--noise-level 0.1]

Prints JSON: the labeler's age accuracy on the renders, on their bilinear upsampling, on the
SR output with the true age named (overall and per age), and, with another age named, the
share of outputs that follow the caption and the share that follow the image.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

OTHER_AGE = {"young": "adult", "adult": "older", "older": "young"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="cascade pipeline folder (default: the shipped one)")
    ap.add_argument("--n", type=int, default=192, help="held-out renders")
    ap.add_argument("--sr-guidance", type=float, default=1.0)
    ap.add_argument("--sr-steps", type=int, default=2)
    ap.add_argument("--noise-level", type=float, default=0.1, help="noise-conditioning augmentation at sampling")
    ap.add_argument("--seed", type=int, default=78, help="render seed (training data used seed 0)")
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from audit.labelers.world import WorldLabeler
    from generator.api import load_cascade
    from generator.cascade import from_uint8, stage_resolution, to_uint8, upsample
    from generator.world.build import render_shard
    from generator.world.captions import AGE_WORDS
    from generator.world.spec import load_spec
    from generator.world.vocab import AGE_GROUPS

    pipe = load_cascade(args.weights)
    labeler = WorldLabeler.from_pretrained()
    truth, images = render_shard(load_spec(), seed=args.seed, shard=0, count=args.n)
    x = from_uint8(images)
    low = F.interpolate(x, size=stage_resolution(pipe.base_unet), mode="area")
    ages = np.asarray(AGE_GROUPS)

    def read_age(batch: torch.Tensor) -> np.ndarray:
        return ages[labeler.predict_proba(to_uint8(batch))["age_group"].argmax(1)]

    def super_resolve(named: np.ndarray) -> np.ndarray:
        prompts = [f"a photo of a {AGE_WORDS[a][0]} {p}" for a, p in zip(named, truth.profession)]
        states, mask = pipe.encode_prompts(prompts)
        with torch.no_grad():
            high = pipe._super_resolve(low, noise_level=args.noise_level, states=states, mask=mask,
                                       generators=[torch.Generator().manual_seed(i) for i in range(args.n)],
                                       steps=args.sr_steps, guidance=args.sr_guidance, thresholding="dynamic",
                                       scheduler_name="dpm++", percentile=0.995, max_value=1.5)
        return read_age(high)

    true_age = truth.age_group.to_numpy()
    other = np.array([OTHER_AGE[a] for a in true_age])
    right, wrong = super_resolve(true_age), super_resolve(other)
    out = {
        "n": args.n, "sr_guidance": args.sr_guidance, "noise_level": args.noise_level,
        "renders": float(np.mean(read_age(x) == true_age)),
        "bilinear": float(np.mean(read_age(upsample(low, x.shape[-1]).clamp(-1, 1)) == true_age)),
        "sr_true_age_named": float(np.mean(right == true_age)),
        "sr_true_age_named_by_age": {a: float(np.mean(right[true_age == a] == a)) for a in ages if (true_age == a).any()},
        "sr_other_age_named_follows_caption": float(np.mean(wrong == other)),
        "sr_other_age_named_follows_image": float(np.mean(wrong == true_age)),
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
