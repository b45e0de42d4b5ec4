"""Reading img2dataset / webdataset tars: samples grouped by key, never extracted, damage counted.

:func:`iter_tar_samples` streams a shard's samples; unsafe member names,
non-files, oversized members, duplicate keys and a corrupt or truncated
archive are recorded in a :class:`ReadStats` (counts by reason, example
messages) and skipped, never raised. The writer side of the format is
:mod:`audit.shards`. This module imports nothing from the project.

Examples
--------
>>> import tempfile, pathlib
>>> from audit.shards import ShardWriter
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with ShardWriter(d, 0) as w:
...     w.add("000000000", {"txt": b"a nurse"}, {"TEXT": "a nurse"})
>>> [s.files["txt"] for s in iter_tar_samples(d / "00000.tar")]
[b'a nurse']
"""

from __future__ import annotations

import lzma
import os
import posixpath
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TarSample", "ReadStats", "iter_tar_samples", "SAMPLE_SKIPS"]


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
    >>> from audit.shards import ShardWriter
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
