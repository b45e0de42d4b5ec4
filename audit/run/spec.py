"""``spec.json``: everything needed to reproduce a run, and the resume check.

Examples
--------
>>> sorted(package_versions())[:2]
['dask', 'diffusers']
"""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from audit.errors import UserError

__all__ = ["package_versions", "git_revision", "build_spec", "check_resume", "IDENTITY_FIELDS"]

_PACKAGES = ("imagen-audit", "torch", "diffusers", "transformers", "numpy", "pandas", "pyarrow", "pillow",
             "dask", "distributed", "tokenizers")
#: Fields that must match for a run directory to be resumed.
IDENTITY_FIELDS = ("suite", "generator", "labelers", "samples", "seed", "settings", "shard_images", "batch_size")


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that shape the images and the labels (None if absent)."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> dict[str, Any]:
    """The project's git commit and whether the tree had local changes (None outside git).

    Examples
    --------
    >>> set(git_revision()) == {"commit", "dirty"}
    True
    """
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def build_spec(*, suite: dict, generator: dict, labelers: list[dict], samples: int, seed: int,
               settings: list[dict], shard_images: int, batch_size: int, n_images: int, n_shards: int,
               command: list[str] | None = None) -> dict[str, Any]:
    """Assemble ``spec.json``.

    Examples
    --------
    >>> s = build_spec(suite={"name": "x"}, generator={"kind": "t"}, labelers=[], samples=1, seed=0,
    ...                settings=[{}], shard_images=4, batch_size=2, n_images=3, n_shards=1)
    >>> s["samples"], "versions" in s
    (1, True)
    """
    return {
        "format": "imagen-audit-run/1",
        "suite": suite,
        "generator": generator,
        "labelers": labelers,
        "samples": samples,
        "seed": seed,
        "settings": settings,
        "shard_images": shard_images,
        "batch_size": batch_size,
        "n_images": n_images,
        "n_shards": n_shards,
        "versions": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_revision(),
        "command": list(sys.argv if command is None else command),
    }


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def check_resume(path: Path, spec: dict[str, Any]) -> None:
    """Raise unless the ``spec.json`` at ``path`` describes the same run as ``spec``.

    Raises
    ------
    audit.errors.UserError
        Naming the first field that differs and the fix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "spec.json"
    >>> _ = p.write_text('{"samples": 4}')
    >>> check_resume(p, {"samples": 8})
    Traceback (most recent call last):
    ...
    audit.errors.UserError: ...: field samples: the folder holds a run with a different samples ...
    """
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the existing run spec ({exc}) "
                        "(fix: use a new --out folder or delete this one)") from None
    for key in IDENTITY_FIELDS:
        if _canon(old.get(key)) != _canon(json.loads(_canon(spec.get(key)))):
            raise UserError(f"{path}: field {key}: the folder holds a run with a different {key} "
                            "(fix: rerun with the same options to resume, or use a new --out folder)")
