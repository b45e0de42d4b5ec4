"""How separable are the three lightest Monk tones in world renders? An oracle bound beside the labeler.

The world labeler reads MST 1-3 less well than darker tones. This script asks
whether the pixels allow better: for clean, non-JPEG held-out renders of tones
1-3 it classifies each image with a *known-nuisance oracle* — it is told every
rendering parameter (pose, scene, gain, colour cast, lighting gradient, noise
level) except the tone and the per-person skin jitter (+-2.5%), renders every
hypothesis (tone 1-3 x 21 jitter values) without noise, and picks the tone of
highest likelihood under the renderer's pixel noise (Gaussian, sd = the noise
level, plus rounding; pixels clipped at 255 as censored). A network that sees
only the image cannot beat a classifier that knows the nuisance, so the
oracle's accuracy approximates the best any labeler can reach. The labeler's
accuracy on the same images is printed beside it, and the JPEG-recompressed
renders (20% of held-out renders) are scored by the labeler separately.

    python benchmarks/world_tone_limits.py --n 600 [--weights data/weights/world-labeler]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, logsumexp

from audit.labelers.world_pool import balanced_attributes
from generator.world import render_batch, sample_nuisance

JITTER = np.linspace(0.975, 1.025, 21)


def oracle_tone(attrs: pd.DataFrame, images: np.ndarray, *, tones=(1, 2, 3)) -> np.ndarray:
    """Maximum-likelihood tone per image given every nuisance parameter but tone and skin jitter."""
    out = np.empty(len(attrs), np.int64)
    for i in range(len(attrs)):
        row = attrs.iloc[[i]]
        hyp = pd.concat([row] * (len(tones) * len(JITTER)), ignore_index=True)
        hyp["skin_tone"] = np.repeat(tones, len(JITTER))
        hyp["skin_jitter"] = np.tile(JITTER, len(tones))
        hyp["noise"] = 0.0
        mu = render_batch(hyp, rng=np.random.default_rng(0)).astype(np.float64)
        x = images[i].astype(np.float64)
        sd = np.sqrt(float(row["noise"].iloc[0]) ** 2 + 2 / 12)
        z = (x - mu) / sd
        ll = np.where(x >= 255, log_ndtr((mu - 254.5) / sd), -0.5 * z * z)
        ll = ll.reshape(len(hyp), -1).sum(1).reshape(len(tones), len(JITTER))
        out[i] = tones[int(np.argmax(logsumexp(ll, axis=1)))]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=600, help="renders of MST 1-3")
    p.add_argument("--seed", type=int, default=4040)
    p.add_argument("--weights", default=None, help="world labeler folder (default: shipped)")
    a = p.parse_args(argv)
    from audit.labelers.world import WorldLabeler
    from audit.labelers.world_pool import _jpeg

    rng = np.random.default_rng(a.seed)
    attrs = balanced_attributes(a.n, rng=rng)
    attrs["skin_tone"] = rng.integers(1, 4, a.n)
    attrs = pd.concat([attrs, sample_nuisance(a.n, rng=rng, age_groups=attrs.age_group.to_numpy())], axis=1)
    images = render_batch(attrs, rng=rng)
    t0 = time.time()
    oracle = oracle_tone(attrs, images)
    lab = WorldLabeler.from_pretrained(a.weights, domain=False)
    net = lab.predict_proba(list(images))["skin_tone"].argmax(1) + 1
    jpeg = np.stack([_jpeg(im, int(q)) for im, q in zip(images, rng.integers(20, 91, a.n))])
    net_jpeg = lab.predict_proba(list(jpeg))["skin_tone"].argmax(1) + 1
    truth = attrs.skin_tone.to_numpy()
    print(f"MST 1-3, clean non-JPEG renders, n = {a.n} (oracle {time.time() - t0:.0f} s):")
    print(f"  known-nuisance oracle accuracy: {(oracle == truth).mean():.4f}")
    print(f"  labeler accuracy, same images:  {(net == truth).mean():.4f}")
    print(f"  labeler accuracy, same images JPEG q20-90: {(net_jpeg == truth).mean():.4f}")
    for t in (1, 2, 3):
        m = truth == t
        print(f"  MST {t}: oracle {(oracle[m] == t).mean():.4f}, labeler {(net[m] == t).mean():.4f}, "
              f"labeler JPEG {(net_jpeg[m] == t).mean():.4f} (n = {m.sum()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
