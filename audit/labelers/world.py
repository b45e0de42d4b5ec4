"""The world labeler: a small CNN that reads world attributes from 64 x 64 images.

Heads: profession, Monk skin tone (1-10), presentation, age group, activity,
unsafe prop. Weights (safetensors), config and the labeler card (held-out
accuracy overall, per skin-tone group and per presentation, confusion matrices)
ship in ``data/weights/world-labeler/``; ``imagen-audit train labeler``
reproduces them.

Domain: world renders only. A calibrated novelty score on the CNN's features
(:mod:`audit.labelers.world_domain`, shipped as ``domain.safetensors`` +
``domain.json`` beside the weights) flags other images (photos, noise, flat
colours, other models' outputs); every attribute of such an image answers
:data:`audit.schema.OUT_OF_DOMAIN` with the score in ``score`` and the reason,
never a guess.

Examples
--------
>>> lab = WorldLabeler.from_pretrained()          # doctest: +SKIP
>>> lab.label([img], image_ids=["a"]).value.tolist()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.labelers.base import check_batch, label_row, labels_frame, to_rgb_uint8
from audit.resources import data_path
from audit.schema import OUT_OF_DOMAIN, SKIN_GROUP_NAMES, WORLD_ATTRIBUTES, skin_group

__all__ = ["WorldLabeler", "HEADS", "DEFAULT_DIR", "build_model", "prepare_batch", "skin_group_of"]

#: Attribute -> class names, in head order (the world vocabulary of :mod:`audit.schema`).
HEADS: dict[str, tuple[str, ...]] = {
    k: WORLD_ATTRIBUTES[k] for k in ("profession", "skin_tone", "presentation", "age_group", "activity", "unsafe")
}
DEFAULT_DIR = data_path("weights", "world-labeler")
SIZE = 64


#: Monk tone -> ``light`` (1-3), ``medium`` (4-6), ``dark`` (7-10) (:func:`audit.schema.skin_group`).
skin_group_of = skin_group


def build_model(*, width: int = 32, heads: dict[str, tuple[str, ...]] = HEADS):
    """The world CNN (torch). Returns a module mapping ``(N,3,64,64)`` floats to a dict of logits.

    Examples
    --------
    >>> import torch
    >>> m = build_model(width=8)
    >>> m(torch.zeros(2, 3, 64, 64))["profession"].shape
    torch.Size([2, 24])
    """
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class WorldNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.features = nn.Sequential(
                block(3, w), block(w, w, 2),                      # 64 -> 32
                block(w, 2 * w), block(2 * w, 2 * w), nn.MaxPool2d(2),   # 16
                block(2 * w, 4 * w), block(4 * w, 4 * w), nn.MaxPool2d(2),  # 8
                block(4 * w, 8 * w),
            )
            self.dropout = nn.Dropout(0.1)
            self.heads = nn.ModuleDict({k: nn.Linear(16 * w, len(v)) for k, v in heads.items()})

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            f = self.features(x)
            return torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            e = self.dropout(self.embed(x))
            return {k: h(e) for k, h in self.heads.items()}

    return WorldNet()


def prepare_batch(images: Sequence[Any]):
    """Images (any size/mode) -> float tensor ``(N, 3, 64, 64)`` in [-1, 1].

    Examples
    --------
    >>> prepare_batch([np.zeros((10, 20, 3), np.uint8)]).shape
    torch.Size([1, 3, 64, 64])
    """
    import torch
    from PIL import Image

    arrs = []
    for im in images:
        a = to_rgb_uint8(im)
        if a.shape[:2] != (SIZE, SIZE):
            a = np.asarray(Image.fromarray(a).resize((SIZE, SIZE), Image.BILINEAR if min(a.shape[:2]) < SIZE else Image.BOX))
        arrs.append(a)
    x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


@dataclass
class WorldLabeler:
    """The world CNN as a :class:`audit.labelers.base.Labeler`.

    Parameters
    ----------
    model
        The torch module (see :func:`build_model`).
    card
        The labeler card (accuracies, confusion matrices) or ``{}``.
    device
        Torch device string.
    domain_model
        The novelty score (:class:`audit.labelers.world_domain.NoveltyScore`) that
        decides what is out of domain; None checks nothing (only for tests and
        for fitting it).
    """

    model: Any
    card: dict
    device: str = "cpu"
    domain_model: Any = None
    name: str = "world"
    folder: str | None = None  # where the weights came from (None: built in memory)
    #: Attribute -> values it emits: the heads and the derived ``skin_group``.
    attributes: ClassVar[Mapping[str, tuple[str, ...]]] = {**HEADS, "skin_group": SKIN_GROUP_NAMES}
    domain: ClassVar[str] = "64 x 64 renders of the synthetic world (one person, plain background)"

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, *, device: str = "cpu",
                        domain: bool = True) -> WorldLabeler:
        """Load weights, config, card and domain model from a folder (default: the shipped weights).

        ``domain=False`` skips the domain model (used to fit it). A folder
        without ``domain.safetensors`` loads with a warning naming the fix.

        Examples
        --------
        >>> WorldLabeler.from_pretrained("/nonexistent")
        Traceback (most recent call last):
        audit.errors.UserError: /nonexistent/model.safetensors: world labeler weights not found (fix: run `imagen-audit train labeler --out /nonexistent` or pass the folder that holds them)
        """
        folder = Path(path) if path is not None else DEFAULT_DIR
        weights = folder / "model.safetensors"
        if not weights.exists():
            raise UserError(f"{weights}: world labeler weights not found (fix: run `imagen-audit train labeler "
                            f"--out {folder}` or pass the folder that holds them)")
        from safetensors.torch import load_file

        config = json.loads((folder / "config.json").read_text())
        model = build_model(width=int(config["width"]))
        model.load_state_dict(load_file(str(weights)))
        model.eval().to(device)
        card_path = folder / "card.json"
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
        domain_model = None
        if domain:
            from audit.labelers.world_domain import NoveltyScore

            domain_model = NoveltyScore.load(folder)
            if domain_model is None:
                import warnings

                warnings.warn(f"{folder / 'domain.safetensors'}: no domain model, so out-of-domain images get "
                              f"guesses, not `out_of_domain` (fix: run `python -m audit.labelers.world_domain "
                              f"--folder {folder}`)", UserWarning, stacklevel=2)
        return cls(model=model, card=card, device=device, domain_model=domain_model, folder=str(folder))

    def weight_files(self) -> list[Path]:
        """The files the weights were loaded from (for the run spec's fingerprints)."""
        if self.folder is None:
            return []
        names = ("model.safetensors", "config.json", "domain.safetensors", "domain.json")
        return [Path(self.folder) / n for n in names if (Path(self.folder) / n).exists()]

    def predict_proba(self, images: Sequence[Any], *, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Class probabilities per head, each ``(N, classes)``.

        Examples
        --------
        >>> lab = WorldLabeler(model=build_model(width=8), card={})
        >>> lab.predict_proba([np.zeros((64, 64, 3), np.uint8)])["unsafe"].shape
        (1, 2)
        """
        import torch

        out: dict[str, list[np.ndarray]] = {k: [] for k in HEADS}
        self.model.eval()
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                logits = self.model(prepare_batch(images[i:i + batch_size]).to(self.device))
                for k, v in logits.items():
                    out[k].append(torch.softmax(v.float(), dim=1).cpu().numpy())
        return {k: np.concatenate(v) if v else np.zeros((0, len(HEADS[k]))) for k, v in out.items()}

    def embed(self, images: Sequence[Any], *, batch_size: int = 256) -> np.ndarray:
        """Penultimate features ``(N, D)`` (used for the world-FID).

        Examples
        --------
        >>> WorldLabeler(model=build_model(width=8), card={}).embed([np.zeros((64, 64, 3), np.uint8)]).shape
        (1, 128)
        """
        import torch

        feats = []
        self.model.eval()
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                feats.append(self.model.embed(prepare_batch(images[i:i + batch_size]).to(self.device)).cpu().numpy())
        return np.concatenate(feats) if feats else np.zeros((0, 0))

    def label(self, images: Sequence[Any], *, image_ids: Sequence[str]) -> pd.DataFrame:
        """Label a batch: one row per image x attribute (with ``skin_group`` derived from the tone).

        Examples
        --------
        >>> lab = WorldLabeler(model=build_model(width=8), card={})
        >>> df = lab.label([np.zeros((64, 64, 3), np.uint8)], image_ids=["a"])
        >>> sorted(df.attribute)[:2]
        ['activity', 'age_group']
        """
        check_batch(images, image_ids)
        probs, feats = self._forward(images)
        dm = self.domain_model
        novelty = dm.score(feats) if dm is not None and len(images) else np.full(len(images), math.nan)
        ood = novelty > dm.threshold if dm is not None else np.zeros(len(images), bool)
        rows = []
        for i, image_id in enumerate(image_ids):
            if ood[i]:
                why = (f"novelty {novelty[i]:.1f} > {dm.threshold:.1f}: not a world render "
                       "(fix: label photos with a labeler for photos, e.g. --labelers clip or deepface)")
                rows += [label_row(image_id, labeler=self.name, attribute=a, value=OUT_OF_DOMAIN,
                                   score=novelty[i], reason=why) for a in (*HEADS, "skin_group")]
                continue
            for attr, classes in HEADS.items():
                p = probs[attr][i]
                j = int(p.argmax())
                rows.append(label_row(image_id, labeler=self.name, attribute=attr, value=classes[j],
                                      confidence=float(p[j]), probs=dict(zip(classes, p)), score=novelty[i]))
            tone_p = probs["skin_tone"][i]
            grp = {g: float(sum(tone_p[int(t) - 1] for t in HEADS["skin_tone"] if skin_group_of(t) == g))
                   for g in SKIN_GROUP_NAMES}
            best = max(grp, key=grp.get)
            rows.append(label_row(image_id, labeler=self.name, attribute="skin_group", value=best,
                                  confidence=grp[best], probs=grp, score=novelty[i]))
        return labels_frame(rows)

    def _forward(self, images: Sequence[Any], *, batch_size: int = 256) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Class probabilities per head and penultimate features, in one pass."""
        import torch

        probs: dict[str, list[np.ndarray]] = {k: [] for k in HEADS}
        feats = []
        self.model.eval()
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                e = self.model.embed(prepare_batch(images[i:i + batch_size]).to(self.device))
                feats.append(e.float().cpu().numpy())
                for k, head in self.model.heads.items():
                    probs[k].append(torch.softmax(head(e).float(), dim=1).cpu().numpy())
        out = {k: np.concatenate(v) if v else np.zeros((0, len(HEADS[k]))) for k, v in probs.items()}
        return out, (np.concatenate(feats) if feats else np.zeros((0, 0)))

    def confusion(self, attribute: str, *, split: str = "clean") -> pd.DataFrame | None:
        """Row-normalised confusion matrix ``C[true, predicted]`` from the card, if present.

        Parameters
        ----------
        attribute
            A head name (``skin_group`` is derived from ``skin_tone``).
        split
            ``clean`` (held-out renders) or ``augmented`` (the same with diffusion-like
            artifacts: closer to generated images).

        Examples
        --------
        >>> WorldLabeler(model=None, card={}).confusion("presentation") is None
        True
        """
        if attribute == "skin_group":
            raw = self.card.get(split, {}).get("confusion", {}).get("skin_tone")
            if raw is None:
                return None
            names = list(SKIN_GROUP_NAMES)
            member = np.array([[skin_group_of(t) == g for g in names] for t in raw["classes"]], dtype=float)
            counts = member.T @ np.asarray(raw["matrix"], dtype=float) @ member
            return pd.DataFrame(counts / counts.sum(axis=1, keepdims=True), index=names, columns=names)
        cm = self.card.get(split, {}).get("confusion", {}).get(attribute)
        if cm is None:
            return None
        df = pd.DataFrame(cm["matrix"], index=cm["classes"], columns=cm["classes"], dtype=float)
        sums = df.sum(axis=1).replace(0, math.nan)
        return df.div(sums, axis=0).fillna(0.0)
