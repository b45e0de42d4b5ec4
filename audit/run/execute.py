"""A run's stages after its spec: plan the shards, run them here (one process) or on a Dask cluster, finish.

A shard is a group of whole prompts drawn with one sampler setting. The plan depends only on
the suite, the samples, the seed, the settings and the shard size, never on the number of
workers, so a local run, a Dask run and a resumed run generate exactly the same batches.
Both executors return per-shard counts. :func:`finish_run` then merges the committed shard
parts, sweeps orphan images and writes the results table and the report.

Examples
--------
>>> from probes.suite import load_builtin
>>> from probes.expand import expand_samples
>>> rows = expand_samples(load_builtin("activities"), samples=4)
>>> shards = plan_shards(rows, settings=[Settings()], shard_images=16)
>>> len(shards), shards[0].id, len(shards[0].rows)
(5, 's0-0000', 16)
>>> run_local([], total_images=0)
[]
>>> import tempfile
>>> orphan_images(tempfile.mkdtemp(), set())
[]
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from audit.errors import UserError
from audit.files import SPEC_FILE, read_run_spec, write_json_atomic, write_parquet_atomic
from audit.run.work import LABEL_KEYS, ShardJob, run_shard, shard_dir
from generator.adapters.base import Settings

__all__ = ["Shard", "plan_shards", "run_local", "run_dask", "merge_parts", "orphan_images", "finish_run",
           "write_report", "record_effective"]


@dataclass(frozen=True)
class Shard:
    """One unit of work: sample rows (whole prompts) drawn with one setting."""

    id: str
    setting: Settings
    rows: pd.DataFrame

    @property
    def n_images(self) -> int:
        """Number of images the shard draws."""
        return len(self.rows)


def plan_shards(samples: pd.DataFrame, *, settings: list[Settings], shard_images: int = 64) -> list[Shard]:
    """Cut sample rows into shards of about ``shard_images`` images, never splitting a prompt.

    Parameters
    ----------
    samples
        Rows from :func:`probes.expand.expand_samples` (all samples of a prompt are adjacent).
    settings
        Sampler settings; each gets its own set of shards (``s0-...``, ``s1-...``).
    shard_images
        Target images per shard (a prompt with more samples makes a shard of its own).

    Returns
    -------
    list of Shard
        In a fixed order: settings, then prompts.

    Examples
    --------
    >>> rows = pd.DataFrame({"prompt_id": ["a", "a", "b", "b"], "sample": [0, 1, 0, 1]})
    >>> [s.id for s in plan_shards(rows, settings=[Settings(), Settings(steps=2)], shard_images=2)]
    ['s0-0000', 's0-0001', 's1-0000', 's1-0001']
    """
    if shard_images < 1:
        raise ValueError(f"shard_images must be >= 1, got {shard_images}")
    groups, current, size = [], [], 0
    for _, block in samples.groupby("prompt_id", sort=False):
        if current and size + len(block) > shard_images:
            groups.append(current)
            current, size = [], 0
        current.append(block)
        size += len(block)
    if current:
        groups.append(current)
    shards = []
    for s_index, setting in enumerate(settings):
        for g_index, blocks in enumerate(groups):
            rows = pd.concat(blocks).reset_index(drop=True).assign(setting=setting.label)
            shards.append(Shard(id=f"s{s_index}-{g_index:04d}", setting=setting, rows=rows))
    return shards


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


def merge_parts(run_dir: str | Path, shards: Sequence[Shard]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Concatenate the shards' manifests and labels and add up their counts, in plan order.

    Returns
    -------
    tuple of DataFrame
        ``(manifest, labels, counts)``; labels sorted by (image_id, labeler, attribute), one row each.

    Examples
    --------
    >>> merge_parts("/nonexistent", [])
    Traceback (most recent call last):
    ...
    ValueError: No objects to concatenate
    """
    from audit.metrics import merge_counts

    manifests, labels, counts = [], [], []
    for shard in shards:
        folder = shard_dir(run_dir, shard.id)
        manifests.append(pd.read_parquet(folder / "manifest.parquet"))
        labels.append(pd.read_parquet(folder / "labels.parquet"))
        counts.append(pd.read_parquet(folder / "counts.parquet"))
    manifest = pd.concat(manifests, ignore_index=True)
    label_table = pd.concat(labels, ignore_index=True)
    label_table = label_table.drop_duplicates(LABEL_KEYS).sort_values(LABEL_KEYS, kind="stable").reset_index(drop=True)
    nonempty = [c for c in counts if len(c)]
    merged = merge_counts(nonempty) if nonempty else counts[0]
    return manifest, label_table, merged


