"""The LAION / img2dataset webdataset format: the one module that reads and writes it.

Layout (img2dataset ``webdataset`` output)::

    OUT/00000.tar          KEY.png | KEY.jpg, KEY.txt (caption), KEY.json (metadata)
    OUT/00000.parquet      one row per sample: key, TEXT, WIDTH, HEIGHT, ... (LAION columns)
    OUT/00000_stats.json   counts for the shard

Writes are atomic: a shard's files are written to ``*.tmp`` and renamed, the
parquet last, so a shard whose parquet exists is complete. Reads never extract
anything to disk; unsafe member names (absolute, ``..``) and corrupt or
truncated archives are skipped and counted, never raised.

This module depends on nothing else in the project and imports no torch.

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
import lzma
import os
import posixpath
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

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


def output_mode() -> int:
    """Mode of a new output file: ``0o666`` less the process umask (what ``open()`` would give).

    Examples
    --------
    >>> old = os.umask(0o022); m = output_mode(); _ = os.umask(old)
    >>> oct(m)
    '0o644'
    """
    try:  # Linux: read the umask without changing it (os.umask is not thread-safe to probe)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a unique temporary sibling (``*.tmp``), fsync and rename.

    Parent folders are created; concurrent writers never share a temporary file.
    Text is written as UTF-8. The file gets the mode ``open()`` would give it
    (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "sub" / "x.bin"
    >>> atomic_write_bytes(p, b"abc"); p.read_bytes()
    b'abc'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, output_mode())  # mkstemp makes 0600; outputs follow the user's umask like open() does
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


@dataclass
class TarSample:
    """One sample of a webdataset shard: its key and member bytes by extension."""

    key: str
    files: dict[str, bytes]
    source: str = ""


@dataclass
class ReadStats:
    """What a read skipped and why (counts by reason, plus examples).

    ``skipped`` counts events (a corrupt archive, a repaired value); ``rows_skipped``
    counts rows or samples that were read but not passed on, so that rows read =
    rows passed on + ``sum(rows_skipped.values())``.

    Examples
    --------
    >>> st = ReadStats(); st.skip("corrupt_tar", "a.tar: cut"); st.skip_rows("unreadable_row_group", 5)
    >>> st.skipped, st.rows_skipped
    ({'corrupt_tar': 1, 'unreadable_row_group': 1}, {'unreadable_row_group': 5})
    """

    samples: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rows_skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, detail: str = "") -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if detail and len(self.errors) < 50:
            self.errors.append(f"{reason}: {detail}")

    def skip_rows(self, reason: str, n: int, detail: str = "") -> None:
        """Record ``n`` rows (or samples) read but not passed on, and the event."""
        self.skip(reason, detail)
        self.rows_skipped[reason] = self.rows_skipped.get(reason, 0) + int(n)

    def merge(self, other: ReadStats) -> ReadStats:
        out = ReadStats(self.samples + other.samples, dict(self.skipped), (self.errors + other.errors)[:50],
                        dict(self.rows_skipped))
        for k, v in other.skipped.items():
            out.skipped[k] = out.skipped.get(k, 0) + v
        for k, v in other.rows_skipped.items():
            out.rows_skipped[k] = out.rows_skipped.get(k, 0) + v
        return out


def _safe_member(name: str) -> bool:
    if not name or name.startswith("/") or "\\" in name:
        return False
    norm = posixpath.normpath(name)
    return not (norm.startswith("..") or "/../" in f"/{name}/" or norm.startswith("/"))


def _split_key(name: str) -> tuple[str, str]:
    """webdataset convention: key is everything before the first dot of the basename."""
    d, base = posixpath.split(name)
    stem, _, ext = base.partition(".")
    return (posixpath.join(d, stem) if d else stem), ext.lower()


#: Sample-level skip reasons (each counts one sample that was read but not yielded).
SAMPLE_SKIPS = ("duplicate_key", "incomplete_sample")


def _end_marker_ok(tf: tarfile.TarFile) -> bool:
    """Whether the archive stops at an end-of-archive zero block (not at a cut or at garbage)."""
    try:
        tf.fileobj.seek(tf.offset)
        block = tf.fileobj.read(tarfile.BLOCKSIZE)
    except (OSError, EOFError, ValueError, tarfile.TarError):
        return False
    return len(block) == tarfile.BLOCKSIZE and not block.strip(b"\0")


def iter_tar_samples(
    path: Path, *, stats: ReadStats | None = None, extensions: Iterable[str] | None = None,
    max_member_bytes: int = 64 * 2**20,
) -> Iterator[TarSample]:
    """Stream the samples of a webdataset tar, grouping members by key.

    Never extracts to disk. Unsafe names, non-files, oversized members and a
    corrupt or truncated archive are recorded in ``stats`` and skipped; the
    complete samples read before the damage are still yielded. Time and memory
    are bounded by the file's real size, whatever its headers claim: a member
    said to extend past the end of the file marks the archive ``corrupt_tar``
    at once, and TarInfo objects are not kept.

    Counted skips (``stats.skipped``):

    ``corrupt_tar`` (once per archive)
        cut, garbage where a header should be, or no end-of-archive block;
    ``incomplete_sample`` (a sample)
        the sample being read when the archive broke (its members may be cut);
    ``duplicate_key`` (a sample)
        a key seen earlier in the same tar: the first sample wins;
    ``duplicate_member`` (a member)
        the same ``KEY.ext`` twice in a row: the first wins;
    ``non_file_member``, ``unsafe_member_name``, ``member_too_large`` (a member).

    ``stats.samples`` counts the samples yielded, so samples read =
    ``stats.samples`` + the sample-level skips (:data:`SAMPLE_SKIPS`).

    Parameters
    ----------
    path
        The ``.tar`` file (plain, or gzip/bzip2/xz compressed).
    stats
        Optional :class:`ReadStats` to record skips in.
    extensions
        Keep only these member extensions (e.g. ``{"png", "txt"}``).
    max_member_bytes
        Members larger than this are skipped as ``member_too_large``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with ShardWriter(d, 0) as w:
    ...     w.add("a", {"txt": b"x"}, {})
    >>> next(iter_tar_samples(d / "00000.tar")).files["txt"]
    b'x'
    >>> _ = (d / "cut.tar").write_bytes((d / "00000.tar").read_bytes()[:1024])
    >>> st = ReadStats(); list(iter_tar_samples(d / "cut.tar", stats=st)), sorted(st.skipped)
    ([], ['corrupt_tar', 'incomplete_sample'])
    """
    stats = stats if stats is not None else ReadStats()
    keep = {e.lower() for e in extensions} if extensions is not None else None
    current_key: str | None = None
    current: dict[str, bytes] = {}
    seen: set[str] = set()
    duplicate = False  # the current key was seen before: its members are skipped
    src = str(path)
    broken = False
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            magic = fh.read(6)
        plain = not (magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or magic == b"\xfd7zXZ\x00")
        with tarfile.open(path, mode="r:*") as tf:
            while True:
                member = tf.next()
                tf.members = []  # TarFile keeps every TarInfo otherwise: unbounded memory
                if member is None:
                    if not _end_marker_ok(tf):
                        raise tarfile.ReadError(f"no end-of-archive block at byte {tf.offset} (cut or corrupt)")
                    break
                if plain and member.offset_data + member.size > size:
                    raise tarfile.ReadError(f"{member.name} claims {member.size} bytes past the end of the file "
                                            f"({size} bytes)")
                if not member.isfile():
                    if not member.isdir():
                        stats.skip("non_file_member", f"{src}:{member.name}")
                    continue
                if not _safe_member(member.name):
                    stats.skip("unsafe_member_name", f"{src}:{member.name}")
                    continue
                if member.size > max_member_bytes:
                    stats.skip("member_too_large", f"{src}:{member.name} ({member.size} bytes)")
                    continue
                key, ext = _split_key(member.name)
                if keep is not None and ext not in keep:
                    continue
                if key != current_key:
                    if current_key is not None and current:
                        stats.samples += 1
                        yield TarSample(current_key, current, src)
                    current_key, current = key, {}
                    duplicate = key in seen
                    if duplicate:
                        stats.skip("duplicate_key", f"{src}:{key} (the first sample with this key is kept)")
                    seen.add(key)
                if duplicate:
                    continue
                if ext in current:
                    stats.skip("duplicate_member", f"{src}:{member.name} (the first is kept)")
                    continue
                fh = tf.extractfile(member)
                data = fh.read() if fh is not None else b""
                if len(data) != member.size:
                    raise tarfile.ReadError(f"{member.name}: {len(data)} of {member.size} bytes")
                current[ext] = data
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error, lzma.LZMAError) as exc:
        stats.skip("corrupt_tar", f"{src}: {type(exc).__name__}: {exc}")
        broken = True
    if current_key is not None and current:
        if broken:  # the sample being read when the archive broke may be cut: never count it
            stats.skip("incomplete_sample", f"{src}:{current_key}")
        else:
            stats.samples += 1
            yield TarSample(current_key, current, src)


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
