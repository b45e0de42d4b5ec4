"""Labelers: classifiers that label generated and dataset images.

Each labeler follows the :class:`audit.labelers.base.Labeler` protocol: it
declares the attributes and values it emits and the images it is valid on, and
returns the tidy labels table (one row per image x attribute; columns and
non-answer values in :mod:`audit.schema`). Names resolve in :mod:`audit.registry`;
:func:`audit.labelers.images.label_items` is the one decode -> batch -> label loop. Modules here
import torch, transformers, OpenCV models or deepface only inside the
functions that need them, so importing the package is cheap.

Labelers
--------
- :mod:`audit.labelers.ita` -- model-free skin tone (ITA colorimetry, Monk scale).
- :mod:`audit.labelers.clip` -- CLIP zero-shot prompts.
- :mod:`audit.labelers.deepface` -- deepface gender, race, age (optional extra).
- :mod:`audit.labelers.world` -- the world CNN trained on world renders.
"""

from audit.labelers.base import LABEL_COLUMNS, Labeler, labels_frame, to_rgb_uint8

__all__ = ["LABEL_COLUMNS", "Labeler", "labels_frame", "to_rgb_uint8"]
