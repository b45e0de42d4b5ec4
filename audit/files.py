"""Atomic writers and the one JSON cleaner: the writer every output of the project goes through;
and :func:`read_run_spec`, the one reader of a run's ``spec.json``.

Every file is written to a unique temporary sibling (``.NAME.*.tmp``), fsynced and
renamed into place (:func:`atomic_write_bytes`), so a process killed at any point
leaves either the old file or the new one, never a half-written file under a
final name (a killed writer leaves only a ``*.tmp`` behind), and outputs keep the
user's umask. This module imports nothing from the project but :mod:`audit.errors`.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
>>> write_json_atomic(p, {"b": 1, "a": float("nan"), "p": pathlib.Path("x")}); p.read_text()
'{\\n  "a": null,\\n  "b": 1,\\n  "p": "x"\\n}\\n'
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from audit.errors import SpecError

__all__ = ["atomic_write_bytes", "output_mode", "write_json_atomic", "write_parquet_atomic", "json_safe", "json_text",
           "SPEC_FILE", "read_run_spec"]

#: The file of a run directory that holds its frozen spec (:class:`audit.run.spec.RunSpec`).
SPEC_FILE = "spec.json"


def output_mode() -> int:
    """Mode of a new output file: ``0o666`` less the process umask (what ``open()`` would give).

    Examples
    --------
    >>> old = os.umask(0o022); m = output_mode(); _ = os.umask(old)
    >>> oct(m)
    '0o644'
    """
    try:  # Linux: read the umask without changing it (os.umask is not thread-safe to probe)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a unique temporary sibling (``*.tmp``), fsync and rename.

    Parent folders are created; concurrent writers never share a temporary file.
    Text is written as UTF-8. The file gets the mode ``open()`` would give it
    (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "sub" / "x.bin"
    >>> atomic_write_bytes(p, b"abc"); p.read_bytes()
    b'abc'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, output_mode())  # mkstemp makes 0600; outputs follow the user's umask like open() does
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_safe(obj: Any) -> Any:
    """A strict-JSON copy: NaN/inf become None, numpy scalars Python numbers, other objects text.

    Examples
    --------
    >>> import numpy as np
    >>> json_safe({"a": float("nan"), "b": [np.int64(2), float("inf")], 3: (np.float32(0.5),)})
    {'a': None, 'b': [2, None], '3': [0.5]}
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (ValueError, TypeError):
            return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (dict, list, tuple)):
        return json_safe(obj)
    return str(obj)


def json_text(obj: Any) -> str:
    """``obj`` as indented, key-sorted strict JSON text (see :func:`json_safe`), ending in a newline.

    Examples
    --------
    >>> json_text({"b": float("nan"), "a": 1})
    '{\\n  "a": 1,\\n  "b": null\\n}\\n'
    """
    return json.dumps(json_safe(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as :func:`json_text`, atomically."""
    atomic_write_bytes(Path(path), json_text(obj).encode())


def write_parquet_atomic(path: str | Path, frame) -> None:
    """Write a DataFrame to parquet (no index), atomically.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> write_parquet_atomic(p, pd.DataFrame({"a": [1]})); pd.read_parquet(p).a.tolist()
    [1]
    """
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(Path(path), buf.getvalue())


def read_run_spec(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``spec.json`` exactly as it is on disk: the one reader that the report, the gate,
    resume and the run's finish all go through.

    Nothing is filled in or dropped: an old run keeps its own package versions, git revision
    and keys (build a :class:`audit.run.spec.RunSpec` only for a new run).

    Parameters
    ----------
    run_dir
        The run directory, or the path of its ``spec.json``.

    Returns
    -------
    dict
        The parsed JSON object.

    Raises
    ------
    audit.errors.SpecError
        When the file is missing, unreadable, not JSON or not a JSON object; the message names
        the file, the field and the fix, whichever command reads it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (run / "spec.json").write_text('{"samples": 2}')
    >>> read_run_spec(run)
    {'samples': 2}
    >>> _ = (run / "spec.json").write_text('[1, 2]')
    >>> read_run_spec(run)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    audit.errors.SpecError: .../spec.json: field (top level): is a JSON list, not an object (fix: ...)
    """
    path = Path(run_dir)
    if path.suffix != ".json":
        path = path / SPEC_FILE
    fix = (f"pass the folder that `imagen-audit probe run --out` wrote; if its {SPEC_FILE} is lost or damaged, "
           "rerun that command with a new --out folder")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, "(file)", "is missing, so the folder holds no probe run", fix) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, "(file)", f"cannot be read ({type(exc).__name__}: {exc})", fix) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(path, "(file)", f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                        "truncated or edited by hand?", fix, line=exc.lineno) from None
    except RecursionError:
        raise SpecError(path, "(file)", "is not valid JSON (nested too deeply)", fix) from None
    if not isinstance(data, dict):
        kind = {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(data), "number")
        raise SpecError(path, "(top level)", f"is a JSON {kind}, not an object", fix)
    return data
