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
task's :class:`~audit.dataset.counts.TextCounts`, never raised.

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

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from audit.errors import UserError
from audit.dataset.readers import MAX_CAPTION_BYTES, TEXT_COLUMNS, iter_task_batches
from audit.shards import BUILD_IN_PROGRESS, LAION_COLUMNS, normalize_columns

__all__ = ["TextTask", "DatasetInput", "detect", "iter_task_batches", "IMAGE_EXTENSIONS", "TEXT_COLUMNS",
           "MAX_CAPTION_BYTES"]

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif")
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
