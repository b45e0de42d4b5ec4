"""Build a world dataset: img2dataset-style webdataset shards, LAION parquet, ground-truth sidecar.

Layout of ``OUT``::

    00000.tar, 00000.parquet, 00000_stats.json, ...   the dataset (what an auditor sees)
    truth/00000.parquet, ...                           per-shard ground truth
    ground_truth.parquet                               every true attribute (the sidecar)
    world_spec.yaml, build.json                        what was built, from what

Images are PNG (lossless) unless ``jpeg_quality=(lo, hi)`` is given: then each
image is stored as ``KEY.jpg``, JPEG-encoded at a quality drawn uniformly from
``lo..hi`` (like web images recompressed by their hosts). The people, captions
and nuisances are the same as the PNG build of the same seed (the qualities come
from a separate generator), and ``ground_truth.parquet`` gains ``jpeg_quality``
(0: PNG).

``build.json`` is written last: a folder without it (``build.partial.json``
instead) is a build in progress or a killed one, which the dataset audit
refuses and the same command resumes. The folder is locked while a build
writes it.

Each shard draws from its own generator seeded by ``(seed, shard)``, so the
bytes do not depend on the number of worker processes, and an interrupted build
resumes by skipping shards already complete.

Examples
--------
>>> import tempfile
>>> out = build_world(n=20, out=tempfile.mkdtemp(), seed=0, shard_size=10, workers=1, progress=False)
>>> len(out.truth)
20
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from audit.outdir import locked_output
from audit.files import atomic_write_bytes
from audit.shards import BUILD_IN_PROGRESS, ShardWriter, clean_partial, shard_name
from generator.world.captions import write_captions
from generator.world.render import render_batch, sample_nuisance
from generator.world.spec import WorldSpec, load_spec, sample_attributes
from generator.world.vocab import UNSAFE_PROPS, skin_group

__all__ = ["build_world", "BuiltWorld", "encode_png", "encode_jpeg", "render_shard", "jpeg_qualities"]

_RENDER_CHUNK = 512


@dataclass
class BuiltWorld:
    """Where a build went and its ground truth."""

    out: Path
    truth: pd.DataFrame
    shards: int


def encode_png(img: np.ndarray) -> bytes:
    """Encode one uint8 RGB image as PNG (deterministic bytes).

    Examples
    --------
    >>> encode_png(np.zeros((2, 2, 3), np.uint8))[:4]
    b'\\x89PNG'
    """
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """Encode one uint8 RGB image as baseline JPEG at ``quality`` (1-95; deterministic bytes).

    Examples
    --------
    >>> encode_jpeg(np.zeros((8, 8, 3), np.uint8), 50)[:2]
    b'\\xff\\xd8'
    """
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def jpeg_qualities(seed: int, shard: int, count: int, quality: tuple[int, int] | None) -> np.ndarray:
    """Per-image JPEG quality of one shard (0 for PNG), from a generator of its own.

    Seeded by ``(seed, shard, 1)``: the people of a shard do not change with the codec.

    Examples
    --------
    >>> jpeg_qualities(0, 0, 3, None).tolist()
    [0, 0, 0]
    >>> bool(((q := jpeg_qualities(0, 0, 100, (30, 90))) >= 30).all() and (q <= 90).all())
    True
    """
    if quality is None:
        return np.zeros(count, dtype=np.int64)
    lo, hi = quality
    return np.random.default_rng([seed, shard, 1]).integers(lo, hi + 1, count)


def render_shard(spec: WorldSpec, *, seed: int, shard: int, count: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Sample, caption and render the people of one shard (pure function of its arguments).

    Examples
    --------
    >>> truth, images = render_shard(load_spec(), seed=0, shard=0, count=3)
    >>> images.shape, list(truth.key)
    ((3, 64, 64, 3), ['000000000', '000000001', '000000002'])
    """
    rng = np.random.default_rng([seed, shard])
    attrs = sample_attributes(spec, n=count, rng=rng)
    attrs = pd.concat([attrs, sample_nuisance(count, rng=rng, age_groups=attrs["age_group"].to_numpy())], axis=1)
    caps = write_captions(attrs, spec=spec, rng=rng)
    images = np.concatenate([render_batch(attrs.iloc[i:i + _RENDER_CHUNK], rng=rng)
                             for i in range(0, count, _RENDER_CHUNK)]) if count else np.zeros((0, 64, 64, 3), np.uint8)
    keys = [f"{shard:05d}{i:04d}" for i in range(count)]
    truth = pd.concat([pd.DataFrame({"key": keys}), attrs, caps], axis=1)
    truth["skin_group"] = [skin_group(t) for t in truth["skin_tone"]]
    truth["unsafe_prop"] = np.where(truth["unsafe"], np.array(UNSAFE_PROPS, dtype=object)[truth["unsafe_prop"].to_numpy()], None)
    return truth, images


def _write_shard(args: tuple) -> int:
    spec_path, out, seed, shard, count, jpeg = args
    spec = load_spec(spec_path)
    truth, images = render_shard(spec, seed=seed, shard=shard, count=count)
    quality = jpeg_qualities(seed, shard, count, jpeg)
    if jpeg is not None:
        truth["jpeg_quality"] = quality
    ext = "png" if jpeg is None else "jpg"
    out = Path(out)
    with ShardWriter(out, shard) as w:
        for i, row in enumerate(truth.itertuples(index=False)):
            data = encode_png(images[i]) if jpeg is None else encode_jpeg(images[i], int(quality[i]))
            meta = {
                "SAMPLE_ID": int(row.key), "URL": f"world://{spec.name}/{seed}/{row.key}.{ext}", "TEXT": row.TEXT,
                "WIDTH": 64, "HEIGHT": 64, "NSFW": row.NSFW, "similarity": float(row.similarity),
                "LICENSE": "CC0 (synthetic)", "status": "success",
            }
            w.add(row.key, {ext: data, "txt": row.TEXT.encode("utf-8")}, meta)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(truth, preserve_index=False), sink, compression="zstd")
    (out / "truth").mkdir(exist_ok=True)
    atomic_write_bytes(out / "truth" / f"{shard_name(shard)}.parquet", sink.getvalue().to_pybytes())
    return count


