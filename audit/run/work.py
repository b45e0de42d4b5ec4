"""Run one shard: generate its images, store them, label them where they are, commit everything at once.

A shard's outputs live in ``parts/<shard_id>/`` (``manifest.parquet``,
``labels.parquet``, ``counts.parquet``, ``effective.json``: the sampler values and image
size the generator actually used). They are written into a temporary
folder and the folder is renamed into place: that rename is the commit. Images
go to the content-addressed store before the commit; a shard killed before its
commit is simply run again, writing the same bytes under the same names.

The image store is content-addressed: an image lives under its sha256
(:func:`image_relpath`) and is written atomically, so a run killed at any point leaves
either no file or the whole image under its final name.

Examples
--------
>>> shard_dir("runs/x", "s0-0001").as_posix()
'runs/x/parts/s0-0001'
>>> import tempfile, pathlib
>>> from PIL import Image
>>> run = pathlib.Path(tempfile.mkdtemp())
>>> image_id, rel = put_image(run, png_bytes(Image.new("RGB", (2, 2))))
>>> rel == f"images/{image_id[:2]}/{image_id}.png" and (run / rel).is_file()
True
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from audit.files import atomic_write_bytes, write_json_atomic, write_parquet_atomic
from audit import schema as _schema
from audit.schema import FILTERED
from audit.schema import LABEL_KEYS as _LABEL_KEYS
from generator.adapters.base import OUTCOME_KEYS, Settings, image_outcome

if TYPE_CHECKING:
    from audit.run.execute import Shard

__all__ = ["ShardJob", "run_shard", "shard_dir", "is_committed", "shard_counts", "png_bytes", "put_image",
           "image_relpath", "LABEL_KEYS", "MANIFEST_BASE", "NONE_VALUE"]

#: Manifest columns before the slot columns.
MANIFEST_BASE = list(_schema.MANIFEST_BASE)
#: Columns that identify a label row (:data:`audit.schema.LABEL_KEYS`).
LABEL_KEYS = list(_LABEL_KEYS)
#: Counts value for an axis the prompt leaves out (the counterfactual "without these words").
NONE_VALUE = "(none)"


def png_bytes(image) -> bytes:
    """Encode a PIL image as PNG bytes (deterministic: same pixels, same bytes).

    Examples
    --------
    >>> from PIL import Image
    >>> png_bytes(Image.new("RGB", (1, 1)))[:4]
    b'\\x89PNG'
    """
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def image_relpath(image_id: str) -> str:
    """Path of an image below the run directory: ``images/ab/abcdef....png``.

    Examples
    --------
    >>> image_relpath("abcdef")
    'images/ab/abcdef.png'
    """
    return f"images/{image_id[:2]}/{image_id}.png"


def put_image(run_dir: str | Path, data: bytes) -> tuple[str, str]:
    """Store PNG bytes under their sha256; returns ``(image_id, relative path)``.

    Writing the same bytes twice is a no-op, so a re-run shard cannot duplicate an image.
    """
    image_id = hashlib.sha256(data).hexdigest()
    rel = image_relpath(image_id)
    path = Path(run_dir) / rel
    if not path.is_file():
        atomic_write_bytes(path, data)
    return image_id, rel


@dataclass
class ShardJob:
    """Everything a worker needs to run one shard (picklable; models load lazily on the worker).

    ``generator_key`` / ``labelers_key`` identify the models so that a worker process
    reuses what it loaded for its previous shard.
    """

    run_dir: str
    shard: Shard
    generator: Any
    generator_key: str
    labelers: Sequence[Any]
    labelers_key: str
    columns: Sequence[str]
    axes: Sequence[str] = ()
    batch_size: int = 8
    threads: int | None = None
    progress: Callable[[str, int], None] | None = field(default=None, repr=False)


def shard_dir(run_dir: str | Path, shard_id: str) -> Path:
    """Folder holding a committed shard's parts."""
    return Path(run_dir) / "parts" / shard_id


def is_committed(run_dir: str | Path, shard_id: str) -> bool:
    """True when the shard's parts folder was committed."""
    return (shard_dir(run_dir, shard_id) / "counts.parquet").is_file()


#: One generator and one labeler set per process, reused by the shards a worker runs
#: (reloading a pipeline per shard would dominate the run time).
_REUSE: dict[str, tuple[str, Any]] = {}


