"""Where results came from: package versions, the git revision, sha256 fingerprints of weight files.

One owner for these facts; run specs, dataset audits and baselines read them here.

Examples
--------
>>> sorted(package_versions())[:2]
['dask', 'diffusers']
>>> set(git_revision()) == {"commit", "dirty"}
True
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "package_versions", "git_revision", "file_sha256", "fingerprints", "python_version"]

#: Distributions whose versions shape the images, the labels and the counts.
PACKAGES = ("imagen-audit", "torch", "diffusers", "transformers", "numpy", "pandas", "pyarrow", "pillow",
            "dask", "distributed", "tokenizers", "duckdb", "pyahocorasick")


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``packages`` (None if absent)."""
    out = {}
    for name in packages:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def python_version() -> str:
    """The running Python's version, e.g. ``3.11.7``."""
    return platform.python_version()


def git_revision() -> dict[str, Any]:
    """The project's git commit and whether the tree had local changes (None outside git)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"commit": commit or None, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.bin"; _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprints(files: Iterable[str | Path], *, root: str | Path | None = None) -> dict[str, str | None]:
    """``{name: sha256}`` for weight files (names relative to ``root`` when given; None if missing)."""
    out: dict[str, str | None] = {}
    for f in files:
        p = Path(f)
        name = p.relative_to(root).as_posix() if root is not None and p.is_relative_to(root) else str(p)
        out[name] = file_sha256(p) if p.is_file() else None
    return out
