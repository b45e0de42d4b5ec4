"""The built-in suites shipped in ``probes/suites/`` and name-or-path resolution.

Examples
--------
>>> "professions" in suite_names()
True
"""

from __future__ import annotations

from pathlib import Path

from audit.errors import UserError
from probes.suite import Suite, load_suite

__all__ = ["SUITES_DIR", "suite_names", "suite_path", "load_builtin", "resolve_suite"]

#: Folder of the built-in suite files.
SUITES_DIR = Path(__file__).resolve().parent / "suites"


def suite_names() -> list[str]:
    """Return the names of the built-in suites, sorted.

    Examples
    --------
    >>> suite_names()[:2]
    ['activities', 'descriptors']
    """
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def suite_path(name: str) -> Path:
    """Return the file of a built-in suite.

    Raises
    ------
    audit.errors.UserError
        If no built-in suite has that name.

    Examples
    --------
    >>> suite_path("safety").name
    'safety.yaml'
    """
    path = SUITES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UserError(f"no built-in suite named {name!r} (fix: use one of {suite_names()} "
                        "or give the path of a suite .yaml file)")
    return path


def load_builtin(name: str) -> Suite:
    """Load a built-in suite by name.

    Examples
    --------
    >>> load_builtin("activities").name
    'activities'
    """
    return load_suite(suite_path(name))


def resolve_suite(name_or_path: str | Path | Suite) -> Suite:
    """Return a suite from a built-in name, a YAML path, or a :class:`Suite` (returned as is).

    Examples
    --------
    >>> resolve_suite("descriptors").name
    'descriptors'
    """
    if isinstance(name_or_path, Suite):
        return name_or_path
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        if not Path(text).is_file():
            raise UserError(f"{text}: suite file not found (fix: check the path)")
        return load_suite(text)
    return load_builtin(text)
