"""Read and write a run's results table, and the read-only views of it the report, the demo and the CLI show.

The table is ``results.parquet`` with its JSON view ``results.json``. Both are written
atomically, ``results.json`` last, so a run directory with ``results.json`` holds a
complete table. :func:`read_results` validates what it reads and names the file and the
field at fault: a truncated file, a missing column, an infinite number or a NaN without a
note is an error, never a number.

The views (:func:`by_group`, :func:`by_concept`, :func:`gaps`, :func:`headline`, :func:`summary_lines`)
reshape or select rows of a table; none computes a metric. So the report's tables, the
demo's headline and the CLI lines show the numbers the table holds.

Examples
--------
>>> read_results("/nonexistent/run")  # doctest: +ELLIPSIS
Traceback (most recent call last):
audit.errors.UserError: /nonexistent/run/results.parquet: missing; the run is unfinished ...
>>> t = pd.DataFrame({"setting": "default", "slot": "job", "concept": ["a", "b"], "labeler": "w",
...     "attribute": "presentation", "value": "feminine - masculine", "metric": "npmi_gap",
...     "estimate": [0.1, -0.7], "lo": [0.0, -0.9], "hi": [0.2, -0.5], "n": 4, "total": 4, "method": "m",
...     "corrected": False, "note": ""})
>>> gaps(t)[["concept", "gap"]].values.tolist()
[['a', 0.1], ['b', -0.7]]
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from audit.errors import SpecError, UserError
from audit.files import read_run_spec
from audit.results import columns as C
from audit.results.build import Options, Results, results_table

__all__ = ["write_results", "read_results", "results_for", "write_run_results", "read_run_dir", "read_table",
           "by_group", "by_concept", "gaps", "headline", "summary_lines"]

_META = b"imagen_audit_results"
_FIX = "rebuild it: rerun the same `imagen-audit probe run` command, which rewrites missing results"


def _context(results: Results) -> dict:
    return {"format": C.FORMAT, "suite": results.suite, "settings": list(results.settings),
            "n_images": dict(results.n_images), "options": results.options.to_dict(), "metrics": list(results.metrics),
            "skipped": list(results.skipped), "references": results.references, "columns": list(C.COLUMNS)}


def write_results(folder: str | Path, results: Results) -> Path:
    """Write ``results.parquet`` and its JSON view ``results.json`` into ``folder`` (atomically, JSON last).

    Returns
    -------
    pathlib.Path
        The parquet file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audit.files import atomic_write_bytes, write_json_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    context = _context(results)
    table = pa.Table.from_pandas(results.table[list(C.COLUMNS)], preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META: json.dumps(context).encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    atomic_write_bytes(folder / C.FILE, buf.getvalue())
    rows = results.table.astype(object).where(results.table.notna(), None).to_dict("records")
    write_json_atomic(folder / C.JSON_FILE, {**context, "rows": rows})
    return folder / C.FILE


def _validate(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in C.COLUMNS if c not in frame.columns]
    if missing:
        raise SpecError(path, missing[0], "missing column", _FIX)
    for col in ("estimate", "lo", "hi"):
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(np.isinf(values))
        if len(bad):
            raise SpecError(path, f"row {int(bad[0])}.{col}", f"is {values[bad[0]]} (not a finite number)", _FIX)
    est = frame["estimate"].to_numpy(dtype=float)
    unexplained = np.flatnonzero(np.isnan(est) & (frame["note"].fillna("").astype(str).str.len() == 0).to_numpy())
    if len(unexplained):
        i = int(unexplained[0])
        raise SpecError(path, f"row {i}.estimate", f"is NaN with no note saying why ({frame.iloc[i]['metric']})",
                        _FIX)
    return frame


def read_results(run_dir: str | Path) -> Results:
    """Read and validate the results table of a run directory (or of a ``results.parquet`` path).

    Raises
    ------
    audit.errors.UserError
        Missing, unreadable or truncated file; a missing column; an infinite number; a NaN
        estimate with no note (each names the file and the field).
    """
    import pyarrow.parquet as pq

    path = Path(run_dir)
    path = path if path.suffix == ".parquet" else path / C.FILE
    if not path.is_file():
        raise UserError(f"{path}: missing; the run is unfinished (fix: rerun the same `imagen-audit probe run` "
                        "command to finish it)")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error naming it
        raise SpecError(path, "(file)", f"cannot be read ({type(exc).__name__}: {exc}); truncated or not parquet",
                        _FIX) from None
    raw = (table.schema.metadata or {}).get(_META)
    try:
        context = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        context = None
    if not isinstance(context, dict) or context.get("format") != C.FORMAT:
        raise SpecError(path, "(metadata)", f"has no {C.FORMAT} context (written by another version?)", _FIX)
    frame = _validate(path, table.to_pandas())
    try:
        opts = context.get("options") or {}
        options = Options(cluster=opts.get("cluster"), n_resamples=opts.get("n_resamples", 0),
                          confidence=opts.get("confidence", 0.95), seed=opts.get("seed", 0))
    except UserError as exc:
        raise SpecError(path, "(metadata).options", str(exc), _FIX) from None
    return Results(table=frame, suite=context.get("suite"), settings=list(context.get("settings") or []),
                   n_images=dict(context.get("n_images") or {}), options=options,
                   metrics=list(context.get("metrics") or []), skipped=list(context.get("skipped") or []),
                   references=dict(context.get("references") or {}))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.parquet`` or ``.csv`` table, with a clear error if it cannot be read.

    Examples
    --------
    >>> read_table("missing.csv")
    Traceback (most recent call last):
    audit.errors.UserError: missing.csv: file not found (fix: check the path)
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found (fix: check the path)")
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - re-raised as a user error naming the file
        raise UserError(f"{path}: cannot read table ({type(exc).__name__}: {exc}) (fix: regenerate the file)") from exc


def read_run_dir(run_dir: str | Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """``(spec, manifest, labels)`` of a run directory, validated.

    Examples
    --------
    >>> read_run_dir("no/such/run")
    Traceback (most recent call last):
    audit.errors.UserError: no/such/run: not a run directory (fix: pass the folder holding spec.json, manifest.parquet and labels.parquet)
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(
            f"{run}: not a run directory (fix: pass the folder holding spec.json, manifest.parquet and labels.parquet)"
        )
    spec = read_run_spec(run)
    manifest = read_table(run / "manifest.parquet")
    labels_path = run / "labels.parquet"
    if not labels_path.exists():
        raise UserError(f"{labels_path}: file not found (fix: run the labelers on this run first)")
    labels = read_table(labels_path)
    for name, frame, cols in (
        ("manifest.parquet", manifest, ["image_id", "path", "prompt", "prompt_id"]),
        ("labels.parquet", labels, ["image_id", "labeler", "attribute", "value"]),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise UserError(f"{run / name}: field(s) {missing} missing (fix: regenerate {name} with the current version)")
    if "confidence" not in labels.columns:
        labels = labels.assign(confidence=float("nan"))
    return spec, manifest, labels


def write_run_results(run_dir: str | Path, *, settings: list[str] | None = None,
                      options: Options | None = None) -> Results:
    """Compute a run directory's results table from its spec, manifest and labels, and write it there.

    Examples
    --------
    >>> write_run_results("no/such/run")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    audit.errors.UserError: ...
    """
    spec, manifest, labels = read_run_dir(run_dir)
    if settings is None and isinstance(spec.get("settings"), list):
        settings = [_label(s) for s in spec["settings"]] or None
        if settings and "setting" in manifest and not set(settings) <= set(manifest["setting"].astype(str)):
            settings = None
    results = results_table(manifest, labels, spec=spec, options=options, settings=settings)
    write_results(run_dir, results)
    return results


def _label(setting) -> str:
    if isinstance(setting, Mapping) and "label" in setting:
        return str(setting["label"])
    return str(setting)


def results_for(run_dir: str | Path, *, options: Options | None = None,
                references: Mapping[str, pd.DataFrame] | None = None,
                confusions: Mapping[str, pd.DataFrame] | None = None) -> tuple[Results, bool]:
    """The run's results table read from disk, or computed the same way when other options are asked for.

    The table on disk was computed with default options and the suite's references; asking for other
    interval options, extra references or confusion matrices computes a table with the same code
    (:func:`audit.results.results_table`) without touching the run's.

    Returns
    -------
    (Results, bool)
        The results, and whether they were computed (True) rather than read (False).
    """
    stored = read_results(run_dir)
    same = (options is None or options == stored.options) and not references and not confusions
    if same:
        return stored, False
    spec, manifest, labels = read_run_dir(run_dir)
    settings = [s for s in stored.settings if "setting" not in manifest or s in set(manifest["setting"].astype(str))]
    return results_table(manifest, labels, spec=spec, references=references, confusions=confusions,
                         options=options or stored.options, settings=settings or None), True


# ---------------------------------------------------------------------------
# read-only views of a results table
# ---------------------------------------------------------------------------

def _wide(rows: pd.DataFrame, metrics: dict[str, str], index: list[str]) -> pd.DataFrame:
    parts = []
    for metric, name in metrics.items():
        for corrected in (False, True):
            sub = rows[(rows.metric == metric) & (rows.corrected == corrected)]
            if sub.empty:
                continue
            suffix = "_corrected" if corrected else ""
            cols = {"estimate": f"{name}{suffix}", "lo": f"{name}{suffix}_lo", "hi": f"{name}{suffix}_hi"}
            if metric == C.REFERENCE_SHARE:
                cols = {"estimate": f"{name}{suffix}"}
            parts.append(sub.set_index(index)[list(cols)].rename(columns=cols))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame()


def by_group(rows: pd.DataFrame, *, concept: str = "concept", attribute: str = "value") -> pd.DataFrame:
    """Per (concept, value): ``n, proportion(_lo/_hi), npmi(_lo/_hi)``, ``proportion_ref``, ``reference_gap(_lo/_hi)``
    and ``*_corrected`` twins, indexed by ``(concept, attribute)`` (names as given)."""
    out = _wide(rows, {C.PROPORTION: "proportion", C.NPMI: "npmi", C.REFERENCE_SHARE: "proportion_ref",
                       C.REFERENCE_GAP: "reference_gap"}, ["concept", "value"])
    if out.empty:
        return out
    n = rows[(rows.metric == C.PROPORTION) & ~rows.corrected].set_index(["concept", "value"])["n"]
    out.insert(0, "n", n.reindex(out.index))
    out.index = out.index.set_names([concept, attribute])
    return out


def by_concept(rows: pd.DataFrame, *, concept: str = "concept") -> pd.DataFrame:
    """Per concept: ``n``, deviation from uniform, normalized entropy, non-answer share (with intervals)."""
    out = _wide(rows, {C.MAD: C.MAD, C.ENTROPY: C.ENTROPY, C.NON_ANSWER_SHARE: C.NON_ANSWER_SHARE}, ["concept"])
    if out.empty:
        return out
    n = rows[rows.metric.isin([C.MAD, C.ENTROPY]) & ~rows.corrected].drop_duplicates("concept")
    out.insert(0, "n", n.set_index("concept")["n"].reindex(out.index))
    out.index = out.index.set_names(concept)
    return out


def gaps(rows: pd.DataFrame, *, concept: str = "concept", corrected: bool = False) -> pd.DataFrame:
    """nPMI gap rows of a cut: ``concept, groups, gap, lo, hi, n, note``."""
    g = rows[(rows.metric == C.NPMI_GAP) & (rows.corrected == corrected)]
    return g.rename(columns={"concept": concept, "value": "groups", "estimate": "gap"})[
        [concept, "groups", "gap", "lo", "hi", "n", "note"]].reset_index(drop=True)


def headline(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows that summarise a cut over concepts (``concept == "*"``): ``metric, estimate, lo, hi, corrected``."""
    h = rows[rows.concept == C.ANY]
    return h[["metric", "estimate", "lo", "hi", "n", "method", "corrected", "note"]].reset_index(drop=True)


def summary_lines(table: pd.DataFrame) -> list[str]:
    """One line per (setting, labeler, slot, reference attribute/value): mean |observed - reference| share.

    Examples
    --------
    >>> t = pd.DataFrame({"setting": "default", "slot": "job", "concept": ["a", "b"], "labeler": "w",
    ...     "attribute": "presentation", "value": "feminine", "metric": "reference_gap",
    ...     "estimate": [0.1, -0.3], "corrected": False})
    >>> summary_lines(t)
    ['  default w: mean |observed - reference| % presentation=feminine per job: 20.0 points (2 values)']
    """
    g = table[(table.metric == C.REFERENCE_GAP) & ~table.corrected & np.isfinite(table.estimate)]
    lines = []
    for (setting, labeler, slot, attribute, value), sub in g.groupby(
            ["setting", "labeler", "slot", "attribute", "value"], sort=True):
        lines.append(f"  {setting} {labeler}: mean |observed - reference| % {attribute}={value} per {slot}: "
                     f"{100 * sub.estimate.abs().mean():.1f} points ({len(sub)} values)")
    return lines
