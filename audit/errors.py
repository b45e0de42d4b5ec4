"""Errors a user can fix. The CLI prints them without a traceback and exits 2."""

from __future__ import annotations

__all__ = ["UserError", "SpecError"]


class UserError(Exception):
    """Bad input from the user: the message names the file, the field and the fix."""


class SpecError(UserError, ValueError):
    """A spec/suite/policy file is invalid.

    Parameters
    ----------
    file
        The file at fault.
    field
        Dotted path of the field at fault (e.g. ``professions.nurse.p``).
    problem
        What is wrong.
    fix
        How to fix it.

    Examples
    --------
    >>> str(SpecError("w.yaml", "age_group", "sums to 0.9", "make the values sum to 1"))
    'w.yaml: field age_group: sums to 0.9 (fix: make the values sum to 1)'
    """

    def __init__(self, file: str, field: str, problem: str, fix: str, *, line: int | None = None) -> None:
        self.file, self.field, self.problem, self.fix, self.line = str(file), field, problem, fix, line
        where = f"{self.file}:{line}" if line is not None else self.file
        super().__init__(f"{where}: field {field}: {problem} (fix: {fix})")
