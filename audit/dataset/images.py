"""Image side of the dataset audit: label images, relate labels to what captions say.

For every image that has one (webdataset tars, the ``files`` layout, caption
folders) the image is decoded (failures skipped and counted by reason), labelled
by a :class:`audit.labelers.Labeler`, and its caption tagged with the lexicons.
Outputs:

- ``image_labels.parquet``: the shared labels table;
- ``image_by_concept.parquet``: P(label value | caption concept), raw and corrected
  for labeler error when the labeler has a confusion matrix (``share_corrected``),
  each with an interval and its ``method``, zero counts included
  (:func:`audit.dataset.results.image_shares`);
- ``caption_image_agreement.parquet``: how often the label agrees with what the
  caption states (caption says "woman" -> presentation ``feminine``; "dark-skinned"
  -> skin group ``dark``; a profession -> that profession; an unsafe term ->
  ``unsafe = true``).

Examples
--------
>>> AGREEMENT[("gender:woman")]
('presentation', 'feminine')
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from audit.dataset.lexicon import Lexicon
from audit.dataset.sources import IMAGE_EXTENSIONS, DatasetInput
from audit.dataset.tagger import Tagger
from audit.files import write_parquet_atomic

__all__ = ["audit_images", "iter_image_samples", "AGREEMENT", "agreement_table"]

#: Caption concept -> (label attribute, the value the caption implies).
AGREEMENT: dict[str, tuple[str, str]] = {
    "gender:woman": ("presentation", "feminine"), "gender:girl": ("presentation", "feminine"),
    "gender:man": ("presentation", "masculine"), "gender:boy": ("presentation", "masculine"),
    "gender:nonbinary": ("presentation", "androgynous"),
    "skin_tone:light": ("skin_group", "light"), "skin_tone:medium": ("skin_group", "medium"),
    "skin_tone:dark": ("skin_group", "dark"),
    "age:older": ("age_group", "older"), "age:young_adult": ("age_group", "young"),
}


def _caption_of(files: dict[str, bytes]) -> str | None:
    data = files.get("txt")
    return None if data is None else data.decode("utf-8", errors="replace")


def iter_image_samples(ds: DatasetInput, *, summary) -> Iterator[tuple[str, bytes | None, str | None, str | None]]:
    """Yield ``(image_id, image bytes or None, reason if None, caption)`` for every image of a dataset.

    Tars are read with :func:`audit.shards.iter_tar_samples` (never extracted;
    unsafe member names and corrupt archives are counted in ``summary``).
    """
    from audit.tarread import ReadStats, iter_tar_samples

    for tar in ds.image_shards:
        stats = ReadStats()
        for sample in iter_tar_samples(Path(tar), stats=stats):
            ext = next((e for e in IMAGE_EXTENSIONS if e in sample.files), None)
            if ext is None:
                continue  # a caption-only sample is not an image
            yield sample.key, sample.files[ext], None, _caption_of(sample.files)
        for reason, n in stats.skipped.items():
            summary.skip(f"shard_{reason}", tar, n=n)
    for f in ds.image_files:
        p = Path(f)
        txt = p.with_suffix(".txt")
        try:
            data, reason = p.read_bytes(), None
        except OSError:
            data, reason = None, "read_error"
        caption = txt.read_bytes().decode("utf-8", errors="replace") if txt.is_file() else None
        yield p.stem, data, reason, caption


def _concepts_per_image(ids: list[str], captions: list[str | None], lexicon: Lexicon) -> pd.DataFrame:
    tagger = Tagger.for_lexicon(lexicon)
    rows, sids = tagger.match(pa.array([c or "" for c in captions], pa.string()))
    pairs = {(int(r), c) for r, s in zip(rows, sids) for c in lexicon.surface_concepts[s]}
    return pd.DataFrame({"image_id": [ids[r] for r, _ in sorted(pairs)],
                         "concept": [lexicon.concepts[c] for _, c in sorted(pairs)]})


def agreement_table(labels: pd.DataFrame, concepts: pd.DataFrame, *, unsafe_concepts: list[str] = (),
                    confidence: float = 0.95) -> pd.DataFrame:
    """Share of images whose label agrees with what the caption states.

    Returns
    -------
    pandas.DataFrame
        ``caption_concept, attribute, expected, n_images, n_agree, agreement, lo, hi``.

    Examples
    --------
    >>> lab = pd.DataFrame({"image_id": ["a", "b"], "attribute": "presentation", "value": ["feminine", "masculine"]})
    >>> con = pd.DataFrame({"image_id": ["a", "b"], "concept": ["gender:woman", "gender:woman"]})
    >>> agreement_table(lab, con)[["caption_concept", "n_images", "n_agree"]].values.tolist()
    [['gender:woman', 2, 1]]
    """
    from audit.metrics import wilson_interval

    expect = dict(AGREEMENT)
    for c in concepts["concept"].unique() if len(concepts) else []:
        if c.startswith("profession:"):
            expect[c] = ("profession", c.split(":", 1)[1].replace("_", " "))
    for c in unsafe_concepts:
        expect[c] = ("unsafe", "true")
    rows = []
    # one value per (image, attribute): a repeated image id (two files with one stem) must not break the join
    value_of = labels.drop_duplicates(["image_id", "attribute"]).set_index(["image_id", "attribute"])["value"] \
        if len(labels) else pd.Series(dtype=object)
    for concept, (attr, want) in sorted(expect.items()):
        imgs = concepts.loc[concepts["concept"] == concept, "image_id"].unique()
        if not len(imgs):
            continue
        got = value_of.reindex(pd.MultiIndex.from_arrays([imgs, [attr] * len(imgs)])).to_numpy()
        labelled = pd.notna(got)
        if not labelled.any():
            continue
        agree = int(((got == want) | (got == want.replace(" ", "_")))[labelled].sum())
        rows.append({"caption_concept": concept, "attribute": attr, "expected": want,
                     "n_images": int(labelled.sum()), "n_agree": agree})
    out = pd.DataFrame(rows, columns=["caption_concept", "attribute", "expected", "n_images", "n_agree"])
    out["agreement"] = out["n_agree"] / out["n_images"]
    lo, hi = wilson_interval(out["n_agree"].to_numpy(float), out["n_images"].to_numpy(float), confidence=confidence)
    out["lo"], out["hi"] = lo, hi
    return out


def audit_images(ds: DatasetInput, lexicon: Lexicon, *, labeler, out_dir: Path, max_images: int | None = None,
                 batch_size: int = 128, progress: bool = True) -> dict | None:
    """Label a dataset's images and write the image tables; ``None`` when it has no images.

    Parameters
    ----------
    ds
        From :func:`~audit.dataset.sources.detect`.
    lexicon
        Lexicons for the caption concepts.
    labeler
        Follows :class:`audit.labelers.Labeler` (``label(images, *, image_ids)``).
    out_dir
        Where the tables go (written atomically).
    max_images
        Stop after this many images.
    batch_size
        Images per labeler call.
    progress
        Show a progress bar.

    Returns
    -------
    dict or None
        Summary for ``results.json`` and the dataset card.
    """
    from audit.labelers.images import SkipSummary, SourceItem, label_items
    from audit.schema import NON_ANSWER_VALUES

    if not ds.image_shards and not ds.image_files:
        return None
    summary = SkipSummary()
    ids_all, caps_all = [], []
    total = len(ds.image_files) or None
    if max_images is not None:
        total = min(total or max_images, max_images)
    items = (SourceItem(image_id, data, reason, origin=image_id, caption=caption)
             for image_id, data, reason, caption in iter_image_samples(ds, summary=summary))
    if max_images is not None:
        items = itertools.islice(items, max_images)

    def keep(read: list, labelled: list) -> None:
        bar.update(len(read))
        ids_all.extend(i.image_id for i in labelled)
        caps_all.extend(i.caption for i in labelled)

    with tqdm(total=total, unit="img", desc="images", disable=not progress) as bar:
        all_labels, counts = label_items(items, [labeler], summary=summary, batch_size=batch_size, on_batch=keep)
    seen = counts.read
    labels = all_labels[~all_labels["value"].astype(str).isin(NON_ANSWER_VALUES)]  # shares leave non-answers out
    concepts = _concepts_per_image(ids_all, caps_all, lexicon)
    from audit.dataset.results import image_shares

    by_concept = image_shares(labels, concepts, labeler=labeler)
    agreement = agreement_table(labels, concepts, unsafe_concepts=lexicon.role_of("unsafe"))
    write_parquet_atomic(out_dir / "image_labels.parquet", all_labels)
    write_parquet_atomic(out_dir / "image_by_concept.parquet", by_concept)
    write_parquet_atomic(out_dir / "caption_image_agreement.parquet", agreement)
    labelled = counts.labelled
    pooled = {}
    for attr, grp in agreement.groupby("attribute"):
        pooled[attr] = float(grp["n_agree"].sum() / grp["n_images"].sum()) if grp["n_images"].sum() else None
    return {
        "labeler": getattr(labeler, "name", type(labeler).__name__),
        "summary": {"images_seen": seen, "images_labelled": labelled,
                    "images_skipped": summary.total,
                    "skipped_by_reason": dict(sorted(summary.counts.items())),
                    **{f"caption_image_agreement_{k}": (None if v is None else round(v, 4))
                       for k, v in sorted(pooled.items())}},
        "skip_examples": list(summary.examples),
        # which confusion matrix corrected each attribute's shares (card split, or a --confusion file)
        "confusion_sources": ({} if by_concept.empty else
                              by_concept.dropna(subset=["confusion_source"]).groupby("attribute")["confusion_source"]
                              .first().to_dict()),
        "agreement": agreement.to_dict("records"),
    }
