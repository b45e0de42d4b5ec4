"""``baseline.json``: a run's gated metrics with their intervals and the run's spec, frozen.

The numbers are read from the run's results table (:mod:`audit.results`). The
file is schema-versioned (:data:`SCHEMA`), strict JSON and written atomically.
:func:`read_baseline` validates it and names the field at fault: a NaN or
infinite number, an inverted interval or a truncated file is an error, never a pass.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "baseline.json"
>>> _ = p.write_text('{"schema": "imagen-audit-baseline/0"}')
>>> read_baseline(p)  # doctest: +ELLIPSIS
Traceback (most recent call last):
audit.errors.SpecError: ...: field schema: is 'imagen-audit-baseline/0', this version reads 'imagen-audit-baseline/1' ...
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import SpecError, UserError
from audit.gate.numbers import KEY, GATED, gated_numbers
from audit.results import Options, read_results, read_run_dir, results_for
from audit.files import write_json_atomic

__all__ = ["SCHEMA", "make_baseline", "write_baseline", "read_baseline", "run_record", "metrics_frame",
           "references_from_records", "run_numbers"]

#: Schema tag of baseline files this version writes and reads.
SCHEMA = "imagen-audit-baseline/1"
_METHOD_FIELDS = ("n_resamples", "confidence", "seed", "cluster")
_METRIC_FIELDS = (*KEY, "value", "lo", "hi", "direction")
_FIX = "rebuild it with `imagen-audit baseline RUN_DIR --out FILE`"


def run_record(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a run's ``spec.json`` a baseline keeps (suite, generator, labelers, seeds, versions).

    Examples
    --------
    >>> run_record({"suite": {"name": "professions", "definition": {}}, "seed": 3})["suite"]
    'professions'
    """
    suite = spec.get("suite") if isinstance(spec.get("suite"), dict) else {}
    return {
        "suite": suite.get("name"),
        "suite_definition": suite.get("definition"),
        "references": suite.get("references"),
        **{k: spec.get(k) for k in ("generator", "labelers", "samples", "seed", "settings", "n_images",
                                    "versions", "python", "platform", "git", "command", "format")},
    }


def _finite(x) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def run_numbers(run_dir: str | Path, *, options: Options, references: Mapping[str, pd.DataFrame] | None = None
                ) -> tuple[pd.DataFrame, list[str]]:
    """The gated numbers of a run read from its results table, and the interval methods behind them.

    With the options and references the run's table was built with (the defaults), the table is
    read; otherwise it is computed by the same code (:func:`audit.results.results_for`).
    """
    results, _ = results_for(run_dir, options=options, references=references)
    methods = sorted(set(results.table["method"]) - {"none", "reference"})
    return gated_numbers(results.table), methods


