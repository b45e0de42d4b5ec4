"""Atomic writers and the one JSON cleaner, below every command and pipeline.

Every file is written to a unique temporary sibling and renamed into place
(:func:`audit.shards.atomic_write_bytes`), so a process killed at any point
leaves either the old file or the new one, never a half-written file under a
final name.

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
from pathlib import Path
from typing import Any

from audit.atomic import atomic_write_bytes

__all__ = ["write_bytes_atomic", "write_json_atomic", "write_parquet_atomic", "json_safe", "json_text"]

#: Atomic write with a unique temporary sibling (the project's one implementation).
write_bytes_atomic = atomic_write_bytes


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
    write_bytes_atomic(Path(path), json_text(obj).encode())


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
    write_bytes_atomic(Path(path), buf.getvalue())
