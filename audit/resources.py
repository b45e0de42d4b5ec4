"""Where the project's shipped data lives (world spec, lexicons, weights).

Examples
--------
>>> from audit.resources import data_path
>>> data_path("world.yaml").name
'world.yaml'
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_path", "DATA_DIR"]

#: The repository's ``data/`` folder (override with ``IMAGEN_AUDIT_DATA``).
DATA_DIR = Path(os.environ.get("IMAGEN_AUDIT_DATA", Path(__file__).resolve().parent.parent / "data"))


def data_path(*parts: str) -> Path:
    """Return the path of a shipped data file.

    Parameters
    ----------
    *parts
        Path components below ``data/``.

    Returns
    -------
    pathlib.Path
        The path; existence is not checked.

    Examples
    --------
    >>> data_path("lexicons").name
    'lexicons'
    """
    return DATA_DIR.joinpath(*parts)
