"""Quality gates of the built-in generator, measured with the world labeler.

- **alignment**: share of "a photo of a {profession}" images labelled as that profession;
- **compliance**: share of images whose prompt names a skin group / presentation / age that
  show it;
- **reworded**: alignment on wordings the training captions never used (reported, not gated);
- **world-FID ratio**: Fréchet distance, in a frozen feature space, between generated images and
  held-out renders of the same people, divided by the distance between two disjoint render sets
  of that size (1 = as close as renders are to each other). The features are those of the world
  labeler the gate was calibrated with (``data/weights/world-fid``, the labeler shipped until
  2026-12-04), kept fixed like Inception for FID: retraining the labeler changes what it
  separates, and with it any distance in its features (the retrained labeler reads the same
  images at a ratio of 4.65);
- **images/s** of the full cascade.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from audit.resources import data_path
from audit.schema import skin_group
from generator.api import SamplerSettings, generate
from generator.world.captions import AGE_WORDS, PRESENTATION_WORDS, SKIN_WORDS
from generator.world.vocab import PROFESSIONS

__all__ = ["frechet_distance", "evaluate_generator", "probe_prompts", "fid_features", "REWORDED_TEMPLATES",
           "FID_FEATURES_DIR"]

FID_FEATURES_DIR = data_path("weights", "world-fid")

REWORDED_TEMPLATES = ("someone who works as a {p}", "an image showing a {p} at work", "a {p} on the job")


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 3))
    >>> frechet_distance(x, x) < 1e-6
    True
    >>> round(frechet_distance(x, x + 2.0), 1)
    12.0
    """
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def probe_prompts(*, per_prompt: int) -> pd.DataFrame:
    """The evaluation prompts: one row per image, with what the prompt asks for.

    Examples
    --------
    >>> df = probe_prompts(per_prompt=1)
    >>> sorted(df.kind.unique())
    ['age_group', 'presentation', 'profession', 'reworded', 'skin_group']
    """
    rows = []
    for p in PROFESSIONS:
        rows.append(("profession", f"a photo of a {p}", p, None, None))
        for t in REWORDED_TEMPLATES:
            rows.append(("reworded", t.format(p=p), p, None, None))
    for i, p in enumerate(PROFESSIONS):
        for g, words in SKIN_WORDS.items():
            rows.append(("skin_group", f"a photo of a {words[0]} {p}", p, "skin_group", g))
        for s, words in PRESENTATION_WORDS.items():
            art = "an" if words[0][1][0] in "aeiou" else "a"
            rows.append(("presentation", f"a photo of {art} {words[0][1]} {p}", p, "presentation", s))
        for a, words in AGE_WORDS.items():
            art = "an" if words[0][0] in "aeiou" else "a"
            rows.append(("age_group", f"a photo of {art} {words[0]} {p}", p, "age_group", a))
    df = pd.DataFrame(rows, columns=["kind", "prompt", "profession", "attribute", "asked"])
    return df.loc[df.index.repeat(per_prompt)].reset_index(drop=True).assign(seed=lambda d: np.arange(len(d)))


def fid_features(path: str | None = None) -> Any:
    """The frozen feature network of the world-FID (default ``data/weights/world-fid``).

    Examples
    --------
    >>> net = fid_features()
    >>> net.embed([np.zeros((64, 64, 3), dtype=np.uint8)]).shape
    (1, 512)
    """
    from audit.labelers.world import WorldLabeler

    return WorldLabeler.from_pretrained(path or FID_FEATURES_DIR, domain=False)


def evaluate_generator(*, pipeline: Any, labeler: Any, per_prompt: int = 2, n_fid: int = 1000,
                       settings: SamplerSettings | None = None, seed: int = 0, progress: bool = True,
                       fid_embedder: Any = None) -> dict:
    """Measure alignment, compliance, reworded alignment, world-FID ratio and images/s.

    ``labeler`` reads alignment and compliance; ``fid_embedder`` (anything with
    ``embed(images) -> (N, D)``; default :func:`fid_features`) gives the world-FID's features.

    Returns
    -------
    dict
        JSON-ready figures (see the module docstring).
    """
    from generator.world.build import render_shard
    from generator.world.spec import load_spec

    settings = settings or SamplerSettings()
    probes = probe_prompts(per_prompt=per_prompt)
    t0 = time.perf_counter()
    images = generate(probes.prompt.tolist(), seeds=(probes.seed + seed).tolist(), pipeline=pipeline,
                      settings=settings, output_type="np", progress=progress)
    gen_seconds = time.perf_counter() - t0
    probs = labeler.predict_proba(images)
    heads = {"profession": PROFESSIONS, "presentation": ("feminine", "masculine", "androgynous"),
             "age_group": ("young", "adult", "older")}
    pred = {k: np.array(v, dtype=object)[probs[k].argmax(1)] for k, v in heads.items()}
    tone = probs["skin_tone"].argmax(1) + 1
    pred["skin_group"] = np.array([skin_group(t) for t in tone], dtype=object)
    probes = probes.assign(**{f"label_{k}": v for k, v in pred.items()})
    out: dict[str, Any] = {"settings": settings.to_dict(), "per_prompt": per_prompt}
    prof = probes[probes.kind == "profession"]
    out["alignment"] = float((prof.label_profession == prof.profession).mean())
    rew = probes[probes.kind == "reworded"]
    out["reworded_alignment"] = float((rew.label_profession == rew.profession).mean())
    out["compliance"] = {}
    for attr in ("skin_group", "presentation", "age_group"):
        sub = probes[probes.kind == attr]
        out["compliance"][attr] = float((sub[f"label_{attr}"] == sub.asked).mean())
        out["compliance"][f"{attr}_by_value"] = {v: float((g[f"label_{attr}"] == v).mean()) for v, g in sub.groupby("asked")}
    out["skin_group_distribution_unprompted"] = prof.label_skin_group.value_counts(normalize=True).round(4).to_dict()
    # world-FID ratio: generated vs held-out renders of the same people, over render vs render
    spec = load_spec()
    truth, renders = render_shard(spec, seed=seed + 10_000, shard=0, count=n_fid)
    _, renders2 = render_shard(spec, seed=seed + 20_000, shard=0, count=n_fid)
    t1 = time.perf_counter()
    gen_fid = generate(truth.TEXT.tolist(), seeds=list(range(seed, seed + n_fid)), pipeline=pipeline,
                       settings=settings, output_type="np", progress=progress)
    gen_seconds += time.perf_counter() - t1
    net = fid_embedder if fid_embedder is not None else fid_features()
    f_gen, f_r1, f_r2 = net.embed(gen_fid), net.embed(list(renders)), net.embed(list(renders2))
    fd_gen = frechet_distance(f_gen, f_r1)
    fd_ref = frechet_distance(f_r2, f_r1)
    out["world_fid"] = fd_gen
    out["world_fid_renders"] = fd_ref
    out["world_fid_ratio"] = fd_gen / fd_ref
    n_images = len(images) + len(gen_fid)
    out["images"] = n_images
    out["images_per_second"] = n_images / gen_seconds
    out["gates"] = {"alignment>=0.95": out["alignment"] >= 0.95,
                    "compliance>=0.90": all(out["compliance"][a] >= 0.90 for a in ("skin_group", "presentation", "age_group")),
                    "world_fid_ratio<=3": out["world_fid_ratio"] <= 3}
    return out
