"""Run shard jobs here (one process) or on a Dask cluster; both return per-shard counts.

Examples
--------
>>> run_local([], total_images=0)
[]
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
from tqdm.auto import tqdm

from audit.errors import UserError
from audit.run.work import ShardJob, run_shard

__all__ = ["run_local", "run_dask"]


def run_local(jobs: Sequence[ShardJob], *, total_images: int, progress: bool = True) -> list[pd.DataFrame]:
    """Run shard jobs one after the other in this process, with a bar per stage.

    Parameters
    ----------
    jobs
        Jobs still to run.
    total_images
        Images those jobs draw (the bars' totals).
    progress
        Show tqdm bars (``generate`` and ``label``).

    Returns
    -------
    list of DataFrame
        Each job's counts, in job order.
    """
    bars = {stage: tqdm(total=total_images, desc=stage, unit="img", position=i, disable=not progress, leave=True)
            for i, stage in enumerate(("generate", "label"))}

    def tick(stage: str, n: int) -> None:
        bars[stage].update(n)

    try:
        return [run_shard(replace(job, progress=tick)) for job in jobs]
    finally:
        for bar in bars.values():
            bar.close()


def run_dask(jobs: Sequence[ShardJob], *, workers: int | None = None, scheduler: str | None = None,
             progress: bool = True) -> list[pd.DataFrame]:
    """Run shard jobs as Dask tasks: generation and labelling of a shard happen in the same task.

    Parameters
    ----------
    jobs
        Jobs still to run (the run directory must be on a file system every worker sees).
    workers
        Start a ``LocalCluster`` with this many single-threaded worker processes; torch in each
        worker uses ``cpu_count // workers`` threads.
    scheduler
        Address of an existing scheduler (``tcp://host:8786``) instead.
    progress
        Show a tqdm bar over shards.

    Returns
    -------
    list of DataFrame
        Each job's counts, in job order.

    Examples
    --------
    >>> run_dask([], workers=2, scheduler="tcp://127.0.0.1:8786")
    Traceback (most recent call last):
    ...
    audit.errors.UserError: give exactly one of --workers N or --scheduler ADDRESS (fix: drop one of them)
    """
    if (workers is None) == (scheduler is None):
        raise UserError("give exactly one of --workers N or --scheduler ADDRESS (fix: drop one of them)")
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if workers is not None:
        if workers < 1:
            raise UserError(f"--workers {workers}: must be >= 1 (fix: e.g. --workers 2)")
        threads = max(1, (os.cpu_count() or 1) // workers)
        jobs = [replace(job, threads=job.threads or threads) for job in jobs]
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise UserError(f"--scheduler {scheduler}: cannot connect ({exc}) "
                            "(fix: check the address, e.g. tcp://host:8786, and that the scheduler runs)") from None
    try:
        futures = [client.submit(run_shard, replace(job, progress=None), key=f"shard-{job.shard.id}-{uuid.uuid4().hex}",
                                 pure=False) for job in jobs]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(futures)
        with tqdm(total=len(futures), desc="shards (generate+label)", unit="shard", disable=not progress) as bar:
            for future in as_completed(futures):
                results[index[future.key]] = future.result()
                bar.update(1)
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
