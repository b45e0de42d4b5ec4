"""Accuracy gaps between skin groups and presentation groups for world labeler weights, on the same held-out renders.

Evaluates each weights folder with the card's own code
(:func:`audit.labelers.world_eval.evaluate`) on held-out renders of
``--seed`` (the renders a training run with ``--seed S - 1`` writes into its
card: ``render_pool(n, seed=S)``, augmented with seed ``S + 1``), so weights
trained with different commands are compared on identical images. Prints,
per split, every head's accuracy and its largest gap between skin groups and
between presentation groups (the target of issue 15: <= 3 points), and exact
Monk tone per skin group.

    python benchmarks/world_labeler_gaps.py data/weights/world-labeler runs/wl-ft --seed 11 --n 20000
"""

from __future__ import annotations

import argparse
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folders", nargs="+", help="world labeler weights folders")
    p.add_argument("--seed", type=int, default=11, help="render seed (augmentations: seed + 1)")
    p.add_argument("--n", type=int, default=20000, help="held-out renders")
    a = p.parse_args(argv)
    from audit.labelers.world import WorldLabeler
    from audit.labelers.world_eval import evaluate
    from audit.labelers.world_pool import render_pool

    images, attrs = render_pool(a.n, seed=a.seed, progress=False)
    for folder in a.folders:
        model = WorldLabeler.from_pretrained(folder, domain=False).model
        t0 = time.time()
        for split in ("clean", "augmented"):
            r = evaluate(model, images, attrs, augmented=split == "augmented", seed=a.seed + 1)
            tone = r["by_skin_group"]["skin_tone"]
            print(f"\n{folder}, {split} (n = {r['n']}, seed {a.seed}): exact Monk tone light / medium / dark "
                  f"{tone['light']:.4f} / {tone['medium']:.4f} / {tone['dark']:.4f}")
            print("| head | accuracy | max gap, skin groups | max gap, presentation |\n|---|---|---|---|")
            for head, acc in r["accuracy"].items():
                print(f"| {head} | {acc:.4f} | {r['max_gap']['skin_group'][head]:.4f} | "
                      f"{r['max_gap']['presentation'][head]:.4f} |")
        print(f"({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
