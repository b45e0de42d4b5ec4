"""Face detection rate per Monk tone: world renders, and real portraits under skin-tone and brightness shifts.

Prints, for each detector of ``audit.labelers.faces.DETECTORS``: the rate per
Monk tone and skin group on fresh world renders (with the max gap between
skin groups), and on real faces (scikit-image's LFW subset tinted with each
Monk swatch; the astronaut with her skin moved to each swatch) per tone and
brightness factor, with the spread across tones at each brightness; then the
false detections on person-free images (photos of objects and animals,
noise, flat colours) per brightness. The Haar cascade (the detector ITA used
before) is the baseline of the world renders (the ratio is its group gap over
each detector's); BlazeFace without its retry on over-exposed images
(``retry_clipped=None``, as it was before) is the baseline of the real
portraits, measured in the same run.

    python benchmarks/face_detection.py [--n 1000] [--detectors world,blazeface,haar]
"""

from __future__ import annotations

import argparse
import time


def _portraits(label: str, det) -> None:
    from audit.labelers.faces_eval import person_free_rates, portrait_rates

    t = time.perf_counter()
    r = portrait_rates(det)
    for src, g in r.groupby("source"):
        piv = g.pivot(index="tone", columns="brightness", values="rate")
        spread = piv.max() - piv.min()
        print(f"real portraits ({src}), {label}: rate min {g.rate.min():.3f} max {g.rate.max():.3f} "
              f"spread {g.rate.max() - g.rate.min():.3f} (n per cell {int(g.n.iloc[0])})")
        print("  tone x brightness:\n" + piv.round(2).to_string())
        print("  spread across tones per brightness: " + " ".join(f"{b}: {v:.2f}" for b, v in spread.items()))
        if src == "lfw":
            print(f"  false positives on LFW non-face patches: {g.false_positive.mean():.3f}")
    pf = person_free_rates(det)
    piv = pf.pivot(index="set", columns="brightness", values="rate")
    tot = pf.groupby("set")[["found", "n"]].sum()
    print(f"  false detections on person-free images, {label} (share per brightness):\n" + piv.round(3).to_string())
    print("  all brightness: " + " ".join(f"{k} {int(v.found)}/{int(v.n)} = {v.found / v.n:.3f}"
                                         for k, v in tot.iterrows()))
    print(f"  ({time.perf_counter() - t:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="world renders (default 1000)")
    ap.add_argument("--detectors", default="haar,world,blazeface")
    ap.add_argument("--portraits", default="blazeface,haar", help="detectors to run on real portraits")
    ap.add_argument("--no-baseline", action="store_true", help="skip BlazeFace without its over-exposure retry")
    args = ap.parse_args(argv)

    from audit.labelers.faces import DETECTORS, BlazeFaceDetector
    from audit.labelers.faces_eval import world_rates

    gaps = {}
    for name in filter(None, args.detectors.split(",")):
        t = time.perf_counter()
        r = world_rates(DETECTORS[name](), n=args.n)
        groups = r.loc[["light", "medium", "dark"], "rate"]
        gaps[name] = float(groups.max() - groups.min())
        print(f"world renders, {name} ({time.perf_counter() - t:.1f} s, n={args.n}): overall {r.loc['all', 'rate']:.3f}; "
              f"light {groups['light']:.3f} medium {groups['medium']:.3f} dark {groups['dark']:.3f}; "
              f"group gap {gaps[name]:.3f}")
        print("  per Monk tone: " + " ".join(f"{k}:{r.loc[k, 'rate']:.2f}" for k in map(str, range(1, 11))))
    if "haar" in gaps:
        for name, g in gaps.items():
            print(f"  group gap haar / {name}: {gaps['haar']:.3f} / {g:.3f} = "
                  f"{gaps['haar'] / g if g > 0 else float('inf'):.1f}x")
    names = [n for n in args.portraits.split(",") if n]
    if "blazeface" in names and not args.no_baseline:
        _portraits("blazeface without retry (baseline)", BlazeFaceDetector(retry_clipped=None))
    for name in names:
        _portraits(name, DETECTORS[name]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
