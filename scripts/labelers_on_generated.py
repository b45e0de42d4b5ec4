"""Check the labelers on *generated* images whose prompt names the attribute.

Generates "a photo of a {skin words} {profession}" for every profession and skin group with
the cascade, then reports how often each skin-tone labeler (the world CNN, and ITA
colorimetry with and without face detection) returns the skin group the prompt asked for,
per asked group. Where the generator follows the prompt (its compliance), a labeler that
disagrees is misreading generated images: the failure the world labeler's augmented training
guards against.

    python scripts/labelers_on_generated.py --weights data/weights/imagen-world [--per-prompt 2]
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="cascade pipeline folder (default: the shipped one)")
    ap.add_argument("--per-prompt", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from audit.labelers.ita import ITALabeler
    from audit.labelers.world import WorldLabeler
    from generator.api import generate, load_cascade
    from generator.world.captions import SKIN_WORDS
    from generator.world.vocab import PROFESSIONS

    rows = [(g, f"a photo of a {words[0]} {p}") for p in PROFESSIONS for g, words in SKIN_WORDS.items()
            for _ in range(args.per_prompt)]
    asked = np.array([g for g, _ in rows])
    images = generate([t for _, t in rows], seeds=list(range(args.seed, args.seed + len(rows))),
                      pipeline=load_cascade(args.weights), output_type="np")
    ids = [str(i) for i in range(len(images))]
    out = {"images": len(images)}
    for name, labeler in (("world", WorldLabeler.from_pretrained()), ("ita_faces", ITALabeler(faces=True)),
                          ("ita_whole_image", ITALabeler(faces=False))):
        labels = labeler.label(list(images), image_ids=ids)
        got = labels[labels.attribute == "skin_group"].set_index("image_id").loc[ids, "value"].to_numpy()
        out[name] = {"agreement": float((got == asked).mean()),
                     "by_asked": {g: float((got[asked == g] == g).mean()) for g in SKIN_WORDS},
                     "no_skin": float((got == "no_skin").mean())}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
