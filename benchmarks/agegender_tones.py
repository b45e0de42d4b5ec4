"""The agegender labeler on real faces moved across Monk tones and brightness: does its reading follow skin tone?

The faces the face benchmark uses carry no presentation or age labels
(scikit-image's LFW subset is 100 unlabelled grey faces), so accuracy per
group cannot be measured on them; what can be measured is whether the
reading of the SAME face changes when only its skin tone or brightness
changes. Per Monk tone (and skin group) x brightness: the share of faces
answered (not ``no_face`` / ``out_of_domain``), the share whose
presentation equals the reading of the grey original at brightness 1.0, the
mean female probability, and the mean expected age minus the grey
original's. Also the astronaut (Eileen Collins, NASA portrait) with her facial
skin moved to each swatch.

    python benchmarks/agegender_tones.py [--faces 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=100)
    args = ap.parse_args(argv)

    from skimage import data

    from audit.labelers.agegender import AgeGenderLabeler
    from audit.labelers.faces_eval import BRIGHTNESS, _lfw, shift_skin, tint
    from audit.labelers.ita import mst_group

    t0 = time.perf_counter()
    lab = AgeGenderLabeler()
    faces = _lfw()[:args.faces]

    def read(imgs):
        df = lab.label(imgs, image_ids=[str(i) for i in range(len(imgs))])
        pres = df[df.attribute == "presentation"].set_index("image_id")
        age = df[df.attribute == "age"].set_index("image_id")
        fem = pres.probs.map(lambda p: np.nan if p is None else __import__("json").loads(p)["feminine"])
        return pres.value.to_numpy(), fem.to_numpy(float), age.score.to_numpy(float)

    ref_v, ref_f, ref_a = read([tint(x, tone=None) for x in faces])
    rows = []
    for tone in range(1, 11):
        for b in BRIGHTNESS:
            v, f, a = read([tint(x, tone=tone, brightness=b) for x in faces])
            ok = np.isin(v, ("feminine", "masculine")) & np.isin(ref_v, ("feminine", "masculine"))
            rows.append({"tone": tone, "group": mst_group([tone])[0], "brightness": b, "n": len(v),
                         "answered": ok.mean(), "same_presentation": (v[ok] == ref_v[ok]).mean(),
                         "female_p": np.nanmean(f), "age_shift": np.nanmean(a[ok] - ref_a[ok])})
    r = pd.DataFrame(rows)
    print(f"LFW faces (n={len(faces)} per cell); grey originals at brightness 1.0: "
          f"{np.mean(ref_v == 'feminine'):.2f} feminine, {np.mean(ref_v == 'masculine'):.2f} masculine, "
          f"mean expected age {np.nanmean(ref_a):.1f}")
    for col in ("answered", "same_presentation", "female_p", "age_shift"):
        print(f"{col}, tone x brightness:\n" + r.pivot(index="tone", columns="brightness", values=col).round(2).to_string())
    g = r.groupby("group")[["answered", "same_presentation", "female_p", "age_shift"]].mean().loc[["light", "medium", "dark"]]
    print("per skin group (all brightness):\n" + g.round(3).to_string())
    print(f"same presentation, max - min over skin groups: {g.same_presentation.max() - g.same_presentation.min():.3f}; "
          f"over tone x brightness cells: {r.same_presentation.max() - r.same_presentation.min():.3f}")

    astro = data.astronaut()
    box = (170.0, 70.0, 285.0, 185.0)
    v0, f0, a0 = read([astro])
    cells = []
    for tone in range(1, 11):
        v, f, a = read([shift_skin(astro, tone=tone, box=box)])
        cells.append(f"{tone}:{v[0][:3]}({f[0]:.2f}),{a[0]:.0f}y")
    print(f"astronaut original: {v0[0]} (female p {f0[0]:.2f}), age {a0[0]:.1f}; per Monk tone: " + " ".join(cells))
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
