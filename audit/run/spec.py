"""``spec.json``: a run as a frozen spec, the values actually used, and the resume identity.

:class:`RunSpec` holds what a run was asked for (suite, generator recipe, labelers with
their options, weight fingerprints and declared attributes, samples, seed, settings) and
what it actually used (:attr:`RunSpec.effective`: per setting, the steps, guidance,
scheduler, thresholding, negative prompt and image size the generator drew with, filled in
by the workers), plus package versions and the git revision. The fields in
:data:`IDENTITY_FIELDS` must match for a run directory to be resumed.

Examples
--------
>>> s = RunSpec(suite={"name": "x"}, generator={"kind": "t"}, labelers=[], samples=1, seed=0,
...             settings=[{}], shard_images=4, batch_size=2, n_images=3, n_shards=1)
>>> RunSpec.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from audit.errors import UserError
from audit.files import json_safe, read_run_spec, write_json_atomic
from audit.provenance import git_revision, package_versions, python_version

__all__ = ["RunSpec", "IDENTITY_FIELDS", "FORMAT", "check_resume", "canonical"]

FORMAT = "imagen-audit-run/2"
#: Fields that must match for a run directory to be resumed.
IDENTITY_FIELDS = ("suite", "generator", "labelers", "samples", "seed", "settings", "shard_images", "batch_size")


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to reproduce a run (see the module docstring).

    Attributes
    ----------
    suite
        ``name``, ``references`` and the suite's full ``definition``.
    generator
        The adapter's recipe (:meth:`generator.adapters.base.Generator.config`).
    labelers
        Per labeler: name, options, declared attributes and domain, weight fingerprints.
    effective
        Setting label -> the values the generator actually used (steps, guidance, scheduler,
        thresholding, negative_prompt, height, width); empty until a shard of it is drawn.
    """

    suite: dict[str, Any]
    generator: dict[str, Any]
    labelers: list[dict[str, Any]]
    samples: int
    seed: int
    settings: list[dict[str, Any]]
    shard_images: int
    batch_size: int
    n_images: int
    n_shards: int
    effective: dict[str, dict[str, Any]] = field(default_factory=dict)
    suite_file: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    versions: dict[str, str | None] = field(default_factory=package_versions)
    python: str = field(default_factory=python_version)
    platform: str = field(default_factory=platform.platform)
    git: dict[str, Any] = field(default_factory=git_revision)
    format: str = FORMAT

    def to_dict(self) -> dict[str, Any]:
        """The spec as strict-JSON data."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        """A spec from :meth:`to_dict` data (unknown keys are ignored).

        Missing keys take their defaults, which for ``versions``, ``python``, ``platform``,
        ``git`` and ``command`` are today's: to read an existing run's ``spec.json`` as it
        is on disk, use :func:`audit.files.read_run_spec`.
        """
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def identity(self) -> dict[str, Any]:
        """The fields that decide whether a folder holds the same run (JSON-normalised)."""
        data = self.to_dict()
        return {k: data.get(k) for k in IDENTITY_FIELDS}

    def write(self, path: str | Path) -> None:
        """Write ``spec.json`` atomically."""
        write_json_atomic(path, self.to_dict())


def canonical(value) -> str:
    """One text per JSON value, whatever its key order (compares spec fields and shard recipes).

    Examples
    --------
    >>> canonical({"b": 1, "a": [Path("x")]}) == canonical({"a": ["x"], "b": 1})
    True
    """
    return json.dumps(value, sort_keys=True, default=str)


def check_resume(path: Path, spec: RunSpec) -> None:
    """Raise unless the ``spec.json`` at ``path`` describes the same run as ``spec``.

    Raises
    ------
    audit.errors.UserError
        Naming the first field that differs and the fix, or the error of
        :func:`audit.files.read_run_spec` when the file is missing or broken.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "spec.json"
    >>> _ = p.write_text('{"samples": 4}')
    >>> s = RunSpec(suite={}, generator={}, labelers=[], samples=8, seed=0, settings=[], shard_images=1,
    ...             batch_size=1, n_images=0, n_shards=0)
    >>> check_resume(p, s)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    audit.errors.UserError: ...: field suite: the folder holds a run with a different suite ...
    """
    old = read_run_spec(path)
    new = spec.identity()
    for key in IDENTITY_FIELDS:
        if canonical(old.get(key)) != canonical(new.get(key)):
            raise UserError(f"{path}: field {key}: the folder holds a run with a different {key} "
                            "(fix: rerun with the same options to resume, or use a new --out folder)")
