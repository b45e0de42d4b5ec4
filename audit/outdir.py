"""Output folders: one writer at a time, never inside the input they are made from.

Every command that writes a folder takes its lock with :func:`locked_output`
(an ``flock`` on ``OUT/.lock``, released when the process ends, even by
``kill -9``), and refuses an output folder that is, or lies inside, its input
(:func:`refuse_inside`): a second run would otherwise read its own outputs as input.

This module imports nothing from the project but :mod:`audit.errors`.

Examples
--------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "out"
>>> with locked_output(out):
...     (out / "a.txt").write_text("x") and None
>>> sorted(p.name for p in out.iterdir())
['.lock', 'a.txt']
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from audit.errors import UserError

__all__ = ["locked_output", "refuse_inside", "LOCK_NAME"]

#: Name of the lock file inside an output folder.
LOCK_NAME = ".lock"


def refuse_inside(out: str | Path, source: str | Path, *, what: str = "the input") -> None:
    """Raise :class:`UserError` when ``out`` is ``source`` or lies inside it (symlinks resolved).

    Parameters
    ----------
    out
        The output folder (need not exist yet).
    source
        The input file or folder.
    what
        How the message names the input.

    Examples
    --------
    >>> refuse_inside("/data/out", "/data/in")
    >>> refuse_inside("/data/in/out", "/data/in")
    Traceback (most recent call last):
    ...
    audit.errors.UserError: --out /data/in/out is inside the input /data/in: a later run would read its own outputs as input (fix: pass an --out folder outside /data/in)
    """
    o, s = Path(out).resolve(), Path(source).resolve()
    if o == s or s in o.parents:
        raise UserError(f"--out {out} is inside {what} {source}: a later run would read its own outputs as input "
                        f"(fix: pass an --out folder outside {source})")


@contextmanager
def locked_output(out: str | Path, *, command: str = "another command") -> Iterator[Path]:
    """Create ``out`` if needed and hold its lock for the ``with`` block.

    Parameters
    ----------
    out
        The output folder.
    command
        Named in the error when the folder is busy.

    Yields
    ------
    pathlib.Path
        ``out``.

    Raises
    ------
    audit.errors.UserError
        ``out`` exists and is not a folder, or another process holds its lock.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with locked_output(out):
    ...     with locked_output(out):
    ...         pass
    Traceback (most recent call last):
    ...
    audit.errors.UserError: ... another command is writing to this folder (fix: wait for it to finish or pass another --out)
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder (fix: pass a new --out folder)")
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{out}: {command} is writing to this folder "
                            "(fix: wait for it to finish or pass another --out)") from None
        yield out
    finally:
        os.close(fd)  # closing releases the lock
