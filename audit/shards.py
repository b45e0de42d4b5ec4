"""The LAION / img2dataset webdataset format: shard layout, column names and the shard writer.

The format has three small modules, none importing anything else from the project:
this one (layout, :data:`LAION_COLUMNS`, :class:`ShardWriter`), :mod:`audit.tarread`
(:func:`iter_tar_samples`, :class:`ReadStats`) and :mod:`audit.files`
(:func:`atomic_write_bytes`); the reader's and the writer's names are re-exported here.

Layout (img2dataset ``webdataset`` output)::

    OUT/00000.tar          KEY.png | KEY.jpg, KEY.txt (caption), KEY.json (metadata)
    OUT/00000.parquet      one row per sample: key, TEXT, WIDTH, HEIGHT, ... (LAION columns)
    OUT/00000_stats.json   counts for the shard

Writes are atomic: a shard's files are written to ``*.tmp`` and renamed, the
parquet last, so a shard whose parquet exists is complete. Reads never extract
anything to disk; unsafe member names (absolute, ``..``) and corrupt or
truncated archives are skipped and counted, never raised.

These modules depend on nothing else in the project and import no torch.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with ShardWriter(d, 0) as w:
...     w.add("000000000", {"txt": b"a nurse"}, {"TEXT": "a nurse"})
>>> [s.key for s in iter_tar_samples(d / "00000.tar")]
['000000000']
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# the reader and the atomic writer live in their own modules; re-exported here, where callers found them
from audit.files import atomic_write_bytes, output_mode
from audit.tarread import SAMPLE_SKIPS, ReadStats, TarSample, iter_tar_samples

__all__ = [
    "ShardWriter",
    "TarSample",
    "ReadStats",
    "iter_tar_samples",
    "complete_shards",
    "shard_name",
    "clean_partial",
    "atomic_write_bytes",
    "normalize_columns",
    "LAION_COLUMNS",
    "SAMPLE_SKIPS",
    "BUILD_IN_PROGRESS",
    "output_mode",
]

SHARD_DIGITS = 5
#: Marker of a dataset folder whose build has started and not finished (the finished one writes
#: ``build.json`` last and removes this).
BUILD_IN_PROGRESS = "build.partial.json"

#: Canonical column names and the spellings that map to them (matched case-insensitively).
LAION_COLUMNS: dict[str, tuple[str, ...]] = {
    "key": ("key", "sample_id", "id"),
    "text": ("text", "caption", "alt", "alt_text"),
    "url": ("url",),
    "width": ("width",),
    "height": ("height",),
    "similarity": ("similarity", "clip_similarity"),
    "nsfw": ("nsfw",),
    "punsafe": ("punsafe",),
    "pwatermark": ("pwatermark",),
    "license": ("license",),
}


def shard_name(index: int) -> str:
    """Return the zero-padded shard stem, e.g. ``00012``.

    Examples
    --------
    >>> shard_name(12)
    '00012'
    """
    return f"{index:0{SHARD_DIGITS}d}"


def clean_partial(out_dir: Path) -> int:
    """Remove leftovers of interrupted writes (``*.tmp``) and shards without parquet.

    Returns
    -------
    int
        The number of files removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "00000.tar.tmp").write_bytes(b"")
    0
    >>> clean_partial(d)
    1
    """
    out_dir = Path(out_dir)
    removed = 0
    for p in out_dir.glob(".*.tmp"):
        p.unlink()
        removed += 1
    for p in out_dir.glob("*.tmp"):
        p.unlink()
        removed += 1
    for tar in out_dir.glob("*.tar"):
        if not tar.with_suffix(".parquet").exists():
            tar.unlink()
            removed += 1
    return removed


def complete_shards(out_dir: Path) -> list[int]:
    """Indices of shards whose tar and parquet both exist (i.e. finished writing).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> complete_shards(pathlib.Path(tempfile.mkdtemp()))
    []
    """
    out = []
    for pq_path in sorted(Path(out_dir).glob("[0-9]" * SHARD_DIGITS + ".parquet")):
        if pq_path.with_suffix(".tar").exists():
            out.append(int(pq_path.stem))
    return out


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0  # same seed, same bytes
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class ShardWriter:
    """Write one webdataset shard and its LAION-style parquet, atomically.

    Parameters
    ----------
    out_dir
        Folder of the dataset.
    index
        Shard number; files are named ``{index:05d}.tar`` etc.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> w = ShardWriter(d, 3)
    >>> w.add("k", {"txt": b"hi"}, {"TEXT": "hi"})
    >>> w.close()
    >>> sorted(p.name for p in d.iterdir())
    ['00003.parquet', '00003.tar', '00003_stats.json']
    """

    def __init__(self, out_dir: Path, index: int) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.index = index
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=tarfile.USTAR_FORMAT)
        self._rows: list[dict[str, Any]] = []
        self._closed = False

    def add(self, key: str, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> None:
        """Add a sample: ``files`` maps extension (``png``, ``txt``) to bytes.

        ``meta`` becomes the parquet row and the ``KEY.json`` member.
        """
        if self._closed:
            raise RuntimeError("ShardWriter is closed")
        if "/" in key or key.startswith("."):
            raise ValueError(f"sample key {key!r} must be a plain name without '/' or leading '.'")
        row = {"key": key, **meta}
        for ext, data in files.items():
            self._tar.addfile(_tar_info(f"{key}.{ext}", len(data)), io.BytesIO(data))
        js = json.dumps(row, sort_keys=True, default=str).encode()
        self._tar.addfile(_tar_info(f"{key}.json", len(js)), io.BytesIO(js))
        self._rows.append(row)

    def close(self) -> None:
        """Finish the shard: tar, stats, then parquet (the completion marker)."""
        if self._closed:
            return
        self._tar.close()
        stem = self.out_dir / shard_name(self.index)
        atomic_write_bytes(stem.with_suffix(".tar"), self._buf.getvalue())
        stats = {"count": len(self._rows), "successes": len(self._rows), "failed_to_download": 0}
        atomic_write_bytes(self.out_dir / f"{shard_name(self.index)}_stats.json", json.dumps(stats).encode())
        table = pa.Table.from_pylist(self._rows)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        atomic_write_bytes(stem.with_suffix(".parquet"), sink.getvalue().to_pybytes())
        self._closed = True

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # never leave a shard that looks complete
            self._tar.close()
            self._closed = True


def normalize_columns(names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Map a parquet's column names to canonical LAION names.

    Returns
    -------
    mapping : dict
        ``{actual_name: canonical_name}`` for recognised columns (first match wins).
    missing : list of str
        Canonical names that have no column.

    Examples
    --------
    >>> m, missing = normalize_columns(["URL", "TEXT", "NSFW"])
    >>> m["TEXT"], "similarity" in missing
    ('text', True)
    """
    names = list(names)
    lower = {}
    for n in names:
        lower.setdefault(str(n).lower(), n)
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for canon, spellings in LAION_COLUMNS.items():
        hit = next((lower[s] for s in spellings if s in lower), None)
        if hit is None:
            missing.append(canon)
        elif hit not in mapping:
            mapping[hit] = canon
    return mapping, missing