def build_world(
    *, n: int, out: str | Path, seed: int = 0, spec_path: str | Path | None = None,
    shard_size: int = 1000, workers: int | None = None, progress: bool = True,
    jpeg_quality: tuple[int, int] | None = None,
) -> BuiltWorld:
    """Render ``n`` people into a LAION-style dataset under ``out``.

    Parameters
    ----------
    n
        Number of samples.
    out
        Output folder (created; an interrupted build there is resumed).
    seed
        Same seed, same bytes.
    spec_path
        World spec YAML (default ``data/world.yaml``).
    shard_size
        Samples per ``.tar`` shard.
    workers
        Processes (default: CPU count).
    progress
        Show a progress bar.
    jpeg_quality
        ``(lo, hi)``: store JPEG images at a quality drawn uniformly from ``lo..hi``
        (1 <= lo <= hi <= 95) instead of PNG; the default None keeps PNG.

    Returns
    -------
    BuiltWorld

    Examples
    --------
    >>> import tempfile
    >>> build_world(n=5, out=tempfile.mkdtemp(), shard_size=5, workers=1, progress=False).shards
    1
    """
    if n <= 0:
        raise ValueError(f"--n must be a positive number of samples, got {n}")
    if shard_size <= 0 or shard_size > 10000:
        raise ValueError(f"--shard-size must be in 1..10000 (keys hold 4 digits per shard), got {shard_size}")
    if jpeg_quality is not None:
        jpeg_quality = (int(jpeg_quality[0]), int(jpeg_quality[1]))
        if not 1 <= jpeg_quality[0] <= jpeg_quality[1] <= 95:
            raise ValueError(f"--jpeg-quality {jpeg_quality[0]} {jpeg_quality[1]}: need 1 <= LO <= HI <= 95 "
                             "(fix: e.g. --jpeg-quality 30 90)")
    spec_file = Path(spec_path) if spec_path is not None else None
    spec = load_spec(spec_file)  # validate before any work
    out = Path(out)
    with locked_output(out, command="another world build"):
        return _build_into(out, spec=spec, n=n, seed=seed, shard_size=shard_size, workers=workers,
                           progress=progress, jpeg_quality=jpeg_quality)


def _build_into(out: Path, *, spec: WorldSpec, n: int, seed: int, shard_size: int, workers: int | None,
                progress: bool, jpeg_quality: tuple[int, int] | None = None) -> BuiltWorld:
    from tqdm import tqdm

    build_info = {"n": n, "seed": seed, "shard_size": shard_size, "spec": spec.name,
                  "spec_sha256": hashlib.sha256(Path(spec.source).read_bytes()).hexdigest(), "format": "webdataset+laion-parquet"}
    if jpeg_quality is not None:  # PNG builds keep their build.json unchanged (resumable across versions)
        build_info["jpeg_quality"] = list(jpeg_quality)
    info_path, partial_path = out / "build.json", out / BUILD_IN_PROGRESS
    for old_path in (info_path, partial_path):
        if old_path.exists():
            old = json.loads(old_path.read_text())
            same = {k: old.get(k) for k in build_info} == build_info and old.get("jpeg_quality") == build_info.get(
                "jpeg_quality")
            if not same:
                raise ValueError(f"{out} holds a different build ({old_path}); choose a new --out or delete it")
    # build.json is the completion marker, written last; until then the folder says it is in progress
    atomic_write_bytes(partial_path, json.dumps(build_info, indent=2).encode())
    info_path.unlink(missing_ok=True)
    clean_partial(out)
    if (out / "truth").exists():
        for p in (out / "truth").glob("*.tmp"):
            p.unlink()
    counts = [min(shard_size, n - s * shard_size) for s in range((n + shard_size - 1) // shard_size)]
    done = {s for s in range(len(counts))
            if (out / f"{shard_name(s)}.parquet").exists() and (out / "truth" / f"{shard_name(s)}.parquet").exists()}
    todo = [(spec.source, str(out), seed, s, c, jpeg_quality) for s, c in enumerate(counts) if s not in done]
    atomic_write_bytes(out / "world_spec.yaml", Path(spec.source).read_bytes())
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=n, initial=sum(counts[s] for s in done), unit="img", desc="world build", disable=not progress)
    if workers == 1 or len(todo) <= 1:
        for job in todo:
            bar.update(_write_shard(job))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for count in pool.map(_write_shard, todo):
                bar.update(count)
    bar.close()
    truth = pd.concat([pd.read_parquet(out / "truth" / f"{shard_name(s)}.parquet") for s in range(len(counts))],
                      ignore_index=True)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(truth, preserve_index=False), sink, compression="zstd")
    atomic_write_bytes(out / "ground_truth.parquet", sink.getvalue().to_pybytes())
    atomic_write_bytes(info_path, json.dumps(build_info, indent=2).encode())
    partial_path.unlink(missing_ok=True)
    return BuiltWorld(out=out, truth=truth, shards=len(counts))