def make_baseline(run_dir: str | Path, *, references: Mapping[str, pd.DataFrame] | None = None,
                  cluster: str | Sequence[str] | None = "prompt_id", n_resamples: int = 1000,
                  confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Freeze a finished run's gated metrics (with their intervals) and its spec, read from its results table.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        A finished probe run (``results.parquet`` present).
    references : mapping attribute -> DataFrame, optional
        Extra reference tables ``[<slot>, <attribute>, p|n]`` (counts also give bias amplification);
        stored in the baseline so that ``check`` uses the same ones.
    cluster, n_resamples, confidence, seed
        Interval settings; stored and reused by ``check``. With the defaults the run's own
        results table is read as it is.

    Returns
    -------
    dict
        ``{"schema", "created", "run_dir", "run", "method", "references", "metrics"}``.

    Examples
    --------
    >>> make_baseline("no/such/run")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    audit.errors.UserError: ...
    """
    clusters = None if cluster is None else [cluster] if isinstance(cluster, str) else list(cluster)
    options = Options(cluster=clusters, n_resamples=n_resamples, confidence=confidence, seed=seed)
    if n_resamples < 1:
        raise UserError(f"--resamples {n_resamples}: a baseline needs intervals (fix: e.g. --resamples 1000)")
    spec = finished_spec(run_dir)
    table, methods = run_numbers(run_dir, options=options, references=references)
    if table.empty:
        raise UserError(f"{Path(run_dir) / 'results.parquet'}: no gated metric in the run's results (fix: label "
                        "the run with a labeler of categorical attributes, e.g. presentation or skin_group)")
    metrics = [{**{k: row[k] for k in KEY}, "direction": row["direction"], "value": float(row["value"]),
                "lo": _finite(row["lo"]), "hi": _finite(row["hi"]), "n": _finite(row["n"])}
               for row in table.to_dict("records")]
    refs = {a: json.loads(r.to_json(orient="records")) for a, r in (references or {}).items()}
    return {
        "schema": SCHEMA,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(run_dir),
        "run": run_record(spec),
        "method": {"n_resamples": int(n_resamples), "confidence": float(confidence), "seed": int(seed),
                   "cluster": clusters, "intervals": methods},
        "references": refs,
        "metrics": metrics,
    }


def finished_spec(run_dir: str | Path) -> dict[str, Any]:
    """``spec.json`` of a finished run; :class:`UserError` naming the missing or broken file otherwise."""
    spec, _, _ = read_run_dir(run_dir)
    read_results(run_dir)  # present, complete and valid
    view = Path(run_dir) / "results.json"  # written last: its absence or damage means an unfinished run
    try:
        json.loads(view.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{view}: missing; the run is unfinished (fix: rerun the same `imagen-audit probe run` "
                        "command to finish it)") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SpecError(view, "(file)", f"is not valid JSON ({type(exc).__name__}); truncated?",
                        "rerun the same `imagen-audit probe run` command, which rewrites it") from None
    return spec


def write_baseline(path: str | Path, baseline: Mapping[str, Any]) -> Path:
    """Write a baseline as strict JSON, atomically (temporary name, then rename).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_baseline(pathlib.Path(tempfile.mkdtemp()) / "b.json", {"schema": SCHEMA})
    >>> p.name
    'b.json'
    """
    path = Path(path)
    write_json_atomic(path, baseline)
    return path


def references_from_records(baseline: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The extra reference tables stored in a baseline, as DataFrames."""
    return {a: pd.DataFrame(rows) for a, rows in (baseline.get("references") or {}).items()}


def metrics_frame(baseline: Mapping[str, Any]) -> pd.DataFrame:
    """The baseline's metrics as a DataFrame (``lo``/``hi`` NaN where absent)."""
    frame = pd.DataFrame(baseline["metrics"])
    for col in ("lo", "hi", "n"):
        frame[col] = pd.to_numeric(frame.get(col), errors="coerce") if col in frame else float("nan")
    return frame


def read_baseline(path: str | Path) -> dict[str, Any]:
    """Read and validate a baseline file.

    Raises
    ------
    audit.errors.UserError
        The file is missing or is not JSON.
    audit.errors.SpecError
        A field is missing or has the wrong schema version or type (names the field and the fix).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: baseline file not found (fix: check --baseline, or {_FIX})")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a text file ({exc}) (fix: {_FIX})") from None
    except RecursionError:
        raise SpecError(path, "(file)", "nested too deeply", _FIX) from None
    except json.JSONDecodeError as exc:
        raise SpecError(path, "(file)", f"not valid JSON: {exc.msg}", _FIX, line=exc.lineno) from None
    if not isinstance(obj, dict):
        raise SpecError(path, "(file)", f"holds a JSON {type(obj).__name__}, not an object", _FIX)
    if "schema" not in obj:
        raise SpecError(path, "schema", "missing (not a baseline file?)", _FIX)
    if obj["schema"] != SCHEMA:
        raise SpecError(path, "schema", f"is {obj['schema']!r}, this version reads {SCHEMA!r}",
                        f"{_FIX} with this version of imagen-audit")
    for field, kind in (("run", dict), ("method", dict), ("metrics", list)):
        if field not in obj:
            raise SpecError(path, field, "missing", _FIX)
        if not isinstance(obj[field], kind):
            raise SpecError(path, field, f"must be a JSON {'object' if kind is dict else 'array'}", _FIX)
    if not obj["run"].get("suite"):
        raise SpecError(path, "run.suite", "missing", _FIX)
    for field in _METHOD_FIELDS:
        if field not in obj["method"]:
            raise SpecError(path, f"method.{field}", "missing", _FIX)
    if not obj["metrics"]:
        raise SpecError(path, "metrics", "is empty", _FIX)
    for i, row in enumerate(obj["metrics"]):
        missing = [f for f in _METRIC_FIELDS if not isinstance(row, dict) or f not in row]
        if missing:
            raise SpecError(path, f"metrics[{i}].{missing[0]}", "missing", _FIX)
        bad = [f for f in KEY if not isinstance(row[f], str)]
        if bad:
            raise SpecError(path, f"metrics[{i}].{bad[0]}", f"must be a string, not {row[bad[0]]!r}", _FIX)
        if row["metric"] not in GATED:
            raise SpecError(path, f"metrics[{i}].metric", f"unknown metric {row['metric']!r}",
                            f"use one of {sorted(GATED)} or {_FIX}")
        for name in ("value", "lo", "hi", "n"):
            v = row.get(name)
            if (v is None and name != "value") or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   and math.isfinite(v)):
                continue
            raise SpecError(path, f"metrics[{i}].{name}", f"must be a finite number{'' if name == 'value' else ' or null'}"
                            f", not {v!r}", _FIX)
        if row["lo"] is not None and row["hi"] is not None and row["lo"] > row["hi"]:
            raise SpecError(path, f"metrics[{i}].lo", f"{row['lo']} is above hi {row['hi']}", _FIX)
        if row["direction"] not in ("up", "down"):
            raise SpecError(path, f"metrics[{i}].direction", f"must be 'up' or 'down', not {row['direction']!r}", _FIX)
    method = obj["method"]
    if isinstance(method["n_resamples"], bool) or not isinstance(method["n_resamples"], int) \
            or method["n_resamples"] < 1:
        raise SpecError(path, "method.n_resamples", "must be a positive integer", _FIX)
    if isinstance(method["confidence"], bool) or not isinstance(method["confidence"], (int, float)) \
            or not 0 < method["confidence"] < 1:
        raise SpecError(path, "method.confidence", "must be a number between 0 and 1", _FIX)
    if isinstance(method["seed"], bool) or not isinstance(method["seed"], int) or method["seed"] < 0:
        raise SpecError(path, "method.seed", "must be an integer >= 0", _FIX)
    cluster = method["cluster"]
    if not (cluster is None or isinstance(cluster, str) or (isinstance(cluster, list)
                                                             and all(isinstance(c, str) for c in cluster))):
        raise SpecError(path, "method.cluster", "must be null, a column name or a list of column names", _FIX)
    return obj
