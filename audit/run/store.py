"""The content-addressed image store of a run directory (atomic writers: :mod:`audit.files`).

Images are stored under their sha256 and written atomically, so a run killed at
any point leaves either no file or the whole image under a final name.

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
from pathlib import Path

from audit.files import write_bytes_atomic, write_json_atomic, write_parquet_atomic

__all__ = ["png_bytes", "put_image", "image_relpath", "write_bytes_atomic", "write_json_atomic",
           "write_parquet_atomic"]


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
