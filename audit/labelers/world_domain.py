"""The world labeler's domain: a calibrated novelty score on its penultimate features.

The world CNN was trained on 64 x 64 world renders; on photos, noise or flat
colours it still returns confident classes. This module fits what "a world
render" looks like to the network and lets the labeler refuse the rest:

- features: ``log1p`` of the CNN's pooled penultimate features
  (:meth:`audit.labelers.world.WorldLabeler.embed`, 16 x width values: 768 for the shipped weights);
- score: the Mahalanobis distance to the mean of world renders, with the
  covariance shrunk toward its average variance (``shrinkage`` 0.01) so that
  the 512 x 512 inverse is stable;
- threshold: the ``quantile`` (0.998) of the scores of *held-out* renders (half
  clean, half with the diffusion-like augmentations of
  :func:`audit.labelers.world_pool.augment`), never seen by the fit.

Above the threshold the labeler answers ``out_of_domain`` for every attribute.
The statistics ship as ``domain.safetensors`` (mean, precision) and
``domain.json`` (threshold, settings, calibration and validation figures)
beside the labeler weights; :func:`fit_domain` (``python -m
audit.labelers.world_domain --out data/weights/world-labeler``) rebuilds them.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> d = fit_novelty(rng.random((400, 4)), rng.random((200, 4)), quantile=0.99)
>>> bool(d.out_of_domain(np.full((1, 4), 50.0))[0]), round(float((d.out_of_domain(rng.random((500, 4)))).mean()), 2) <= 0.03
(True, True)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audit.errors import UserError

__all__ = ["NoveltyScore", "fit_novelty", "world_renders", "person_free_images", "fit_domain",
           "DOMAIN_WEIGHTS", "DOMAIN_JSON"]

DOMAIN_WEIGHTS = "domain.safetensors"
DOMAIN_JSON = "domain.json"
DOMAIN_TEXT = "world renders: 64 x 64 images drawn by generator.world (or models trained on them)"


def _transform(feats: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(np.asarray(feats, dtype=np.float64), 0.0))


@dataclass(frozen=True)
class NoveltyScore:
    """Mahalanobis novelty on labeler features with a calibrated threshold.

    Parameters
    ----------
    mean, precision
        Mean ``(D,)`` and shrunk inverse covariance ``(D, D)`` of the transformed features.
    threshold
        Scores above it are out of domain.
    meta
        Settings and figures (written to ``domain.json``).
    """

    mean: np.ndarray
    precision: np.ndarray
    threshold: float
    meta: dict = field(default_factory=dict)

    def score(self, feats: np.ndarray) -> np.ndarray:
        """Novelty (Mahalanobis distance) of each row of ``feats`` ``(N, D)``.

        Examples
        --------
        >>> d = NoveltyScore(mean=np.zeros(2), precision=np.eye(2), threshold=1.0)
        >>> d.score(np.array([[np.e - 1, 0.0]])).round(3).tolist()
        [1.0]
        """
        x = _transform(feats)
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            raise UserError(f"features of shape {x.shape} do not match the domain model's {len(self.mean)} "
                            "dimensions (fix: refit it with `python -m audit.labelers.world_domain --out FOLDER`)")
        d = x - self.mean
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, self.precision, d), 0.0))

    def out_of_domain(self, feats: np.ndarray) -> np.ndarray:
        """Boolean ``(N,)``: score above the threshold.

        Examples
        --------
        >>> NoveltyScore(mean=np.zeros(1), precision=np.eye(1), threshold=1.0).out_of_domain(np.array([[0.0], [9.0]])).tolist()
        [False, True]
        """
        return self.score(feats) > self.threshold

    def save(self, folder: str | Path) -> None:
        """Write ``domain.safetensors`` and ``domain.json`` atomically into ``folder``."""
        from safetensors.numpy import save

        from audit.files import atomic_write_bytes

        folder = Path(folder)
        tensors = {"mean": self.mean.astype(np.float32), "precision": self.precision.astype(np.float32)}
        atomic_write_bytes(folder / DOMAIN_WEIGHTS, save(tensors))
        meta = {**self.meta, "threshold": float(self.threshold)}
        atomic_write_bytes(folder / DOMAIN_JSON, json.dumps(meta, indent=1, sort_keys=True).encode())

    @classmethod
    def load(cls, folder: str | Path) -> NoveltyScore | None:
        """Read the domain model of a labeler folder; None when the folder has none.

        Examples
        --------
        >>> NoveltyScore.load("/nonexistent") is None
        True
        """
        folder = Path(folder)
        weights, meta_path = folder / DOMAIN_WEIGHTS, folder / DOMAIN_JSON
        if not weights.exists() and not meta_path.exists():
            return None
        if not (weights.exists() and meta_path.exists()):
            missing = meta_path if weights.exists() else weights
            raise UserError(f"{missing}: missing half of the world labeler's domain model (fix: run "
                            f"`python -m audit.labelers.world_domain --out {folder}`)")
        from safetensors.numpy import load_file

        t = load_file(str(weights))
        meta = json.loads(meta_path.read_text())
        return cls(mean=t["mean"].astype(np.float64), precision=t["precision"].astype(np.float64),
                   threshold=float(meta["threshold"]), meta=meta)


def fit_novelty(fit_feats: np.ndarray, cal_feats: np.ndarray, *, shrinkage: float = 0.01,
                quantile: float = 0.998) -> NoveltyScore:
    """Fit the mean and shrunk precision on ``fit_feats``; threshold at ``quantile`` of ``cal_feats``' scores.

    Parameters
    ----------
    fit_feats, cal_feats
        In-domain features ``(N, D)``: two disjoint sets (the threshold must come from
        images the fit did not see).
    shrinkage
        Weight of the average variance on the covariance diagonal (0..1).
    quantile
        Share of held-out in-domain images that stay in domain.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fit_novelty(rng.random((100, 3)), rng.random((50, 3))).precision.shape
    (3, 3)
    """
    if not 0.0 <= shrinkage < 1.0 or not 0.5 <= quantile < 1.0:
        raise UserError(f"shrinkage={shrinkage}, quantile={quantile} out of range (fix: 0 <= shrinkage < 1, "
                        "0.5 <= quantile < 1)")
    x = _transform(fit_feats)
    mean = x.mean(0)
    cov = np.cov(x - mean, rowvar=False)
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
    base = NoveltyScore(mean=mean, precision=np.linalg.inv(cov), threshold=np.inf)
    cal = base.score(cal_feats)
    thr = float(np.quantile(cal, quantile))
    meta = {"transform": "log1p", "shrinkage": shrinkage, "quantile": quantile, "n_fit": len(x),
            "n_calibration": len(cal)}
    return NoveltyScore(mean=mean, precision=base.precision, threshold=thr, meta=meta)


def world_renders(n: int, *, seed: int, augmented: bool) -> np.ndarray:
    """``n`` balanced world renders (uint8 ``(n, 64, 64, 3)``), with diffusion-like augmentation if asked.

    Examples
    --------
    >>> world_renders(2, seed=0, augmented=True).shape
    (2, 64, 64, 3)
    """
    from audit.labelers.world_pool import augment, render_pool

    images, _ = render_pool(n, seed=seed, progress=False)
    if not augmented:
        return images
    import torch

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    y = augment(x, generator=torch.Generator().manual_seed(seed), p=1.0)
    return ((y + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def person_free_images(*, seed: int = 0, crops_per_photo: int = 8) -> dict[str, list[np.ndarray]]:
    """Out-of-domain probes: scikit-image's photos (whole and random square crops), noise, flat colours.

    ``photos`` holds the bundled scikit-image photos (``astronaut`` and
    ``camera`` show people; the rest are objects, animals, textures and
    scans); ``person_free`` the photos without people and their crops; ``noise``
    uniform and Gaussian noise; ``flat`` random flat colours and the ten Monk
    swatches.

    Examples
    --------
    >>> sets = person_free_images(crops_per_photo=1)
    >>> sorted(sets)
    ['flat', 'noise', 'people_photos', 'person_free']
    """
    from skimage import data

    from audit.labelers.base import to_rgb_uint8
    from audit.labelers.ita import MST_RGB

    names = ("astronaut", "camera", "coffee", "chelsea", "cat", "rocket", "coins", "moon", "horse",
             "hubble_deep_field", "immunohistochemistry", "retina", "page", "text", "clock", "grass", "gravel",
             "brick", "cell", "colorwheel", "logo")
    rng = np.random.default_rng(seed)
    people, free = [], []
    for name in names:
        im = to_rgb_uint8(getattr(data, name)())
        h, w = im.shape[:2]
        if name in ("astronaut", "camera"):
            people.append(im)
            continue
        free.append(im)
        for _ in range(crops_per_photo):
            s = int(rng.integers(min(h, w) // 4, min(h, w) + 1))
            y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            free.append(im[y:y + s, x:x + s])
    noise = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(50)]
    noise += [np.clip(rng.normal(128, s, (64, 64, 3)), 0, 255).astype(np.uint8) for s in np.linspace(5, 80, 50)]
    flat = [np.full((64, 64, 3), rng.integers(0, 256, 3), np.uint8) for _ in range(100)]
    flat += [np.full((64, 64, 3), c, np.uint8) for c in MST_RGB]
    return {"people_photos": people, "person_free": free, "noise": noise, "flat": flat}


def fit_domain(*, folder: str | Path | None = None, out: str | Path | None = None, n_fit: int = 6000,
               n_calibration: int = 3000, n_validation: int = 3000, seed: int = 7000,
               quantile: float = 0.998) -> NoveltyScore:
    """Fit, calibrate and validate the world labeler's domain model; write it beside the weights.

    Renders ``n_fit`` (fit), ``n_calibration`` (threshold) and ``n_validation``
    (check) world renders from three seeds, half clean and half augmented;
    validates on :func:`person_free_images`; records every figure in
    ``domain.json``.

    Parameters
    ----------
    folder
        The labeler weights (default: the shipped ones).
    out
        Where to write ``domain.safetensors`` / ``domain.json`` (default: ``folder``).

    Examples
    --------
    >>> fit_domain(out="/tmp/wl-domain", n_fit=600, n_calibration=300, n_validation=300)  # doctest: +SKIP
    """
    from audit.labelers.world import DEFAULT_DIR, WorldLabeler

    folder = Path(folder) if folder is not None else DEFAULT_DIR
    out = Path(out) if out is not None else folder
    lab = WorldLabeler.from_pretrained(folder, domain=False)

    def feats(n: int, s: int) -> np.ndarray:
        half = n // 2
        return np.concatenate([lab.embed(world_renders(half, seed=s, augmented=False)),
                               lab.embed(world_renders(n - half, seed=s + 1, augmented=True))])

    model = fit_novelty(feats(n_fit, seed), feats(n_calibration, seed + 10), quantile=quantile)
    half = n_validation // 2
    val = {"world_clean": lab.embed(world_renders(half, seed=seed + 20, augmented=False)),
           "world_augmented": lab.embed(world_renders(n_validation - half, seed=seed + 21, augmented=True))}
    val.update({k: lab.embed(v) for k, v in person_free_images(seed=seed).items()})
    rates = {k: {"n": len(v), "out_of_domain": round(float(model.out_of_domain(v).mean()), 4)} for k, v in val.items()}
    meta = {**model.meta, "domain": DOMAIN_TEXT, "seed": seed, "validation": rates,
            "command": f"python -m audit.labelers.world_domain --out {_shown(out)} --seed {seed} --quantile {quantile}"}
    model = NoveltyScore(mean=model.mean, precision=model.precision, threshold=model.threshold, meta=meta)
    model.save(out)
    return model


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (so recorded commands are portable)."""
    from audit.labelers.world import DEFAULT_DIR

    try:
        return str(path.resolve().relative_to(DEFAULT_DIR.resolve().parents[2]))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m audit.labelers.world_domain``: refit the shipped domain model."""
    p = argparse.ArgumentParser(prog="python -m audit.labelers.world_domain", description=fit_domain.__doc__.split("\n")[0])
    p.add_argument("--folder", default=None, help="labeler weights (default: the shipped ones)")
    p.add_argument("--out", default=None, help="output folder (default: --folder)")
    p.add_argument("--seed", type=int, default=7000)
    p.add_argument("--quantile", type=float, default=0.998,
                   help="share of held-out world renders kept in domain (sets the threshold)")
    a = p.parse_args(argv)
    model = fit_domain(folder=a.folder, out=a.out, seed=a.seed, quantile=a.quantile)
    print(json.dumps({"threshold": model.threshold, **model.meta["validation"]}, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
