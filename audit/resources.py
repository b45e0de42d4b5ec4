"""Where the project's shipped data lives (world spec, lexicons, weights).

Examples
--------
>>> from audit.resources import data_path
>>> data_path("world.yaml").name
'world.yaml'
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["data_path", "DATA_DIR"]



def _default_data_dir() -> Path:
    """The checkout's ``data/`` folder, else the installed package ``imagen_audit_data``."""
    checkout = Path(__file__).resolve().parent.parent / "data"
    if (checkout / "world.yaml").is_file():
        return checkout
    spec = importlib.util.find_spec("imagen_audit_data")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return checkout


#: The shipped ``data/`` folder: the checkout's, or the installed copy (override with ``IMAGEN_AUDIT_DATA``).
DATA_DIR = Path(os.environ.get("IMAGEN_AUDIT_DATA") or _default_data_dir())


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
