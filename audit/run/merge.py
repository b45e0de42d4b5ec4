"""Finish a run: merge the committed shard parts, sweep orphan images, write results and report.

Examples
--------
>>> import tempfile
>>> orphan_images(tempfile.mkdtemp(), set())
[]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from audit.run.plan import Shard
from audit.run.results import results_from_counts
from audit.run.store import write_json_atomic, write_parquet_atomic
from audit.run.work import LABEL_KEYS, shard_dir

__all__ = ["merge_parts", "orphan_images", "finish_run", "write_report"]


def merge_parts(run_dir: str | Path, shards: Sequence[Shard]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Concatenate the shards' manifests and labels and add up their counts, in plan order.

    Returns
    -------
    tuple of DataFrame
        ``(manifest, labels, counts)``; labels sorted by (image_id, labeler, attribute), one row each.
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


def orphan_images(run_dir: str | Path, keep: set[str]) -> list[Path]:
    """Stored images (and stray temporary files) the manifest does not reference."""
    root = Path(run_dir) / "images"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name[:-4] not in keep)


def write_report(run_dir: str | Path) -> Path | None:
    """Write ``report.html`` with :func:`audit.report.report_from_run_dir` (None if that module is absent)."""
    try:
        from audit.report import report_from_run_dir
    except ImportError:
        return None
    out = report_from_run_dir(Path(run_dir))
    return Path(out) if out is not None else Path(run_dir) / "report.html"


def finish_run(run_dir: str | Path, shards: Sequence[Shard], *, suite: str, references: list[dict],
               settings: list[str], report: bool = True) -> dict:
    """Merge parts, write ``manifest.parquet``, ``labels.parquet``, ``counts.parquet``, ``results.json``
    and (when ``report``) ``report.html``; delete orphan images. Idempotent.

    Returns
    -------
    dict
        The results.
    """
    run_dir = Path(run_dir)
    manifest, labels, counts = merge_parts(run_dir, shards)
    for orphan in orphan_images(run_dir, set(manifest.image_id)):
        orphan.unlink(missing_ok=True)
    write_parquet_atomic(run_dir / "manifest.parquet", manifest)
    write_parquet_atomic(run_dir / "labels.parquet", labels)
    write_parquet_atomic(run_dir / "counts.parquet", counts)
    n_images = {str(k): int(v) for k, v in manifest.groupby("setting", sort=False).size().items()}
    results = results_from_counts(counts, references=references, settings=settings, suite=suite, n_images=n_images)
    write_json_atomic(run_dir / "results.json", results)
    if report:
        write_report(run_dir)
    return results
