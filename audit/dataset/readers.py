"""Stream a dataset's text tasks as Arrow batches with canonical column names.

:func:`iter_task_batches` reads one :class:`~audit.dataset.sources.TextTask`:
a parquet file's row groups (only the columns the text audit uses, row groups
read together in chunks of about ``batch_size`` rows, a failing chunk re-read
group by group), a tar's ``.txt`` members, or a list of caption files.
Problems are collected in a :class:`~audit.shards.ReadStats`, never raised.

A parquet caption column whose pages are all dictionary-encoded and hold few
bytes per row (:data:`DICTIONARY_BYTES_PER_ROW`: the captions repeat) is read
as an Arrow dictionary, so the counter works once per distinct caption
(:mod:`audit.dataset.textstats`).

Examples
--------
>>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
>>> from audit.dataset.sources import detect
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> pq.write_table(pa.table({"Caption": ["x", "y"]}), d / "a.parquet")
>>> [b.column("text").to_pylist() for b, _ in iter_task_batches(detect(d).tasks[0])]
[['x', 'y']]
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from audit.shards import normalize_columns
from audit.tarread import ReadStats, SAMPLE_SKIPS, iter_tar_samples

if TYPE_CHECKING:
    from audit.dataset.sources import TextTask

__all__ = ["iter_task_batches", "TEXT_COLUMNS", "MAX_CAPTION_BYTES", "BATCH_BYTES", "DICTIONARY_BYTES_PER_ROW"]

#: Canonical columns the text audit reads (others are ignored).
TEXT_COLUMNS = ("key", "text", "nsfw", "punsafe")
#: A caption column stored in at most this many uncompressed bytes per row (dictionary
#: page included) is read as a dictionary: its distinct captions are few.
DICTIONARY_BYTES_PER_ROW = 8
#: Rows per batch are multiplied by this when the caption column is read as a dictionary.
DICTIONARY_BATCH_FACTOR = 8


def _canonical(batch: pa.RecordBatch, mapping: dict[str, str]) -> pa.RecordBatch:
    cols = [(mapping[n], batch.column(i)) for i, n in enumerate(batch.schema.names) if n in mapping]
    return pa.RecordBatch.from_arrays([c for _, c in cols], names=[n for n, _ in cols]) if cols else \
        pa.RecordBatch.from_pydict({"__rows__": pa.nulls(batch.num_rows)})


def iter_task_batches(task: TextTask, *, batch_size: int = 131_072, problems: ReadStats | None = None
                      ) -> Iterator[tuple[pa.RecordBatch, str]]:
    """Stream a task as ``(batch, source file)`` with canonical column names.

    Parameters
    ----------
    task
        From :func:`detect`.
    batch_size
        Rows per Arrow batch (bounds memory).
    problems
        Collects skipped files and members (``unreadable_file``, ``no_text_column``,
        ``corrupt_tar``, ``unsafe_member_name``, ``unreadable_caption_file``...).

    Examples
    --------
    >>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
    >>> from audit.dataset.sources import detect
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> pq.write_table(pa.table({"Caption": ["x", "y"]}), d / "a.parquet")
    >>> [b.column("text").to_pylist() for b, _ in iter_task_batches(detect(d).tasks[0])]
    [['x', 'y']]
    """
    problems = problems if problems is not None else ReadStats()
    if task.kind == "parquet":
        yield from _parquet_batches(task, batch_size=batch_size, problems=problems)
    elif task.kind == "tar":
        yield from _tar_batches(task, batch_size=batch_size, problems=problems)
    else:
        yield from _caption_file_batches(task, batch_size=batch_size, problems=problems)


def _parquet_batches(task: TextTask, *, batch_size: int, problems: ReadStats) -> Iterator[tuple[pa.RecordBatch, str]]:
    src = task.path
    try:
        pf = pq.ParquetFile(src)
    except (OSError, pa.ArrowException) as exc:
        problems.skip("unreadable_file", f"{src}: {type(exc).__name__}: {exc}")
        return
    mapping, _ = normalize_columns(pf.schema_arrow.names)
    if "text" not in mapping.values():
        problems.skip("no_text_column", f"{src}: no caption column among {pf.schema_arrow.names} "
                      "(fix: name it TEXT, caption or alt)")
    wanted = [a for a, c in mapping.items() if c in TEXT_COLUMNS]
    schema = pf.schema_arrow
    groups = list(range(pf.metadata.num_row_groups) if task.row_groups is None else task.row_groups)
    # the few-valued NSFW tag is read as a dictionary (flags are decided per value), and so are
    # captions stored as a small dictionary (tagged once per distinct caption)
    tags = [a for a, c in mapping.items() if c == "nsfw" and pa.types.is_string(schema.field(a).type)]
    few = [a for a, c in mapping.items() if c == "text" and _few_distinct(pf, a, groups)]
    tags += few
    if few or any(c == "text" and pa.types.is_dictionary(schema.field(a).type) for a, c in mapping.items()):
        # a dictionary caption column costs a few bytes per row: read bigger batches (fewer fixed costs)
        batch_size *= DICTIONARY_BATCH_FACTOR
    if tags:
        try:
            pf = pq.ParquetFile(src, read_dictionary=tags)
        except (OSError, pa.ArrowException) as exc:
            problems.skip("unreadable_file", f"{src}: {type(exc).__name__}: {exc}")
            return
    if not wanted:  # no column the audit reads: every row counts as a null caption
        total = sum(pf.metadata.row_group(g).num_rows for g in groups)
        for start in range(0, total, batch_size):
            yield pa.RecordBatch.from_pydict({"__rows__": pa.nulls(min(batch_size, total - start))}), src
        return
    # row groups are read together in chunks of about batch_size rows: one reader call per chunk, not
    # per row group (20,000 one-row groups read as one batch); a chunk that fails is re-read group by group
    chunk: list[int] = []
    rows = 0
    for i, g in enumerate(groups):
        chunk.append(g)
        rows += pf.metadata.row_group(g).num_rows
        if rows >= batch_size or i == len(groups) - 1:
            yield from _read_chunk(pf, chunk, wanted=wanted, mapping=mapping, batch_size=batch_size, src=src,
                                   problems=problems)
            chunk, rows = [], 0


def _few_distinct(pf: pq.ParquetFile, name: str, groups: list[int]) -> bool:
    """Is column ``name`` a string column stored in every row group as a small dictionary?

    Dictionary-encoded pages hold only small indices, so a column chunk of at most
    :data:`DICTIONARY_BYTES_PER_ROW` uncompressed bytes per row (its dictionary page
    included) has few distinct values; reading it as a dictionary then costs less
    than materialising every caption. Anything unexpected in the footer answers no.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.parquet"
    >>> pq.write_table(pa.table({"TEXT": ["a photo of a nurse"] * 1000}), p)
    >>> _few_distinct(pq.ParquetFile(p), "TEXT", [0])
    True
    """
    try:
        field = pf.schema_arrow.field(name)
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            return False
        index = pf.schema_arrow.get_field_index(name)
        if not groups:
            return False
        for g in groups:
            rg = pf.metadata.row_group(g)
            col = rg.column(index)
            if not col.has_dictionary_page or rg.num_rows == 0:
                return False
            if col.total_uncompressed_size > DICTIONARY_BYTES_PER_ROW * rg.num_rows:
                return False
        return True
    except (KeyError, IndexError, ValueError, OSError, pa.ArrowException):
        return False


def _coalesce(batches: Iterator[pa.RecordBatch], *, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Join small batches (one per row group when a column is read as a dictionary) up to ``batch_size`` rows."""
    buf: list[pa.RecordBatch] = []
    rows = 0
    for b in batches:
        if b.num_rows >= batch_size and not buf:
            yield b
            continue
        buf.append(b)
        rows += b.num_rows
        if rows >= batch_size:
            yield from _join(buf)
            buf, rows = [], 0
    if buf:
        yield from _join(buf)


