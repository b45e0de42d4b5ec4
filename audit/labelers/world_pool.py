"""Renders for training and evaluating the world labeler: balanced pools, JPEG, augmentations.

A pool draws every attribute uniformly and independently (:func:`balanced_attributes`),
so a labeler trained on it cannot learn the world's injected correlations; a share of
renders is JPEG-recompressed; :func:`augment` adds what diffusion samples look like
(colour casts, blur, low-resolution upsampling, noise). The pool is the same whatever
the number of workers (seeded chunks of :data:`CHUNK` renders).

Examples
--------
>>> images, attrs = render_pool(8, seed=0, progress=False)
>>> images.shape
(8, 64, 64, 3)
"""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
from PIL import Image

from audit.labelers.world import HEADS
from audit.labelers.world_eval import targets

__all__ = ["CHUNK", "balanced_attributes", "render_pool", "cell_ids", "augment", "to_tensor"]

CHUNK = 2048  # renders per seeded chunk: the pool is the same whatever the number of workers


def balanced_attributes(n: int, *, rng: np.random.Generator, unsafe_rate: float = 0.3,
                        light_share: float | None = None) -> pd.DataFrame:
    """Attributes drawn uniformly and independently (no injected correlation).

    ``light_share`` (None: uniform tones, 0.3 light) draws that share of people
    from Monk tones 1-3 and the rest from 4-10, still independently of every
    other attribute: a hard-case pool for fine-tuning (:func:`audit.labelers.world_train.train_world_labeler`).

    Examples
    --------
    >>> balanced_attributes(4, rng=np.random.default_rng(0)).shape
    (4, 6)
    >>> bool(balanced_attributes(400, rng=np.random.default_rng(0), light_share=1.0).skin_tone.le(3).all())
    True
    """
    h = HEADS
    profession = rng.choice(np.array(h["profession"], dtype=object), n)
    if light_share is None:
        tone = rng.integers(1, 11, n)
    else:
        tone = np.where(rng.random(n) < light_share, rng.integers(1, 4, n), rng.integers(4, 11, n))
    return pd.DataFrame({
        "profession": profession,
        "skin_tone": tone,
        "presentation": rng.choice(np.array(h["presentation"], dtype=object), n),
        "age_group": rng.choice(np.array(h["age_group"], dtype=object), n),
        "activity": rng.choice(np.array(h["activity"], dtype=object), n),
        "unsafe": rng.random(n) < unsafe_rate,
    })


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """The image after a JPEG round trip at ``quality`` (the encoder world builds use)."""
    from generator.world.build import encode_jpeg

    return np.asarray(Image.open(io.BytesIO(encode_jpeg(img, quality))).convert("RGB"))


def _render_chunk(args: tuple) -> tuple[np.ndarray, pd.DataFrame]:
    from generator.world import render_batch

    seed, chunk, n, jpeg_share, (q_lo, q_hi), light_share = args
    rng = np.random.default_rng([seed, chunk])
    attrs = balanced_attributes(n, rng=rng, light_share=light_share)
    images = render_batch(attrs, rng=rng)
    quality = np.where(rng.random(n) < jpeg_share, rng.integers(q_lo, q_hi + 1, n), 0)
    for i in np.flatnonzero(quality):
        images[i] = _jpeg(images[i], int(quality[i]))
    return images, attrs.assign(jpeg_quality=quality)


