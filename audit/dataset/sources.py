"""Find what a dataset path holds and cut it into independent text tasks.

Layouts detected (see :func:`detect`):

``laion_parquet``
    a ``.parquet`` file, or a folder of them (LAION metadata parts);
``webdataset``
    img2dataset ``webdataset`` output: ``NNNNN.tar`` (+ ``NNNNN.parquet``);
``files``
    img2dataset ``files`` output: ``NNNNN/KEY.jpg|txt|json`` (+ ``NNNNN.parquet``);
``caption_folder``
    any folder of images with captions beside them (``KEY.jpg`` + ``KEY.txt``).

A :class:`TextTask` is one parquet file's row groups, one tar, or a list of
caption files; :func:`iter_task_batches` streams it as Arrow batches with
canonical column names (``text``, ``nsfw``, ``punsafe``, ...). Problems (a
missing caption column, an unreadable file, a corrupt tar) are recorded on the
task's :class:`~audit.dataset.textstats.TextCounts`, never raised.

Examples
--------
>>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> pq.write_table(pa.table({"TEXT": ["a nurse"]}), d / "part.parquet")
>>> ds = detect(d)
>>> ds.kind, len(ds.tasks)
('laion_parquet', 1)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from audit.errors import UserError
from audit.shards import BUILD_IN_PROGRESS, LAION_COLUMNS, SAMPLE_SKIPS, ReadStats, iter_tar_samples, normalize_columns

__all__ = ["TextTask", "DatasetInput", "detect", "iter_task_batches", "IMAGE_EXTENSIONS", "TEXT_COLUMNS"]

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif")
#: Canonical columns the text audit reads (others are ignored).
TEXT_COLUMNS = ("key", "text", "nsfw", "punsafe")
_SHARD = "[0-9]" * 5


@dataclass(frozen=True)
class TextTask:
    """One independent unit of text work.

    Attributes
    ----------
    kind
        ``"parquet"``, ``"tar"`` or ``"captions"``.
    path
        The parquet or tar file (or the folder for ``captions``).
    row_groups
        Row groups of a parquet file to read (``None``: all).
    files
        Caption files for ``captions`` tasks.
    rows
        Expected rows (for the progress bar; 0 if unknown).
    """

    kind: str
    path: str
    row_groups: tuple[int, ...] | None = None
    files: tuple[str, ...] = ()
    rows: int = 0


@dataclass
class DatasetInput:
    """What :func:`detect` found.

    Attributes
    ----------
    kind
        Layout name (see module docstring).
    root
        The path given.
    tasks
        Text tasks covering every caption once.
    columns
        ``{file: {"mapping": {actual: canonical}, "missing": [...]}}`` per parquet file.
    image_shards, image_files
        Tars or loose image files holding images (for the image side).
    notes
        Human-readable remarks (e.g. a tar without parquet).
    """

    kind: str
    root: str
    tasks: list[TextTask]
    columns: dict[str, dict] = field(default_factory=dict)
    image_shards: list[str] = field(default_factory=list)
    image_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        """Rows announced by parquet footers (0 where unknown)."""
        return sum(t.rows for t in self.tasks)


def _parquet_tasks(path: Path, *, rows_per_task: int, notes: list[str], columns: dict) -> list[TextTask]:
    try:
        meta = pq.ParquetFile(path).metadata
        names = pq.ParquetFile(path).schema_arrow.names
    except (OSError, pa.ArrowException) as exc:
        notes.append(f"{path}: not a readable parquet file ({type(exc).__name__}: {exc}); skipped "
                     "(fix: re-download or delete the file)")
        return [TextTask("parquet", str(path), (), rows=0)]
    _refuse_ambiguous_columns(path, names)
    mapping, missing = normalize_columns(names)
    columns[str(path)] = {"mapping": mapping, "missing": missing}
    tasks, group, n = [], [], 0
    for i in range(meta.num_row_groups):
        group.append(i)
        n += meta.row_group(i).num_rows
        if n >= rows_per_task:
            tasks.append(TextTask("parquet", str(path), tuple(group), rows=n))
            group, n = [], 0
    if group or not tasks:
        tasks.append(TextTask("parquet", str(path), tuple(group), rows=n))
    return tasks


def _refuse_ambiguous_columns(path: Path, names: list[str]) -> None:
    """Raise when a column the audit reads appears twice (same name, any case): which one is meant is unknowable.

    Examples
    --------
    >>> _refuse_ambiguous_columns(Path("a.parquet"), ["TEXT", "URL"])
    >>> _refuse_ambiguous_columns(Path("a.parquet"), ["TEXT", "text"])
    Traceback (most recent call last):
    ...
    audit.errors.UserError: a.parquet: column 'text' appears 2 times (TEXT, text): which one holds the captions is ambiguous (fix: rename or drop the extra columns so each name appears once)
    """
    spellings = {s for canon in TEXT_COLUMNS for s in LAION_COLUMNS[canon]}
    seen: dict[str, list[str]] = {}
    for n in names:
        seen.setdefault(str(n).lower(), []).append(str(n))
    for low, actual in seen.items():
        if low in spellings and len(actual) > 1:
            raise UserError(f"{path}: column {low!r} appears {len(actual)} times ({', '.join(actual)}): which one "
                            "holds the captions is ambiguous (fix: rename or drop the extra columns so each name "
                            "appears once)")


def detect(path: str | Path, *, rows_per_task: int = 1_000_000, files_per_task: int = 10_000) -> DatasetInput:
    """Detect the layout of a dataset and list its text tasks.

    Parameters
    ----------
    path
        A parquet file, a tar, or a dataset folder.
    rows_per_task
        Parquet row groups are grouped into tasks of about this many rows.
    files_per_task
        Caption files per task for loose caption folders.

    Returns
    -------
    DatasetInput

    Raises
    ------
    audit.errors.UserError
        The path does not exist or holds no recognisable data.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "k.jpg").write_bytes(b""), (d / "k.txt").write_text("hi")
    >>> detect(d).kind
    'caption_folder'
    """
    root = Path(path)
    if not root.exists():
        raise UserError(f"{root}: no such file or folder (fix: pass the dataset's parquet file or folder)")
    notes: list[str] = []
    columns: dict[str, dict] = {}
    if root.is_file():
        suffix = root.name.lower()
        if suffix.endswith(".parquet"):
            return DatasetInput("laion_parquet", str(root),
                                _parquet_tasks(root, rows_per_task=rows_per_task, notes=notes, columns=columns),
                                columns, notes=notes)
        if suffix.endswith(".tar"):
            return DatasetInput("webdataset", str(root), [TextTask("tar", str(root))], image_shards=[str(root)])
        raise UserError(f"{root}: not a .parquet or .tar file (fix: pass a LAION parquet, a tar shard or a folder)")
    if (root / BUILD_IN_PROGRESS).exists() and not (root / "build.json").exists():
        raise UserError(f"{root}: a dataset build here has not finished ({BUILD_IN_PROGRESS} without build.json): "
                        "its shards are incomplete (fix: rerun the same `imagen-audit world build` to finish it)")
    tars = sorted(root.glob("*.tar"))
    parquets = sorted(p for p in root.glob("*.parquet"))
    shard_dirs = sorted(p for p in root.glob(_SHARD) if p.is_dir())
    tasks: list[TextTask] = []
    if tars:
        for tar in tars:
            pq_path = tar.with_suffix(".parquet")
            if pq_path.exists():
                tasks += _parquet_tasks(pq_path, rows_per_task=rows_per_task, notes=notes, columns=columns)
            else:
                notes.append(f"{tar}: no {pq_path.name}; captions read from the tar's .txt members")
                tasks.append(TextTask("tar", str(tar)))
        return DatasetInput("webdataset", str(root), tasks, columns, image_shards=[str(t) for t in tars],
                            notes=notes)
    if shard_dirs:
        images = [str(p) for d in shard_dirs for p in sorted(d.iterdir()) if _is_image(p)]
        for d in shard_dirs:
            pq_path = root / f"{d.name}.parquet"
            if pq_path.exists():
                tasks += _parquet_tasks(pq_path, rows_per_task=rows_per_task, notes=notes, columns=columns)
            else:
                tasks += _caption_tasks(d, files_per_task=files_per_task)
        return DatasetInput("files", str(root), tasks, columns, image_files=images, notes=notes)
    if parquets:
        for p in parquets:
            tasks += _parquet_tasks(p, rows_per_task=rows_per_task, notes=notes, columns=columns)
        return DatasetInput("laion_parquet", str(root), tasks, columns, notes=notes)
    images = [str(p) for p in sorted(root.rglob("*")) if _is_image(p)]
    tasks = _caption_tasks(root, files_per_task=files_per_task)
    if not tasks and not images:
        raise UserError(f"{root}: no .parquet, .tar, NNNNN/ shard folders, images or .txt captions found "
                        "(fix: pass a LAION metadata parquet or an img2dataset output folder)")
    return DatasetInput("caption_folder", str(root), tasks, image_files=images, notes=notes)


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS


def _caption_tasks(folder: Path, *, files_per_task: int) -> list[TextTask]:
    txts = sorted(str(p) for p in folder.rglob("*.txt") if p.is_file())
    return [TextTask("captions", str(folder), files=tuple(txts[i:i + files_per_task]), rows=len(txts[i:i + files_per_task]))
            for i in range(0, len(txts), files_per_task)]


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
    tags = [a for a, c in mapping.items() if c == "nsfw" and pa.types.is_string(schema.field(a).type)]
    if tags:  # read the few-valued NSFW tag as a dictionary: flags are decided per value
        try:
            pf = pq.ParquetFile(src, read_dictionary=tags)
        except (OSError, pa.ArrowException) as exc:
            problems.skip("unreadable_file", f"{src}: {type(exc).__name__}: {exc}")
            return
    groups = list(range(pf.metadata.num_row_groups) if task.row_groups is None else task.row_groups)
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