def record_effective(run_dir: str | Path, shards: Sequence[Shard]) -> dict[str, dict]:
    """Fill ``spec.json``'s ``effective`` (per setting: the values the generator actually used)
    from the shards' ``effective.json``; returns it.

    Shards of one setting that disagree (they should not) are recorded as a list of values.

    Examples
    --------
    >>> import tempfile
    >>> record_effective(tempfile.mkdtemp(), [])
    {}
    """
    found: dict[str, list] = {}
    for shard in shards:
        path = shard_dir(run_dir, shard.id) / "effective.json"
        if path.is_file():
            rec = json.loads(path.read_text())
            values = found.setdefault(rec["setting"], [])
            if rec["values"] not in values:
                values.append(rec["values"])
    effective = {k: v[0] if len(v) == 1 else {"disagree": v} for k, v in found.items()}
    spec_path = Path(run_dir) / SPEC_FILE
    if effective and spec_path.is_file():  # merged into the spec as written: nothing else in it changes
        spec = read_run_spec(run_dir)
        write_json_atomic(spec_path, {**spec, "effective": {**(spec.get("effective") or {}), **effective}})
    return effective


def orphan_images(run_dir: str | Path, keep: set[str]) -> list[Path]:
    """Stored images (and stray temporary files) the manifest does not reference."""
    root = Path(run_dir) / "images"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name[:-4] not in keep)


def write_report(run_dir: str | Path) -> Path | None:
    """Write ``report/report.html`` with :func:`audit.report.report_from_run_dir`.

    A report that cannot be built (e.g. two labelers labelling the same attribute) is
    reported on stderr and skipped: the run's tables and results are complete without it.

    Returns
    -------
    pathlib.Path or None
        The report, or None when it was skipped.

    Examples
    --------
    >>> write_report("/nonexistent/run") is None  # not a run directory: skipped with a warning
    True
    """
    from audit.errors import UserError
    from audit.report import report_from_run_dir

    try:
        return Path(report_from_run_dir(Path(run_dir), export_png=False))
    except UserError as exc:
        print(f"warning: report skipped: {exc}", file=sys.stderr)
        return None


def finish_run(run_dir: str | Path, shards: Sequence[Shard], *, suite: str, references: list[dict],
               settings: list[str], report: bool = True, progress: bool = False):
    """Merge parts, write ``manifest.parquet``, ``labels.parquet``, ``counts.parquet``, the results table
    (``results.parquet`` and its JSON view ``results.json``, see :mod:`audit.results`) and (when
    ``report``) ``report/report.html``; delete orphan images. Idempotent.

    The suite's design (axes, ``metrics:``, references) is read from the run's ``spec.json``;
    ``suite`` and ``references`` are what the caller recorded there.

    Returns
    -------
    audit.results.Results
        The results.

    Examples
    --------
    >>> import tempfile
    >>> finish_run(tempfile.mkdtemp(), [], suite="x", references=[], settings=[])
    Traceback (most recent call last):
    ...
    ValueError: No objects to concatenate
    """
    run_dir = Path(run_dir)
    with tqdm(total=3 if report else 2, desc="finish", unit="stage", disable=not progress) as bar:
        bar.set_postfix_str("merge")
        record_effective(run_dir, shards)
        manifest, labels, counts = merge_parts(run_dir, shards)
        for orphan in orphan_images(run_dir, set(manifest.image_id)):
            orphan.unlink(missing_ok=True)
        write_parquet_atomic(run_dir / "manifest.parquet", manifest)
        write_parquet_atomic(run_dir / "labels.parquet", labels)
        write_parquet_atomic(run_dir / "counts.parquet", counts)
        bar.update(1)
        bar.set_postfix_str("metrics")
        from audit.results import write_run_results

        results = write_run_results(run_dir, settings=settings)  # from the files just written, as `report` reads them
        bar.update(1)
        if report:
            bar.set_postfix_str("report")
            write_report(run_dir)
            bar.update(1)
    return results
