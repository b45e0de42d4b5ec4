"""Atomic file writes and the content-addressed image store of a run directory.

Every file is written to a temporary name in the same folder and renamed into
place, so a run killed at any point leaves either the old file or the new one,
never a half-written file under a final name.

Examples
--------
>>> import tempfile, pathlib
>>> from PIL import Image
>>> run = pathlib.Path(tempfile.mkdtemp())
>>> image_id, rel = put_image(run, png_bytes(Image.new("RGB", (2, 2))))
>>> rel == f"images/{image_id[:2]}/{image_id}.png" and (run / rel).is_file()
True
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from pathlib import Path

import pandas as pd

from audit.shards import atomic_write_bytes

__all__ = ["png_bytes", "put_image", "image_relpath", "write_bytes_atomic", "write_json_atomic",
           "write_parquet_atomic", "tmp_name"]


def tmp_name(path: Path) -> Path:
    """Return a unique temporary sibling of ``path`` (``.tmp-`` prefix, never a final name)."""
    return path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")


#: Atomic write with a unique temporary sibling (the project's one implementation).
write_bytes_atomic = atomic_write_bytes


def write_json_atomic(path: str | Path, obj) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> write_json_atomic(p, {"b": 1, "a": float("nan")}); p.read_text()
    '{\\n  "a": null,\\n  "b": 1\\n}\\n'
    """
    text = json.dumps(_clean(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode())


def _clean(obj):
    """JSON-safe copy: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    return obj


def write_parquet_atomic(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame to parquet (no index), atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> write_parquet_atomic(p, pd.DataFrame({"a": [1]})); pd.read_parquet(p).a.tolist()
    [1]
    """
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    write_bytes_atomic(path, buf.getvalue())


def png_bytes(image) -> bytes:
    """Encode a PIL image as PNG bytes (deterministic: same pixels, same bytes).

    Examples
    --------
    >>> from PIL import Image
    >>> png_bytes(Image.new("RGB", (1, 1)))[:4]
    b'\\x89PNG'
    """
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def image_relpath(image_id: str) -> str:
    """Path of an image below the run directory: ``images/ab/abcdef....png``.

    Examples
    --------
    >>> image_relpath("abcdef")
    'images/ab/abcdef.png'
    """
    return f"images/{image_id[:2]}/{image_id}.png"


def put_image(run_dir: str | Path, data: bytes) -> tuple[str, str]:
    """Store PNG bytes under their sha256; returns ``(image_id, relative path)``.

    Writing the same bytes twice is a no-op, so a re-run shard cannot duplicate an image.
    """
    image_id = hashlib.sha256(data).hexdigest()
    rel = image_relpath(image_id)
    path = Path(run_dir) / rel
    if not path.is_file():
        write_bytes_atomic(path, data)
    return image_id, rel
