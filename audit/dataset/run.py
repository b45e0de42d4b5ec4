"""Run the text audit over a dataset's tasks (here, on local processes or on Dask) and merge the counts.

Examples
--------
>>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
>>> from audit.dataset.lexicon import load_lexicons
>>> from audit.dataset.sources import detect
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> pq.write_table(pa.table({"TEXT": ["a nurse", "a woman"]}), d / "x.parquet")
>>> counts = audit_text(detect(d), TextAuditor(load_lexicons()), progress=False)
>>> counts.n_rows, counts.rows_with("profession:nurse")
(2, 1)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from audit.dataset.sources import DatasetInput, TextTask, iter_task_batches
from audit.dataset.counts import TextCounts
from audit.dataset.textstats import TextAuditor
from audit.tarread import ReadStats

__all__ = ["count_task", "audit_text", "TextAuditor", "byte_slices"]


def count_task(task: TextTask, auditor: TextAuditor, *, batch_size: int = 131_072,
               on_batch: Callable[[int], None] | None = None) -> TextCounts:
    """Count one task; read problems and a failure part-way are recorded, never raised.

    Parameters
    ----------
    task
        A task from :func:`~audit.dataset.sources.detect`.
    auditor
        The batch counter.
    batch_size
        Rows per batch.
    on_batch
        Called with the row count of each batch (progress).

    Returns
    -------
    TextCounts
        Counts of every batch read, with problems in ``problems``/``messages``.

    Examples
    --------
    >>> from audit.dataset.sources import TextTask
    >>> from audit.dataset.lexicon import load_lexicons
    >>> c = count_task(TextTask("parquet", "/nonexistent.parquet"), TextAuditor(load_lexicons()))
    >>> c.problems
    {'unreadable_file': 1}
    """
    counts = auditor.empty()
    problems = ReadStats()
    try:
        for batch, src in iter_task_batches(task, batch_size=batch_size, problems=problems):
            for part in byte_slices(batch):
                try:
                    counts += auditor.count_batch(part, source=src)
                except Exception as exc:  # noqa: BLE001 - one bad batch must not lose the task's other rows
                    counts.note("batch_failed", f"{src}: {type(exc).__name__}: {exc}")
                    counts.rows_skipped["batch_failed"] = counts.rows_skipped.get("batch_failed", 0) + part.num_rows
            if on_batch is not None:
                on_batch(batch.num_rows)
    except Exception as exc:  # noqa: BLE001 - keep what was counted, report the failure
        counts.note("task_failed", f"{task.path}: {type(exc).__name__}: {exc}")
    for reason, k in problems.skipped.items():
        counts.note(reason, count=k)
    for reason, k in problems.rows_skipped.items():
        counts.rows_skipped[reason] = counts.rows_skipped.get(reason, 0) + k
    if task.kind == "parquet" and task.rows:  # the footer says how many rows there are: every one is accounted for
        missing = task.rows - counts.rows_read
        if missing > 0:
            counts.rows_skipped["not_read"] = counts.rows_skipped.get("not_read", 0) + missing
            counts.note("not_read", f"{task.path}: {missing} of {task.rows} rows in the footer were not read")
    counts.messages = (counts.messages + problems.errors)[:50]
    return counts


#: Caption bytes per counted slice: a batch holding more is counted in slices (bounds working memory).
SLICE_BYTES = 8 << 20


def byte_slices(batch: pa.RecordBatch, *, max_bytes: int = SLICE_BYTES) -> list[pa.RecordBatch]:
    """Cut a batch into row slices holding at most about ``max_bytes`` of caption text each.

    Counts add, so counting slices gives the same totals as counting the batch.

    Examples
    --------
    >>> b = pa.RecordBatch.from_pydict({"text": ["aaaa", "bb", "cccc"]})
    >>> [s.num_rows for s in byte_slices(b, max_bytes=6)]
    [2, 1]
    """
    if "text" not in batch.schema.names or batch.num_rows < 2:
        return [batch]
    col = batch.column("text")
    if pa.types.is_dictionary(col.type):
        return [batch]
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_binary(col.type)
            or pa.types.is_large_binary(col.type)):
        return [batch]
    sizes = pc.fill_null(pc.binary_length(col), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    total = int(sizes.sum())
    if total <= max_bytes:
        return [batch]
    bins = (np.cumsum(sizes) - sizes) // max_bytes  # the slice each row starts in
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    ends = np.r_[starts[1:], len(sizes)]
    out = [batch.slice(int(a), int(b - a)) for a, b in zip(starts, ends)]
    return out


def _lost(total: TextCounts, task: TextTask, exc: BaseException) -> None:
    """A task whose worker died: say so, and count the rows its parquet footer announced as not read."""
    total.note("task_failed", f"{task.path}: {type(exc).__name__}: {exc}")
    if task.kind == "parquet" and task.rows:
        total.rows_skipped["not_read"] = total.rows_skipped.get("not_read", 0) + task.rows


def _merge_as_completed(futures: dict, done, total: TextCounts, bar) -> None:
    """Add each finished task's counts to ``total`` (in place) as ``done`` yields its future; a lost task is noted."""
    for fut in done:
        try:
            part = fut.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker must not lose the others' counts
            _lost(total, futures[fut], exc)
            continue
        total += part
        bar.update(part.n_rows)
        if hasattr(fut, "release"):  # a Dask future: free its result on the cluster
            fut.release()