def render_pool(n: int, *, seed: int, jpeg_share: float = 0.2, jpeg_quality: tuple[int, int] = (20, 90),
                light_share: float | None = None, progress: bool = True,
                workers: int = 1) -> tuple[np.ndarray, pd.DataFrame]:
    """Render ``n`` balanced people; a share ``jpeg_share`` is JPEG-recompressed (quality in ``jpeg_quality``).

    ``light_share`` over-represents Monk tones 1-3 (see :func:`balanced_attributes`).

    Chunks of :data:`CHUNK` renders are seeded by ``(seed, chunk)``, so the pool
    does not depend on ``workers`` (processes that render chunks in parallel).
    ``attrs`` holds the attributes and ``jpeg_quality`` (0: not recompressed).

    Examples
    --------
    >>> imgs, attrs = render_pool(8, seed=0, progress=False)
    >>> imgs.shape, int(attrs.jpeg_quality.ge(0).sum())
    ((8, 64, 64, 3), 8)
    """
    from tqdm import tqdm

    jobs = [(seed, c, min(CHUNK, n - c * CHUNK), jpeg_share, tuple(jpeg_quality), light_share)
            for c in range(-(-n // CHUNK))]
    bar = tqdm(total=n, desc="render pool", unit="img", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            parts = []
            for part in ex.map(_render_chunk, jobs):
                parts.append(part)
                bar.update(len(part[0]))
    else:
        parts = []
        for job in jobs:
            parts.append(_render_chunk(job))
            bar.update(len(parts[-1][0]))
    bar.close()
    if not parts:
        return np.zeros((0, 64, 64, 3), np.uint8), balanced_attributes(0, rng=np.random.default_rng(seed))
    return np.concatenate([p[0] for p in parts]), pd.concat([p[1] for p in parts], ignore_index=True)


def cell_ids(attrs: pd.DataFrame) -> np.ndarray:
    """Hard-case cell of each row: profession x presentation x age group x Monk tone (0..2159).

    Examples
    --------
    >>> bool(cell_ids(balanced_attributes(3, rng=np.random.default_rng(0))).max() < 24 * 3 * 3 * 10)
    True
    """
    t = targets(attrs)
    return ((t["profession"] * 3 + t["presentation"]) * 3 + t["age_group"]) * 10 + t["skin_tone"]


def augment(x, *, generator, p: float = 0.75):
    """Diffusion-like artifacts on a float batch in [-1, 1] (torch, vectorised, on ``x``'s device).

    ``generator`` must live on the same device as ``x``.

    Examples
    --------
    >>> import torch
    >>> augment(torch.zeros(2, 3, 64, 64), generator=torch.Generator().manual_seed(0)).shape
    torch.Size([2, 3, 64, 64])
    """
    import torch
    import torch.nn.functional as F

    n, dev = x.shape[0], x.device
    g = generator

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g, device=dev)

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * rand(n, *shape)

    on = (rand(n) < p).float().view(n, 1, 1, 1)
    y = (x + 1) / 2
    # low-resolution then upsampled (SR-stage look), blur
    pick = rand(n)
    small = F.interpolate(F.interpolate(y, size=32, mode="area"), size=64, mode="bilinear", align_corners=False)
    tiny = F.interpolate(F.interpolate(y, size=16, mode="area"), size=64, mode="bilinear", align_corners=False)
    k = torch.tensor([1.0, 2.0, 1.0], device=dev) / 4
    blur = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), (k[:, None] * k[None, :]).expand(3, 1, 3, 3), groups=3)
    y = torch.where((pick < 0.15).view(n, 1, 1, 1), small,
                    torch.where((pick < 0.2).view(n, 1, 1, 1), tiny,
                                torch.where((pick < 0.4).view(n, 1, 1, 1), blur, y)))
    # colour: gain, per-channel cast, contrast, saturation, washed-out
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * u(0.6, 1.4, 1, 1, 1) + mean
    grey = y.mean(dim=1, keepdim=True)
    y = (y - grey) * u(0.5, 1.6, 1, 1, 1) + grey
    y = y * u(0.8, 1.2, 1, 1, 1) * u(0.92, 1.08, 3, 1, 1)
    wash = u(0.0, 0.3, 1, 1, 1) * (rand(n, 1, 1, 1) < 0.3).float()
    y = y * (1 - wash) + 0.5 * wash
    y = y + torch.randn(y.shape, generator=g, device=dev) * u(0.0, 0.06, 1, 1, 1)
    y = y.clamp(0, 1) * 2 - 1
    return on * y + (1 - on) * x


def to_tensor(images):
    """uint8 ``(N, 64, 64, 3)`` (numpy or torch) -> float ``(N, 3, 64, 64)`` in [-1, 1].

    Examples
    --------
    >>> to_tensor(np.zeros((1, 64, 64, 3), np.uint8)).shape
    torch.Size([1, 3, 64, 64])
    """
    import torch

    t = torch.from_numpy(images) if isinstance(images, np.ndarray) else images
    return t.permute(0, 3, 1, 2).float() / 127.5 - 1.0
