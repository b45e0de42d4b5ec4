"""Read YAML while remembering the line of every mapping key and list item.

Suite validation errors must name the line at fault, so mappings load as
:class:`LineDict` and sequences as :class:`LineList`, both carrying the
1-based line of each key or item.

Examples
--------
>>> data = load_yaml_text("a: 1\\nb:\\n  - x\\n  - y\\n", file="s.yaml")
>>> data.line_of("b"), data["b"].line_of(1)
(2, 4)
"""

from __future__ import annotations

from pathlib import Path

import yaml

from audit.errors import SpecError

__all__ = ["LineDict", "LineList", "load_yaml", "load_yaml_text"]


class LineDict(dict):
    """A dict that knows the line of each key (``line`` is the mapping's own line)."""

    line: int | None = None

    def line_of(self, key: object) -> int | None:
        """Return the 1-based line of ``key`` (or of the mapping if the key is absent)."""
        return getattr(self, "lines", {}).get(key, self.line)


class LineList(list):
    """A list that knows the line of each item (``line`` is the list's own line)."""

    line: int | None = None

    def line_of(self, index: int) -> int | None:
        """Return the 1-based line of item ``index``."""
        lines = getattr(self, "lines", [])
        return lines[index] if 0 <= index < len(lines) else self.line


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that builds :class:`LineDict` / :class:`LineList` with line numbers."""

    def construct_yaml_map(self, node):  # noqa: D102 - PyYAML hook
        data = LineDict()
        data.line = node.start_mark.line + 1
        yield data
        data.lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in data:
                raise SpecError(
                    self.name, str(key), "appears twice in the same mapping",
                    "keep one of the two entries", line=key_node.start_mark.line + 1,
                )
            data[key] = self.construct_object(value_node, deep=True)
            data.lines[key] = key_node.start_mark.line + 1

    def construct_yaml_seq(self, node):  # noqa: D102 - PyYAML hook
        data = LineList()
        data.line = node.start_mark.line + 1
        yield data
        data.extend(self.construct_object(child, deep=True) for child in node.value)
        data.lines = [child.start_mark.line + 1 for child in node.value]


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_yaml_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_yaml_seq)


def load_yaml_text(text: str, *, file: str = "<string>"):
    """Parse YAML text into :class:`LineDict` / :class:`LineList` values.

    Parameters
    ----------
    text
        The YAML document.
    file
        Name used in error messages.

    Returns
    -------
    object
        The parsed document.

    Raises
    ------
    audit.errors.SpecError
        If the text is not valid YAML (the message names the line).

    Examples
    --------
    >>> load_yaml_text("x: [1, 2]")["x"]
    [1, 2]
    """
    loader = _LineLoader(text)
    loader.name = file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise SpecError(file, "<yaml>", f"not valid YAML: {exc.problem}",
                        "fix the YAML syntax at that line", line=line) from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path):
    """Read a YAML file with line numbers (see :func:`load_yaml_text`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.yaml"
    >>> _ = p.write_text("name: x\\n")
    >>> load_yaml(p).line_of("name")
    1
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), "<file>", f"cannot be read ({exc.strerror})",
                        "check the path") from None
    return load_yaml_text(text, file=str(path))
