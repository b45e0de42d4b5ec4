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

import re
from pathlib import Path

import yaml

from audit.errors import SpecError

__all__ = ["LineDict", "LineList", "Checker", "load_yaml", "load_yaml_text"]


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


class Checker:
    """Validation errors of a YAML document: :class:`SpecError` naming file, line (from
    :class:`LineDict` / :class:`LineList`) and field.

    Examples
    --------
    >>> Checker("s.yaml").get(load_yaml_text("n: x"), "n", int, "n")
    Traceback (most recent call last):
    ...
    audit.errors.SpecError: s.yaml:1: field n: must be a int, got str (fix: write `n:` as a int)
    """

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where, key, field_name: str, problem: str, fix: str):
        """Raise the error for ``field_name``, at the line of ``key`` in ``where`` when it has one."""
        line = where.line_of(key) if isinstance(where, (LineDict, LineList)) else None
        raise SpecError(self.file, field_name, problem, fix, line=line)

    def get(self, data: LineDict, key: str, kind, field_name: str, *, required: bool = False, default=None):
        """``data[key]`` checked to be a ``kind``; ``default`` when absent (an error when ``required``)."""
        if key not in data:
            if required:
                self.fail(data, key, field_name, "is missing", f"add a `{key}:` entry")
            return default
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(data, key, field_name, f"must be a {names}, got {type(value).__name__}",
                      f"write `{key}:` as a {names}")
        return value


#: Deepest nesting of mappings and lists a suite file may have.
MAX_DEPTH = 50
#: Most nodes a document may expand to once aliases are followed (bounds alias bombs).
MAX_NODES = 200_000
#: Characters refused in text: C0/C1 controls (tab and newline excepted: descriptions use them),
#: carriage return (it rewrites the terminal line), DEL, and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
#: Keys are names: no control character at all.
_KEY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _shown(value: object, limit: int = 60) -> str:
    """A value for an error message: control characters escaped, long text cut."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii") if _KEY_CONTROL.search(text) or not text.isprintable() else text
    return text if len(text) <= limit else text[:limit] + "..."


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that builds :class:`LineDict` / :class:`LineList` with line numbers.

    It refuses what a suite never needs and a hostile file could use: nesting deeper
    than :data:`MAX_DEPTH`, documents expanding to more than :data:`MAX_NODES`
    nodes through aliases (or recursive aliases), mapping keys that are lists or
    mappings, and control characters (ANSI escapes...) inside strings.
    """

    _depth = 0

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise SpecError(self.name, "<yaml>", f"nests deeper than {MAX_DEPTH} levels",
                                "flatten the structure (a suite needs a few levels)", line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_str(self, node):  # noqa: D102 - PyYAML hook
        value = super().construct_yaml_str(node)
        bad = _CONTROL.search(value)
        if bad:
            raise SpecError(self.name, "<yaml>", f"the text {_shown(value)!s} holds the control character "
                            f"U+{ord(bad.group()):04X}", "remove control characters (e.g. ANSI escapes) from the text",
                            line=node.start_mark.line + 1)
        return value

    def construct_yaml_map(self, node):  # noqa: D102 - PyYAML hook
        data = LineDict()
        data.line = node.start_mark.line + 1
        yield data
        data.lines = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError(self.name, "<yaml>", "has a list or mapping used as a key",
                                "write keys as plain names", line=key_node.start_mark.line + 1)
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and _KEY_CONTROL.search(key):
                raise SpecError(self.name, "<yaml>", f"has the key {_shown(key)} with a control character",
                                "write keys as plain names", line=key_node.start_mark.line + 1)
            if key in data:
                raise SpecError(
                    self.name, _shown(key), "appears twice in the same mapping",
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
_LineLoader.add_constructor("tag:yaml.org,2002:str", _LineLoader.construct_yaml_str)


def _check_size(node, file: str) -> None:
    """Refuse recursive aliases and documents that expand to more than :data:`MAX_NODES` nodes."""
    size: dict[int, int] = {}
    visiting: set[int] = set()
    stack = [(node, False)]
    while stack:  # iterative post-order walk; shared (aliased) nodes are sized once
        n, done = stack.pop()
        key = id(n)
        if done:
            visiting.discard(key)
            children = n.value if isinstance(n, yaml.SequenceNode) else \
                [c for pair in n.value for c in pair] if isinstance(n, yaml.MappingNode) else []
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_NODES:
                raise SpecError(file, "<yaml>", f"expands to more than {MAX_NODES:,} values through aliases",
                                "write the values out, or use fewer `*alias` references",
                                line=n.start_mark.line + 1)
            continue
        if key in size:
            continue
        if key in visiting:
            raise SpecError(file, "<yaml>", "has an alias that refers to itself", "remove the recursive `*alias`",
                            line=n.start_mark.line + 1)
        visiting.add(key)
        stack.append((n, True))
        if isinstance(n, yaml.SequenceNode):
            stack.extend((c, False) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            stack.extend((c, False) for pair in n.value for c in pair)


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
        If the text is not valid YAML, is nested too deeply, expands too far through
        aliases, uses lists as keys or holds control characters (the message names the line).

    Examples
    --------
    >>> load_yaml_text("x: [1, 2]")["x"]
    [1, 2]
    >>> load_yaml_text("a: &a [1, 1]\\nb: &b [*a, *a]\\nc: [*b, *b]")["c"]
    [[[1, 1], [1, 1]], [[1, 1], [1, 1]]]
    >>> load_yaml_text('x: "\\\\e[31mred"', file="s.yaml")
    Traceback (most recent call last):
    ...
    audit.errors.SpecError: s.yaml:1: field <yaml>: the text \\x1b[31mred holds the control character U+001B (fix: remove control characters (e.g. ANSI escapes) from the text)
    """
    loader = None
    try:
        loader = _LineLoader(text)
        loader.name = file
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, file)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise SpecError(file, "<yaml>", f"not valid YAML: {_shown(str(exc.problem), 200)}",
                        "fix the YAML syntax at that line", line=line) from None
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        raise SpecError(file, "<yaml>", f"holds a character YAML does not allow (U+{exc.character:04X} at "
                        f"character {exc.position})", "remove control characters from the file", line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(file, "<yaml>", f"not valid YAML: {_shown(str(exc), 200)}", "fix the YAML syntax") from None
    except RecursionError:
        raise SpecError(file, "<yaml>", "nests too deeply", "flatten the structure") from None
    finally:
        if loader is not None:
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
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(str(path), "<file>", f"cannot be read ({exc.strerror})",
                        "check the path") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SpecError(str(path), "<file>", f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                        "save the file as UTF-8", line=line) from None
    return load_yaml_text(text, file=str(path))