def _reuse(slot: str, key: str, obj: Any) -> Any:
    held = _REUSE.get(slot)
    if held is not None and held[0] == key:
        return held[1]
    _REUSE[slot] = (key, obj)
    return obj


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _label(labelers: Sequence[Any], images: list, image_ids: list[str]) -> pd.DataFrame:
    """Label generated images through the one label loop (:func:`audit.labelers.images.label_items`)."""
    from audit.labelers.images import SkipSummary, SourceItem, label_items

    items = [SourceItem(i, None, image=im) for i, im in zip(image_ids, images)]
    labels, _ = label_items(items, labelers, summary=SkipSummary(), batch_size=max(1, len(items)))
    return labels


def _filtered_labels(labelers: Sequence[Any], filtered: list[tuple[str, dict]]) -> pd.DataFrame:
    """Rows marking every declared attribute of a filtered image ``filtered``, with the filter's reason.

    A safety filter's placeholder (a black image) is not a picture of anything: labelling it
    would turn "the filter fired" into "a light-skinned person" or "nothing unsafe".

    Examples
    --------
    >>> class L:
    ...     name, attributes = "t", {"g": ("f", "m")}
    >>> _filtered_labels([L()], [("x", {"filter_reason": "nsfw_content_detected"})])[["value", "reason"]].values.tolist()
    [['filtered', 'filtered by the generator: nsfw_content_detected']]
    """
    from audit.labelers.base import labels_frame, unreadable_rows

    rows = [r for image_id, outcome in filtered for lab in labelers
            for r in unreadable_rows(image_id, labeler=lab.name, attributes=tuple(lab.attributes), value=FILTERED,
                                     reason=f"filtered by the generator: {outcome.get('filter_reason') or 'unknown'}")]
    return labels_frame(rows)


def effective_settings(generator: Any, setting: Settings, images: Sequence[Any]) -> dict[str, Any]:
    """What a shard actually drew with: the generator's resolved sampler values and the image size.

    Examples
    --------
    >>> from PIL import Image
    >>> effective_settings(object(), Settings(steps=3), [Image.new("RGB", (4, 2))])["width"]
    4
    """
    resolve = getattr(generator, "effective", None)
    values = dict(resolve(setting)) if callable(resolve) else setting.to_dict()
    sizes = sorted({tuple(getattr(im, "size", (None, None))) for im in images})
    if len(sizes) == 1:
        values["width"], values["height"] = sizes[0]
    else:
        values["sizes"] = [list(s) for s in sizes]
    return values


def shard_counts(manifest: pd.DataFrame, labels: pd.DataFrame, *, columns: Sequence[str],
                 axes: Sequence[str] = ()) -> pd.DataFrame:
    """Mergeable counts of one shard: images per (setting, slot value, labeler, attribute, value).

    ``slot == "*"`` rows count all images of the setting. An axis left out of the prompt
    counts under :data:`NONE_VALUE`; a slot the prompt does not use is not counted.

    Parameters
    ----------
    manifest
        One row per image (``image_id``, ``setting`` and the slot columns).
    labels
        Tidy labels.
    columns
        Slot and axis columns of the suite.
    axes
        Which of ``columns`` are counterfactual axes.

    Returns
    -------
    pandas.DataFrame
        ``[setting, slot, slot_value, labeler, attribute, value, n]``; adding the tables of
        several shards (sum of ``n`` per key) gives the table of their union.

    Examples
    --------
    >>> m = pd.DataFrame({"image_id": ["a", "b"], "setting": "default", "job": ["x", "y"]})
    >>> lab = pd.DataFrame({"image_id": ["a", "b"], "labeler": "t", "attribute": "g", "value": ["f", "f"]})
    >>> shard_counts(m, lab, columns=["job"]).values.tolist()[0]
    ['default', '*', 'all', 't', 'g', 'f', 2]
    """
    keys = ["setting", "slot", "slot_value", "labeler", "attribute", "value"]
    joined = manifest[["image_id", "setting", *columns]].merge(
        labels[["image_id", "labeler", "attribute", "value"]], on="image_id", how="inner")
    parts = [joined.assign(slot="*", slot_value="all")]
    for col in columns:
        values = joined[col]
        if col in axes:
            values = values.where(values.notna(), NONE_VALUE)
        parts.append(joined.assign(slot=col, slot_value=values)[values.notna()])
    stacked = pd.concat(parts, ignore_index=True)
    stacked["value"] = stacked["value"].astype(str)
    counts = stacked.groupby(keys, sort=True).size().rename("n").astype("int64").reset_index()
    return counts


