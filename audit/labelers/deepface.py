"""deepface labeler: gender, race and age through ``DeepFace.analyze`` (optional extra).

Install with ``pip install ".[deepface]"``. deepface >= 0.0.103 runs on
PyTorch or onnxruntime (TensorFlow is not needed) and depends on
``opencv-contrib-python-headless``, the one OpenCV this project uses.

Weights are never downloaded unless ``allow_download=True``: the labeler
checks that the files deepface will open exist under
``<weights_home>/.deepface/weights/`` (deepface reads the ``DEEPFACE_HOME``
environment variable; ``weights_home`` sets it) and raises a
:class:`~audit.errors.UserError` listing the missing files otherwise.

Attributes: ``gender`` (``Woman``/``Man``), ``presentation``
(``feminine``/``masculine``, the same reading in the world labeler's
vocabulary), ``race`` (deepface's six classes), ``age`` (value the rounded
apparent age, ``score`` the figure) and ``age_group`` (young < 30 <= adult <
60 <= older). With a face detector, an image without a face gets ``no_face``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from audit.errors import UserError
from audit.labelers.base import NO_FACE, check_batch, label_row, labels_frame, to_rgb_uint8
from audit.schema import AGE_GROUPS

__all__ = ["WEIGHT_FILES", "DeepFaceLabeler", "missing_weights", "age_group_of"]

#: Weight file names deepface opens, by backend engine and action.
WEIGHT_FILES: dict[str, dict[str, str]] = {
    "pytorch": {"age": "age_model_weights.pth", "gender": "gender_model_weights.pth",
                "race": "race_model_single_batch.pth"},
    "onnx": {"age": "age_model_weights.onnx", "gender": "gender_model_weights.onnx",
             "race": "race_model_single_batch.onnx"},
    "tensorflow": {"age": "age_model_weights.h5", "gender": "gender_model_weights.h5",
                   "race": "race_model_single_batch.h5"},
}
_PRESENTATION = {"Woman": "feminine", "Man": "masculine"}
#: deepface's race classes.
RACES = ("asian", "indian", "black", "white", "middle eastern", "latino hispanic")
#: Action -> attribute -> values it emits (``age`` is a numeric reading).
_ATTRS: dict[str, dict[str, tuple[str, ...]]] = {
    "gender": {"gender": tuple(_PRESENTATION), "presentation": tuple(_PRESENTATION.values())},
    "race": {"race": RACES},
    "age": {"age": (), "age_group": AGE_GROUPS},
}


def age_group_of(age: float, *, young_below: float = 30.0, older_from: float = 60.0) -> str:
    """Map an apparent age to the world's age groups.

    Examples
    --------
    >>> [age_group_of(a) for a in (12, 30, 59.9, 60)]
    ['young', 'adult', 'adult', 'older']
    """
    return "young" if age < young_below else "older" if age >= older_from else "adult"


def missing_weights(home: Path | str, *, backend: str, actions: Sequence[str]) -> list[Path]:
    """Weight files deepface would need to download for ``actions`` on ``backend``.

    Examples
    --------
    >>> [p.name for p in missing_weights("/nonexistent", backend="onnx", actions=["age"])]
    ['age_model_weights.onnx']
    """
    if backend not in WEIGHT_FILES:
        raise UserError(f"deepface backend {backend!r} is not known (fix: use one of {', '.join(WEIGHT_FILES)})")
    folder = Path(home) / ".deepface" / "weights"
    return [folder / WEIGHT_FILES[backend][a] for a in actions if not (folder / WEIGHT_FILES[backend][a]).is_file()]


class DeepFaceLabeler:
    """Gender, race and age from deepface's demography models.

    Parameters
    ----------
    weights_home
        Folder holding ``.deepface/weights/`` (sets ``DEEPFACE_HOME``);
        defaults to ``$DEEPFACE_HOME`` or the home directory, like deepface.
    actions
        Any of ``"gender"``, ``"race"``, ``"age"``.
    detector_backend
        deepface's face detector: ``"opencv"`` (Haar cascades, no weights) or
        ``"skip"`` (the whole image is the face, for face crops).
    backend
        deepface engine: ``"pytorch"`` (default) or ``"onnx"`` (``"tensorflow"``
        if you installed it yourself). Set before deepface is first imported.
    allow_download
        Let deepface download missing weights (off: raise instead).

    Examples
    --------
    >>> tuple(DeepFaceLabeler.attributes_for(("gender", "age")))
    ('gender', 'presentation', 'age', 'age_group')
    """

    name = "deepface"
    domain = "photographs of one real face, frontal and well lit (deepface's training data)"
    #: Attribute -> values with every action (an instance declares those of its actions).
    attributes: dict[str, tuple[str, ...]] = {a: v for act in _ATTRS.values() for a, v in act.items()}

    def __init__(
        self, *, weights_home: Path | str | None = None, actions: Sequence[str] = ("gender", "race", "age"),
        detector_backend: Literal["opencv", "skip"] = "opencv",
        backend: Literal["pytorch", "onnx", "tensorflow"] = "pytorch", allow_download: bool = False,
    ) -> None:
        bad = [a for a in actions if a not in _ATTRS]
        if bad or not actions:
            raise UserError(f"deepface actions {list(actions)} are not valid (fix: use gender, race and/or age)")
        self.actions = tuple(actions)
        self.attributes = self.attributes_for(self.actions)
        self.detector_backend = detector_backend
        home = Path(weights_home if weights_home is not None
                    else os.environ.get("DEEPFACE_HOME", os.path.expanduser("~"))).expanduser()
        missing = missing_weights(home, backend=backend, actions=self.actions)
        if missing and not allow_download:
            raise UserError(
                f"deepface weights missing: {', '.join(str(p) for p in missing)} "
                "(fix: copy the weight files there (see docs/labelers.md), set --deepface-home to the folder "
                "that holds .deepface/weights, or pass --allow-download)"
            )
        self.home = home
        os.environ["DEEPFACE_HOME"] = str(home)
        os.environ["DEEPFACE_BACKEND_ENGINE"] = backend
        try:
            from deepface import DeepFace
            from deepface.commons import backend_utils
        except ImportError as exc:
            raise UserError(f"deepface is not installed ({exc}) (fix: pip install \".[deepface]\")") from exc
        engine = backend_utils.get_backend_engine()
        if engine != backend:
            raise UserError(
                f"deepface already runs on {engine} in this process, not {backend} "
                "(fix: use one deepface backend per process)"
            )
        self._deepface = DeepFace
        self.backend = backend

    def weight_files(self) -> list[Path]:
        """The demography weight files this labeler's actions read."""
        folder = self.home / ".deepface" / "weights"
        return [folder / WEIGHT_FILES[self.backend][a] for a in self.actions]

    @staticmethod
    def attributes_for(actions: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Attribute -> values the given actions produce."""
        return {a: values for act in actions for a, values in _ATTRS[act].items()}

    def _analyze(self, bgr: Any) -> dict[str, Any] | None:
        faces = self._deepface.analyze(
            img_path=bgr, actions=list(self.actions), detector_backend=self.detector_backend,
            enforce_detection=False, align=True, silent=True,
        )
        if self.detector_backend != "skip":
            faces = [f for f in faces if float(f.get("face_confidence") or 0.0) > 0.0]
        if not faces:
            return None
        return max(faces, key=lambda f: f["region"]["w"] * f["region"]["h"])

    def label(self, images: Sequence[Any], *, image_ids: Sequence[str]) -> pd.DataFrame:
        """Label a batch (deepface analyses one image at a time; the largest face counts)."""
        check_batch(images, image_ids)
        rows: list[dict] = []
        kw = {"labeler": self.name}
        for image, image_id in zip(images, image_ids):
            image_id = str(image_id)
            face = self._analyze(to_rgb_uint8(image)[..., ::-1].copy())
            if face is None:
                rows += [label_row(image_id, attribute=a, value=NO_FACE, reason=f"{self.detector_backend} found no face",
                                   **kw) for a in self.attributes]
                continue
            if "gender" in self.actions:
                g = {k: float(v) / 100.0 for k, v in face["gender"].items()}
                dom = face["dominant_gender"]
                rows.append(label_row(image_id, attribute="gender", value=dom, confidence=g[dom], probs=g, **kw))
                pres = {_PRESENTATION[k]: v for k, v in g.items()}
                rows.append(label_row(image_id, attribute="presentation", value=_PRESENTATION[dom],
                                      confidence=g[dom], probs=pres, **kw))
            if "race" in self.actions:
                r = {k: float(v) / 100.0 for k, v in face["race"].items()}
                dom = face["dominant_race"]
                rows.append(label_row(image_id, attribute="race", value=dom, confidence=r[dom], probs=r, **kw))
            if "age" in self.actions:
                age = float(face["age"])
                rows.append(label_row(image_id, attribute="age", value=str(int(round(age))), score=age, **kw))
                rows.append(label_row(image_id, attribute="age_group", value=age_group_of(age), score=age, **kw))
        return labels_frame(rows)
