"""Finish a run: merge the committed shard parts, sweep orphan images, write the results table and report.

Examples
--------
>>> import tempfile
>>> orphan_images(tempfile.mkdtemp(), set())
[]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from audit.run.execute import Shard
from audit.files import write_parquet_atomic
from audit.run.work import LABEL_KEYS, shard_dir

__all__ = ["merge_parts", "orphan_images", "finish_run", "write_report", "record_effective"]


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
    import json

    from audit.run.spec import read_spec

    found: dict[str, list] = {}
    for shard in shards:
        path = shard_dir(run_dir, shard.id) / "effective.json"
        if path.is_file():
            rec = json.loads(path.read_text())
            values = found.setdefault(rec["setting"], [])
            if rec["values"] not in values:
                values.append(rec["values"])
    effective = {k: v[0] if len(v) == 1 else {"disagree": v} for k, v in found.items()}
    spec_path = Path(run_dir) / "spec.json"
    if effective and spec_path.is_file():
        read_spec(spec_path).with_effective(effective).write(spec_path)
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
        from audit.results import results_table, write_results

        spec = json.loads((run_dir / "spec.json").read_text(encoding="utf-8"))
        results = results_table(manifest, labels, spec=spec, settings=settings)
        write_results(run_dir, results)
        bar.update(1)
        if report:
            bar.set_postfix_str("report")
            write_report(run_dir)
            bar.update(1)
    return results