def _join(buf: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    if len(buf) == 1:
        return buf
    return pa.Table.from_batches(buf).unify_dictionaries().combine_chunks().to_batches()


def _read_chunk(pf: pq.ParquetFile, chunk: list[int], *, wanted: list[str], mapping: dict[str, str],
                batch_size: int, src: str, problems: ReadStats) -> Iterator[tuple[pa.RecordBatch, str]]:
    done = 0
    try:
        for batch in _coalesce(pf.iter_batches(batch_size=batch_size, row_groups=chunk, columns=wanted,
                                               use_threads=False), batch_size=batch_size):
            done += batch.num_rows
            yield _canonical(batch, mapping), src
        return
    except (OSError, pa.ArrowException):
        pass
    start = 0  # re-read group by group, past the rows already yielded
    for g in chunk:
        n = pf.metadata.row_group(g).num_rows
        skip = min(max(done - start, 0), n)
        start += n
        if skip == n:
            continue
        try:
            t = pf.read_row_group(g, columns=wanted, use_threads=False)
        except (OSError, pa.ArrowException) as exc:
            problems.skip_rows("unreadable_row_group", n - skip, f"{src}: row group {g}: {type(exc).__name__}: {exc}")
            continue
        for batch in t.slice(skip).to_batches(max_chunksize=batch_size):
            yield _canonical(batch, mapping), src


#: Bytes of a caption file or tar caption member that are read; the rest is not read (``caption_truncated``).
MAX_CAPTION_BYTES = 1 << 20
#: Caption bytes gathered into one batch before it is handed on (bounds memory with huge captions).
BATCH_BYTES = 32 << 20


def _rows_to_batch(keys: list[str], texts: list) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"key": pa.array(keys, pa.string()), "text": pa.array(texts, pa.binary())})