def _local_pool(dataset: DatasetInput, auditor: TextAuditor, total: TextCounts, *, workers: int, batch_size: int,
                bar) -> None:
    """Count the tasks on ``workers`` local processes (forked where the platform allows), merging as they finish.

    A process pool costs about a third of the CPU time a Dask ``LocalCluster`` of the same size
    adds (scheduler, nannies, heartbeats: measured 1.3 s against 3.9 s over a single process on
    4 million captions, ``benchmarks/dataset_text.py``); a running Dask cluster is used through
    ``scheduler=`` instead.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import duckdb  # noqa: F401 - imported before the fork, so workers inherit it

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
        futures = {pool.submit(count_task, t, auditor, batch_size=batch_size): t for t in dataset.tasks}
        _merge_as_completed(futures, as_completed(futures), total, bar)


def _client(scheduler: str):
    from dask.distributed import Client

    return Client(scheduler)


def audit_text(dataset: DatasetInput, auditor: TextAuditor, *, workers: int = 1, scheduler: str | None = None,
               batch_size: int = 131_072, progress: bool = True) -> TextCounts:
    """Count every caption of a dataset.

    Parameters
    ----------
    dataset
        From :func:`~audit.dataset.sources.detect`.
    auditor
        The batch counter (sent to workers by value).
    workers
        Local worker processes; more than 1 counts the tasks on a process pool.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); overrides ``workers``.
    batch_size
        Rows per batch.
    progress
        Show a progress bar with rows/s.

    Returns
    -------
    TextCounts
        Merged counts of all tasks.
    """
    total = auditor.empty()
    bar = tqdm(total=dataset.total_rows or None, unit="rows", unit_scale=True, desc="captions",
               disable=not progress, smoothing=0.1)
    try:
        if workers <= 1 and not scheduler:
            for task in dataset.tasks:
                total += count_task(task, auditor, batch_size=batch_size, on_batch=bar.update)
            return total
        if not scheduler:
            _local_pool(dataset, auditor, total, workers=workers, batch_size=batch_size, bar=bar)
            return total
        from dask.distributed import as_completed

        client = _client(scheduler)
        try:
            futures = {client.submit(count_task, t, auditor, batch_size=batch_size, pure=False): t
                       for t in dataset.tasks}
            _merge_as_completed(futures, as_completed(list(futures)), total, bar)
        finally:
            client.close()
        return total
    finally:
        bar.close()
