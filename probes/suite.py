"""The probe suite format: a YAML file of prompt templates, slots and counterfactual axes.

A suite file looks like this (see ``docs/probes.md`` for every field)::

    name: professions
    description: Neutral prompts naming a profession.
    templates:
      - {id: face, text: "a photo of the face of a [{skin_tone} ]{profession}"}
    slots:
      profession: [nurse, doctor]          # a list, or a mapping label -> wording
    axes:                                  # counterfactual axes: words that may be absent
      skin_tone: {values: [light-skinned, dark-skinned], include_none: true}
    samples: 16
    seed: 0
    labelers: [world]
    metrics: [representation]
    references:
      - {slot: profession, attribute: presentation, value: feminine,
         source: "US BLS CPS 2015", percent: {nurse: 89.6, doctor: 37.9}}

``{name}`` is a placeholder for a slot or an axis. Square brackets mark an
optional group: when an axis inside it takes the value *none* (the prompt
without the words), the whole group is dropped, so
``"a [{skin_tone} ]{profession}"`` gives ``"a nurse"`` and
``"a dark-skinned nurse"``.

Examples
--------
>>> from probes.suite import parse_suite
>>> from probes.yamlio import load_yaml_text
>>> s = parse_suite(load_yaml_text(
...     "name: t\\ntemplates: [{id: a, text: 'a {x}'}]\\nslots: {x: [cat, dog]}\\n"), file="t.yaml")
>>> s.templates[0].placeholders, s.slots["x"].labels
(('x',), ('cat', 'dog'))
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from audit.errors import SpecError, UserError
from probes.expand import Template, parse_template
from probes.yamlio import Checker, LineDict, LineList, load_yaml

__all__ = ["Suite", "Template", "Vocabulary", "Axis", "Reference", "parse_suite", "load_suite", "SUITES_DIR",
           "suite_names", "suite_path", "load_builtin", "resolve_suite"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_TOP_FIELDS = {"name", "description", "templates", "slots", "axes", "samples", "seed",
               "labelers", "metrics", "references", "notes"}


@dataclass(frozen=True)
class Vocabulary:
    """Values a slot or axis takes: ``labels`` (table values) and their prompt ``wordings``."""

    labels: tuple[str, ...]
    wordings: tuple[str, ...]

    def wording(self, label: str) -> str:
        """Return the words written into the prompt for ``label``."""
        return self.wordings[self.labels.index(label)]


@dataclass(frozen=True)
class Axis:
    """A counterfactual axis: a vocabulary plus whether the prompt *without* the words is included."""

    values: Vocabulary
    include_none: bool = True


@dataclass(frozen=True)
class Reference:
    """A reference distribution: % of images per slot value expected to carry ``attribute == value``."""

    slot: str
    attribute: str
    value: str
    source: str
    percent: dict[str, float]


@dataclass(frozen=True)
class Suite:
    """A validated probe suite (see the module docstring for the file format)."""

    name: str
    description: str
    templates: tuple[Template, ...]
    slots: dict[str, Vocabulary]
    axes: dict[str, Axis]
    samples: int = 16
    seed: int = 0
    labelers: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    file: str = "<memory>"
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def columns(self) -> tuple[str, ...]:
        """Slot and axis names, i.e. the prompt-attribute columns of the manifest."""
        return tuple(self.slots) + tuple(a for a in self.axes if a not in self.slots)


def _vocabulary(check: Checker, parent: LineDict, key: str, value, field_name: str) -> Vocabulary:
    if isinstance(value, list):
        labels, wordings = [str(v) for v in value], [str(v) for v in value]
    elif isinstance(value, dict):
        labels, wordings = [str(k) for k in value], [str(v) for v in value.values()]
    else:
        check.fail(parent, key, field_name, "must be a list of words or a mapping label: wording",
                   "write e.g. `[nurse, doctor]` or `{attractive: an attractive person}`")
    if not labels:
        check.fail(parent, key, field_name, "is empty", "list at least one value")
    for i, (label, wording) in enumerate(zip(labels, wordings)):
        if not label.strip() or not wording.strip():
            where = value if isinstance(value, LineList) else parent
            check.fail(where, i if isinstance(value, LineList) else key, f"{field_name}[{i}]",
                       "is blank", "remove the blank value")
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        check.fail(parent, key, field_name, f"repeats {dup}", "list each value once")
    return Vocabulary(tuple(labels), tuple(wordings))


def _axes(check: Checker, data: LineDict) -> dict[str, Axis]:
    raw = check.get(data, "axes", dict, "axes", default=LineDict())
    axes = {}
    for name, spec in raw.items():
        fname = f"axes.{name}"
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - {"values", "include_none"}, key=str)
            if unknown:
                check.fail(spec, unknown[0], f"{fname}.{unknown[0]}", "is not an axis field",
                           "use `values` and `include_none`")
            values = check.get(spec, "values", (list, dict), f"{fname}.values", required=True)
            include_none = check.get(spec, "include_none", bool, f"{fname}.include_none", default=True)
            axes[str(name)] = Axis(_vocabulary(check, spec, "values", values, f"{fname}.values"), include_none)
        else:
            axes[str(name)] = Axis(_vocabulary(check, raw, name, spec, fname), True)
    return axes


def _references(check: Checker, data: LineDict, slots: dict[str, Vocabulary]) -> tuple[Reference, ...]:
    items = check.get(data, "references", list, "references", default=LineList())
    refs = []
    for i, item in enumerate(items):
        fname = f"references[{i}]"
        if not isinstance(item, dict):
            check.fail(items, i, fname, "must be a mapping", "write slot, attribute, value, source and percent")
        slot = check.get(item, "slot", str, f"{fname}.slot", required=True)
        if slot not in slots:
            check.fail(item, "slot", f"{fname}.slot", f"names `{slot}` which is not a slot", f"use one of {sorted(slots)}")
        percent = check.get(item, "percent", dict, f"{fname}.percent", required=True)
        clean = {}
        for key, pct in percent.items():
            if str(key) not in slots[slot].labels:
                check.fail(percent, key, f"{fname}.percent.{key}", f"is not a value of slot `{slot}`",
                           f"use one of the slot's values or add `{key}` to `slots.{slot}`")
            if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 <= pct <= 100:
                check.fail(percent, key, f"{fname}.percent.{key}", f"must be a percentage in [0, 100], got {pct!r}",
                           "write a number such as 57.0")
            clean[str(key)] = float(pct)
        refs.append(Reference(
            slot=slot,
            attribute=str(check.get(item, "attribute", str, f"{fname}.attribute", required=True)),
            value=str(check.get(item, "value", (str, int), f"{fname}.value", required=True)),
            source=str(check.get(item, "source", str, f"{fname}.source", required=True)),
            percent=clean,
        ))
    return tuple(refs)


def _metric_names() -> tuple[str, ...]:
    """Metric names a suite may list: the keys of the one metric table, :data:`audit.results.metrics.METRICS`."""
    from audit.results.metrics import METRICS

    return tuple(METRICS)


def _names(check: Checker, data: LineDict, key: str, *, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    items = check.get(data, key, list, key, default=LineList())
    for i, x in enumerate(items):
        if not isinstance(x, str):
            check.fail(items, i, f"{key}[{i}]", "must be a name", "write a plain name such as `world`")
        if allowed is not None and x not in allowed:
            check.fail(items, i, f"{key}[{i}]", f"{x!r} is not a known name", f"use names from {list(allowed)}")
    return tuple(items)


def parse_suite(data, *, file: str = "<memory>") -> Suite:
    """Validate parsed YAML and return a :class:`Suite`.

    Parameters
    ----------
    data
        The document as loaded by :func:`probes.yamlio.load_yaml` (line numbers are used in
        errors when present).
    file
        Name of the source file for error messages.

    Returns
    -------
    Suite

    Raises
    ------
    audit.errors.SpecError
        Naming the file, line, field, problem and fix.

    Examples
    --------
    >>> from probes.yamlio import load_yaml_text
    >>> parse_suite(load_yaml_text("name: t\\ntemplates: ['{x}']\\nslots: {x: [a]}\\nsamples: 0\\n"),
    ...             file="t.yaml")
    Traceback (most recent call last):
    ...
    audit.errors.SpecError: t.yaml:4: field samples: must be >= 1, got 0 (fix: set samples to 1 or more)
    """
    check = Checker(file)
    if not isinstance(data, dict):
        raise SpecError(file, "<top>", "must be a mapping of suite fields", "start the file with `name: ...`", line=1)
    if not isinstance(data, LineDict):
        data = LineDict(data)
    unknown = sorted(set(data) - _TOP_FIELDS, key=str)
    if unknown:
        check.fail(data, unknown[0], str(unknown[0]), "is not a suite field", f"use only {sorted(_TOP_FIELDS)}")
    name = check.get(data, "name", str, "name", required=True)
    if not _NAME.match(name):
        check.fail(data, "name", "name", f"{name!r} is not a simple lower-case name", "use letters, digits, - and _")
    raw_slots = check.get(data, "slots", dict, "slots", default=LineDict())
    slots = {str(k): _vocabulary(check, raw_slots, k, v, f"slots.{k}") for k, v in raw_slots.items()}
    axes = _axes(check, data)
    clash = sorted(set(slots) & set(axes))
    if clash:
        check.fail(data.get("axes"), clash[0], f"axes.{clash[0]}", "is also a slot", "rename the axis or the slot")
    for col in list(slots) + list(axes):
        if col in _RESERVED:
            where = raw_slots if col in slots else data.get("axes")
            check.fail(where, col, col, "is a reserved manifest column", f"rename it (reserved: {sorted(_RESERVED)})")
    items = check.get(data, "templates", list, "templates", required=True)
    if not items:
        check.fail(data, "templates", "templates", "is empty", "add at least one template")
    optional = {n for n, a in axes.items() if a.include_none}
    templates = tuple(parse_template(check, items, i, set(slots) | set(axes), set(axes), optional)
                      for i in range(len(items)))
    ids = [t.id for t in templates]
    for i, t in enumerate(templates):
        if ids.count(t.id) > 1:
            check.fail(items, i, f"templates[{i}].id", f"repeats the id {t.id!r}", "give every template its own id")
    used = {p for t in templates for p in t.placeholders}
    for kind, names, where in (("slot", slots, raw_slots), ("axis", axes, data.get("axes"))):
        for n in names:
            if n not in used:
                check.fail(where, n, f"{'slots' if kind == 'slot' else 'axes'}.{n}",
                           f"{kind} `{n}` is used by no template", f"use `{{{n}}}` in a template or remove it")
    n_prompts = 0
    for i, t in enumerate(templates):
        k = 1
        for p in t.placeholders:
            k *= len(slots[p].labels) if p in slots else len(axes[p].values.labels) + axes[p].include_none
        n_prompts += k
        if n_prompts > MAX_PROMPTS:
            check.fail(items, i, f"templates[{i}]", f"brings the suite past {MAX_PROMPTS:,} prompts",
                       "split the suite or use fewer values per slot")
    samples = check.get(data, "samples", int, "samples", default=16)
    if samples < 1:
        check.fail(data, "samples", "samples", f"must be >= 1, got {samples}", "set samples to 1 or more")
    if samples * n_prompts > MAX_IMAGES:
        check.fail(data, "samples", "samples", f"gives {samples * n_prompts:,} images ({n_prompts:,} prompts x "
                   f"{samples:,}), more than {MAX_IMAGES:,}", "use fewer samples")
    seed = check.get(data, "seed", int, "seed", default=0)
    if not 0 <= seed < 2**63:
        check.fail(data, "seed", "seed", f"must be in [0, 2**63), got {seed}", "use a non-negative integer")
    return Suite(
        name=name,
        description=str(check.get(data, "description", str, "description", default="")).strip(),
        templates=templates,
        slots=slots,
        axes=axes,
        samples=samples,
        seed=seed,
        labelers=_names(check, data, "labelers"),
        metrics=_names(check, data, "metrics", allowed=_metric_names()),
        references=_references(check, data, slots),
        file=file,
        raw=dict(data),
    )


#: Most prompts a suite may expand to, and most images (prompts x samples) it may ask for.
MAX_PROMPTS = 1_000_000
MAX_IMAGES = 100_000_000

#: Manifest columns a slot or axis may not be named after.
_RESERVED = {"image_id", "path", "prompt", "prompt_id", "template_id", "seed", "sample", "setting"}


def load_suite(path: str | Path) -> Suite:
    """Load and validate a suite YAML file.

    Parameters
    ----------
    path
        The YAML file.

    Returns
    -------
    Suite

    Examples
    --------
    >>> from probes.suite import suite_path
    >>> load_suite(suite_path("professions")).name
    'professions'
    """
    return parse_suite(load_yaml(path), file=str(path))


# ---------------------------------------------------------------------------
# the built-in suites (probes/suites/*.yaml) and name-or-path resolution
# ---------------------------------------------------------------------------

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