def _cut_caption(data: bytes, problems: ReadStats, where: str) -> bytes:
    """Keep the first :data:`MAX_CAPTION_BYTES` bytes, ending on a whole UTF-8 character."""
    if len(data) <= MAX_CAPTION_BYTES:
        return data
    problems.skip("caption_truncated", f"{where}: {len(data):,} bytes, first {MAX_CAPTION_BYTES:,} read")
    cut = MAX_CAPTION_BYTES
    while cut > MAX_CAPTION_BYTES - 4 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return data[:cut]


def _tar_batches(task: TextTask, *, batch_size: int, problems: ReadStats) -> Iterator[tuple[pa.RecordBatch, str]]:
    keys: list[str] = []
    texts: list = []
    size = 0
    stats = ReadStats()
    try:
        for sample in iter_tar_samples(Path(task.path), stats=stats):
            text = sample.files.get("txt")
            if text is not None:
                text = _cut_caption(text, problems, f"{task.path}:{sample.key}.txt")
                size += len(text)
            keys.append(sample.key)
            texts.append(text)
            if len(keys) >= batch_size or size >= BATCH_BYTES:
                yield _rows_to_batch(keys, texts), task.path
                keys, texts, size = [], [], 0
        if keys:
            yield _rows_to_batch(keys, texts), task.path
    finally:
        for reason, k in stats.skipped.items():
            problems.skipped[reason] = problems.skipped.get(reason, 0) + k
            if reason in SAMPLE_SKIPS:  # whole samples read but not passed on
                problems.rows_skipped[reason] = problems.rows_skipped.get(reason, 0) + k
        problems.errors = (problems.errors + stats.errors)[:50]


def _caption_file_batches(task: TextTask, *, batch_size: int, problems: ReadStats
                          ) -> Iterator[tuple[pa.RecordBatch, str]]:
    keys: list[str] = []
    texts: list = []
    size = 0
    for f in task.files:
        try:
            with open(f, "rb") as fh:
                data = fh.read(MAX_CAPTION_BYTES + 4)
                if len(data) > MAX_CAPTION_BYTES:
                    total = os.fstat(fh.fileno()).st_size
                    problems.skip("caption_truncated", f"{f}: {total:,} bytes, first {MAX_CAPTION_BYTES:,} read")
                    cut = MAX_CAPTION_BYTES
                    while cut > MAX_CAPTION_BYTES - 4 and (data[cut] & 0xC0) == 0x80:
                        cut -= 1
                    data = data[:cut]
        except OSError as exc:
            problems.skip_rows("unreadable_caption_file", 1, f"{f}: {exc}")
            continue
        keys.append(Path(f).stem)
        texts.append(data)
        size += len(data)
        if len(keys) >= batch_size or size >= BATCH_BYTES:
            yield _rows_to_batch(keys, texts), task.path
            keys, texts, size = [], [], 0
    if keys:
        yield _rows_to_batch(keys, texts), task.path