def run_shard(job: ShardJob) -> pd.DataFrame:
    """Generate, store, label and commit one shard; return its counts.

    A shard already committed is not run again (its counts are read back).

    Parameters
    ----------
    job
        The shard and the models.

    Returns
    -------
    pandas.DataFrame
        The shard's counts (see :func:`shard_counts`).

    Examples
    --------
    >>> import tempfile
    >>> from probes.suite import load_builtin
    >>> from probes.expand import expand_samples
    >>> from generator.adapters.base import Settings
    >>> from generator.adapters.tiny import save_tiny_stable_diffusion
    >>> from generator.adapters.diffusers_adapter import DiffusersAdapter
    >>> from audit.run.execute import plan_shards
    >>> shard = plan_shards(expand_samples(load_builtin("activities"), samples=1), settings=[Settings()])[0]
    >>> run_dir = tempfile.mkdtemp()
    >>> gen = DiffusersAdapter(save_tiny_stable_diffusion(tempfile.mkdtemp()), steps=1)
    >>> job = ShardJob(run_dir=run_dir, shard=shard, generator=gen, generator_key="g", labelers=[],
    ...                labelers_key="", columns=["activity"])
    >>> _ = run_shard(job); is_committed(run_dir, shard.id)
    True
    """
    final = shard_dir(job.run_dir, job.shard.id)
    if is_committed(job.run_dir, job.shard.id):
        return pd.read_parquet(final / "counts.parquet")
    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    generator = _reuse("generator", job.generator_key, job.generator)
    labelers = _reuse("labelers", job.labelers_key, job.labelers)
    bind = getattr(generator, "bind_run", None)  # HTTP / images adapters commit each answer under RUN_DIR/requests
    if callable(bind):
        bind(job.run_dir)
    rows = job.shard.rows
    ids, paths, outcomes, label_frames, effective = [], [], [], [], None
    for part in _batches(len(rows), job.batch_size):
        batch = rows.iloc[part]
        images = generator.generate(batch.prompt.tolist(), seeds=[int(s) for s in batch.seed],
                                    settings=job.shard.setting)
        stored = [put_image(job.run_dir, png_bytes(im)) for im in images]
        if job.progress:
            job.progress("generate", len(images))
        if effective is None:
            effective = effective_settings(generator, job.shard.setting, images)
        batch_ids = [i for i, _ in stored]
        ids += batch_ids
        paths += [p for _, p in stored]
        found = [image_outcome(im) for im in images]
        outcomes += found
        kept = [k for k, o in enumerate(found) if not o["filtered"]]
        label_frames.append(_label(labelers, [images[k] for k in kept], [batch_ids[k] for k in kept]))
        label_frames.append(_filtered_labels(labelers, [(batch_ids[k], o) for k, o in enumerate(found)
                                                        if o["filtered"]]))
        if job.progress:
            job.progress("label", len(images))
    manifest = rows.assign(image_id=ids, path=paths, **{k: [o[k] for o in outcomes] for k in OUTCOME_KEYS})
    manifest = manifest[MANIFEST_BASE + list(OUTCOME_KEYS) + list(job.columns)].reset_index(drop=True)
    labels = pd.concat(label_frames, ignore_index=True).drop_duplicates(LABEL_KEYS).reset_index(drop=True)
    counts = shard_counts(manifest, labels, columns=job.columns, axes=job.axes)
    tmp = final.with_name(f".tmp-{uuid.uuid4().hex}-{final.name}")
    tmp.mkdir(parents=True)
    write_parquet_atomic(tmp / "manifest.parquet", manifest)
    write_parquet_atomic(tmp / "labels.parquet", labels)
    write_parquet_atomic(tmp / "counts.parquet", counts)
    write_json_atomic(tmp / "effective.json", {"setting": job.shard.setting.label, "values": effective})
    try:
        os.rename(tmp, final)  # the commit
    except OSError:  # committed meanwhile by another attempt of the same shard
        shutil.rmtree(tmp, ignore_errors=True)
        return pd.read_parquet(final / "counts.parquet")
    return counts
