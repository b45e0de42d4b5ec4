"""Annotation -> matrix -> correction on world renders, with simulated annotators drawn from the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.annotate.store import AnnotationFile, choices_for, stratified_sample
from audit.annotate.validate import corrected_shares, load_confusion, validate_run


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """3,000 augmented world renders (diffusion-like artifacts) as a run directory, labelled by the shipped labeler."""
    import torch
    from PIL import Image

    from audit.labelers.world import WorldLabeler
    from audit.labelers.world_pool import augment, render_pool
    from audit.run.work import png_bytes, put_image

    imgs, attrs = render_pool(3000, seed=2024, progress=False)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1
    y = augment(x, generator=torch.Generator().manual_seed(2024), p=1.0)
    imgs = ((y + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    run = tmp_path_factory.mktemp("run")
    rows = []
    for i, (img, a) in enumerate(zip(imgs, attrs.itertuples())):
        image_id, rel = put_image(run, png_bytes(Image.fromarray(img)))
        rows.append({"image_id": image_id, "path": rel, "prompt": f"a photo of a {a.profession}",
                     "profession": a.profession, "truth": a.presentation})
    manifest = pd.DataFrame(rows).drop_duplicates("image_id")
    manifest.drop(columns="truth").to_parquet(run / "manifest.parquet")
    lab = WorldLabeler.from_pretrained()
    labels = lab.label(list(imgs), image_ids=[r["image_id"] for r in rows]).drop_duplicates(["image_id", "attribute"])
    labels.to_parquet(run / "labels.parquet")
    pred = labels[labels.attribute == "presentation"].set_index("image_id").value
    manifest["pred"] = pred.loc[manifest.image_id].to_numpy()
    return run, manifest, lab


def test_matrix_from_200_stratified_annotations_matches_the_measured_one(pool):
    """Gate: the matrix estimated from 200 annotations is within +-0.03 of the card's measured matrix."""
    run, manifest, lab = pool
    labels = pd.read_parquet(run / "labels.parquet")
    choices = choices_for(labels, labeler="world", attribute="presentation")
    items = stratified_sample(manifest, labels, labeler="world", attribute="presentation", concept="profession",
                              n=200, seed=1)
    f = AnnotationFile.open_or_create(run / "annotations" / "sim.json", create={
        "annotator": "sim", "labeler": "world", "attribute": "presentation", "concept": "profession",
        "choices": choices, "items": items})
    truth = dict(zip(manifest.image_id, manifest.truth))
    for i, it in enumerate(items):
        f.answer(i, truth[it["image_id"]])
    validate_run(run)
    est = load_confusion(run, labeler="world", attribute="presentation")
    measured = lab.confusion("presentation", split="augmented").loc[est.index, est.columns]
    diff = (est - measured).abs().to_numpy().max()
    print(f"max |estimated - measured| = {diff:.4f}")
    assert diff <= 0.03, (diff, est, measured)


def test_corrected_share_intervals_cover_the_truth(pool):
    """Gate: corrected shares' 95% intervals cover the true share >= 93% (60 simulated audits x 3 classes)."""
    _, manifest, _ = pool
    classes = ["androgynous", "feminine", "masculine"]
    p_true = np.array([0.1, 0.3, 0.6])
    by_class = {c: manifest[manifest.truth == c] for c in classes}
    rng = np.random.default_rng(0)
    hits = []
    for rep in range(60):
        k = rng.multinomial(300, p_true)
        audit = pd.concat([by_class[c].sample(n=int(n), replace=True, random_state=int(rng.integers(1 << 31)))
                           for c, n in zip(classes, k)])
        ann = manifest.sample(n=200, random_state=int(rng.integers(1 << 31)))
        r = corrected_shares(audit.pred, ann.rename(columns={"truth": "truth", "pred": "pred"}), classes=classes,
                             n_boot=200, seed=rep)
        hits += list((r.lo.to_numpy() <= p_true + 1e-9) & (p_true - 1e-9 <= r.hi.to_numpy()))
    coverage = float(np.mean(hits))
    print(f"coverage {coverage:.3f} of {len(hits)}")
    assert coverage >= 0.93, coverage
