"""Out-of-domain rates of the world labeler on world renders, person-free images and other generators' images.

Prints, per image set, how many images the shipped world labeler (or
``--weights``) answers ``out_of_domain`` for, with n and a 95% Wilson
interval. The gates (issue 20): world renders <= 1% out of domain (clean and
augmented), person-free images (photos, noise, flat colours) >= 90%. Other
generators: the built-in cascade (``data/weights/imagen-world``, in domain by
design: trained on world renders), and tiny random diffusers pipelines
(Stable Diffusion at 16 and 64 px, DeepFloyd IF stages I+II at 32 px) built
offline; no real model's weights are available offline.

    python benchmarks/world_domain.py [--weights FOLDER] [--n 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def _rate(lab, images) -> tuple[int, int]:
    df = lab.label(list(images), image_ids=[str(i) for i in range(len(images))])
    ood = df[df.attribute == "presentation"].value.eq("out_of_domain")
    return int(ood.sum()), len(ood)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", default=None, help="world labeler folder (default: shipped)")
    p.add_argument("--n", type=int, default=1000, help="world renders per set")
    p.add_argument("--n-gen", type=int, default=48, help="images per other generator")
    a = p.parse_args(argv)
    from audit.labelers.world import WorldLabeler
    from audit.labelers.world_domain import person_free_images, world_renders
    from audit.labelers.world_eval import wilson
    from generator.adapters.base import Settings
    from audit.registry import make_generator
    from generator.adapters.tiny import save_tiny_deepfloyd_if, save_tiny_stable_diffusion
    from generator.api import generate, load_cascade

    lab = WorldLabeler.from_pretrained(a.weights)
    prompts = [f"a photo of a {p}" for p in ("nurse", "chef", "pilot", "farmer", "doctor", "janitor")]
    prompts = (prompts * (a.n_gen // len(prompts) + 1))[:a.n_gen]
    seeds = list(range(a.n_gen))
    sets = {"world renders, clean (seed 424242)": world_renders(a.n, seed=424242, augmented=False),
            "world renders, augmented (seed 424243)": world_renders(a.n, seed=424243, augmented=True)}
    sets.update({f"person-free: {k}": v for k, v in person_free_images(seed=5).items()})
    sets["built-in cascade (imagen-world, default sampler settings)"] = generate(
        prompts, seeds=seeds, pipeline=load_cascade(), output_type="np")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (16, 64):
            sd = save_tiny_stable_diffusion(f"{tmp}/sd{size}", size=size)
            sets[f"tiny random Stable Diffusion, {size} px"] = make_generator(
                f"diffusers:{sd}", steps=4).generate(prompts, seeds=seeds, settings=Settings())
        s1, s2 = save_tiny_deepfloyd_if(f"{tmp}/if")
        sets["tiny random DeepFloyd IF (I+II), 32 px"] = make_generator(
            f"diffusers-if:{s1},{s2}").generate(prompts, seeds=seeds, settings=Settings())
    print(f"threshold {lab.domain_model.threshold:.2f}; weights {lab.folder}")
    print("| images | n | out of domain | 95% interval |\n|---|---|---|---|")
    for name, images in sets.items():
        t0 = time.time()
        k, n = _rate(lab, [np.asarray(im) for im in images])
        lo, hi = wilson(k, n)
        print(f"| {name} | {n} | {k / n:.2%} | {lo:.1%}-{hi:.1%} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
