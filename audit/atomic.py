"""Atomic file writes that keep the user's umask: the one writer every output of the project goes through.

A file is written to a unique temporary sibling (``.NAME.*.tmp``), fsynced and
renamed, so a reader never sees a half-written file under the final name and a
killed writer leaves only a ``*.tmp`` behind. This module imports nothing from
the project.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> atomic_write_bytes(p, "hi"); p.read_text()
'hi'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "output_mode"]


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
