"""Prompt templates: their syntax (:func:`parse_template`), and the expansion of a suite into
prompt rows and sample rows (tidy tables).

Every template is crossed with the values of the slots and axes it uses; an
axis with ``include_none`` also yields the prompt without its words (the axis
column is then ``None``). Sample seeds are derived from the suite seed, the
template and the *slot* values only, so counterfactual prompts that differ
only in an axis share their seeds: the same noise is drawn with and without
"dark-skinned", which makes the comparison paired.

Examples
--------
>>> from probes.suite import load_builtin
>>> prompts = expand_prompts(load_builtin("skin-tone-counterfactuals"))
>>> prompts[prompts.prompt_id == "face/profession=nurse"].prompt.item()
'a photo of the face of a nurse'
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from audit.errors import SpecError
from probes.yamlio import Checker, LineDict, LineList

if TYPE_CHECKING:
    from probes.suite import Suite

__all__ = ["Template", "parse_template", "expand_prompts", "expand_samples", "render", "sample_seed"]

_GROUP = re.compile(r"\[([^\[\]]*)\]")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ARTICLE = re.compile(r"\b([Aa])n? (?=([A-Za-z]))")


@dataclass(frozen=True)
class Template:
    """A prompt template: ``id``, ``text`` and the placeholders it uses (in order)."""

    id: str
    text: str
    placeholders: tuple[str, ...]


def parse_template(check: Checker, items: LineList, i: int, names: set[str], axes: set[str],
                   optional_axes: set[str] = frozenset()) -> Template:
    """Validate ``templates[i]`` of a suite: ``{slot}`` placeholders, ``[...]`` optional groups holding axes.

    Raises
    ------
    audit.errors.SpecError
        Naming the file, line and field.
    """
    item = items[i]
    fname = f"templates[{i}]"
    if isinstance(item, str):
        item = LineDict(id=f"t{i}", text=item)
        item.line = items.line_of(i)
    if not isinstance(item, dict):
        check.fail(items, i, fname, "must be a mapping with `id` and `text` or a string",
                   "write `- {id: face, text: \"a photo of a {profession}\"}`")
    tid = str(check.get(item, "id", (str, int), f"{fname}.id", required=True))
    text = check.get(item, "text", str, f"{fname}.text", required=True)
    unknown = sorted(set(item) - {"id", "text"}, key=str)
    if unknown:
        check.fail(item, unknown[0], f"{fname}.{unknown[0]}", "is not a template field",
                   "keep only `id` and `text`")
    depth, group_axes = 0, []
    for token in re.finditer(r"\[|\]|\{[^{}]*\}|[{}]", text):
        t = token.group()
        if t == "[":
            depth += 1
            group_axes.append(set())
            if depth > 1:
                check.fail(item, "text", f"{fname}.text", "nests optional groups `[...]`", "use one level of brackets")
        elif t == "]":
            if depth == 0:
                check.fail(item, "text", f"{fname}.text", "closes `]` without an opening `[`", "balance the brackets")
            if not group_axes[-1]:
                check.fail(item, "text", f"{fname}.text", "has an optional group `[...]` with no axis in it",
                           "put an axis placeholder such as `{skin_tone}` inside the brackets")
            depth -= 1
        elif t in "{}" or not _PLACEHOLDER.fullmatch(t):
            check.fail(item, "text", f"{fname}.text", f"has a malformed placeholder {t!r}",
                       "write placeholders as `{slot_name}`")
        else:
            name = t[1:-1]
            if name not in names:
                check.fail(item, "text", f"{fname}.text", f"uses `{{{name}}}` which is neither a slot nor an axis",
                           f"declare `{name}` under `slots:` or `axes:`, or fix the spelling")
            if not depth and name in optional_axes:
                check.fail(item, "text", f"{fname}.text",
                           f"uses the axis `{{{name}}}` outside an optional group, but the axis can be absent "
                           "(include_none), which would write the word None into the prompt",
                           f"write it as `[{{{name}}} ]`, or set `axes.{name}.include_none: false`")
            if depth:
                if name not in axes:
                    check.fail(item, "text", f"{fname}.text", f"puts the slot `{{{name}}}` in an optional group",
                               "only axes may be optional; move it out of the brackets or make it an axis")
                group_axes[-1].add(name)
    if depth:
        check.fail(item, "text", f"{fname}.text", "leaves `[` unclosed", "add the closing `]`")
    placeholders = tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))
    return Template(id=tid, text=text, placeholders=placeholders)


def _article(match: re.Match) -> str:
    a, first = match.group(1), match.group(2)
    return f"{a}n " if first.lower() in "aeiou" else f"{a} "


def render(text: str, words: dict[str, str | None]) -> str:
    """Fill a template: drop optional groups whose axis is ``None``, fix a/an, tidy spaces.

    Parameters
    ----------
    text
        Template text with ``{name}`` placeholders and ``[...]`` optional groups.
    words
        Wording per placeholder; ``None`` means "without these words".

    Returns
    -------
    str
        The prompt.

    Examples
    --------
    >>> render("a [{skin} ]{job}", {"skin": None, "job": "engineer"})
    'an engineer'
    >>> render("a [{skin} ]{job}", {"skin": "dark-skinned", "job": "engineer"})
    'a dark-skinned engineer'
    """
    def group(m: re.Match) -> str:
        names = _PLACEHOLDER.findall(m.group(1))
        return "" if any(words.get(n) is None for n in names) else m.group(1)

    def word(m: re.Match) -> str:
        w = words[m.group(1)]
        if w is None:  # the suite validator refuses this; never write "None" into a prompt
            raise ValueError(f"placeholder {{{m.group(1)}}} is absent but outside an optional group")
        return str(w)

    out = _GROUP.sub(group, text)
    out = _PLACEHOLDER.sub(word, out)
    out = _ARTICLE.sub(_article, out)
    return re.sub(r"\s+", " ", out).strip()


def _template_rows(suite: Suite, template: Template):
    choices = []
    for name in template.placeholders:
        if name in suite.axes:
            axis = suite.axes[name]
            labels = list(axis.values.labels) + ([None] if axis.include_none else [])
        else:
            labels = list(suite.slots[name].labels)
        choices.append(labels)
    for combo in itertools.product(*choices):
        yield dict(zip(template.placeholders, combo))


def _wording(suite: Suite, name: str, label: str | None) -> str | None:
    if label is None:
        return None
    vocab = suite.axes[name].values if name in suite.axes else suite.slots[name]
    return vocab.wording(label)


def expand_prompts(suite: Suite) -> pd.DataFrame:
    """Return one row per distinct prompt of the suite.

    Parameters
    ----------
    suite
        A validated suite.

    Returns
    -------
    pandas.DataFrame
        Columns ``prompt_id``, ``template_id``, ``prompt``, ``seed_key`` (what seeds derive from)
        and one column per slot and axis (``None`` where the prompt does not set it).

    Examples
    --------
    >>> from probes.suite import load_builtin
    >>> len(expand_prompts(load_builtin("professions"))) >= 60
    True
    """
    rows = []
    for template in suite.templates:
        for values in _template_rows(suite, template):
            text = render(template.text, {n: _wording(suite, n, v) for n, v in values.items()})
            set_parts = [f"{n}={v}" for n, v in values.items() if v is not None]
            slot_parts = [f"{n}={v}" for n, v in values.items() if n in suite.slots]
            row = {c: None for c in suite.columns}
            row.update(values)
            row.update(
                prompt_id="/".join([template.id, *set_parts]),
                template_id=template.id,
                prompt=text,
                seed_key="/".join([template.id, *slot_parts]),
            )
            rows.append(row)
    cols = ["prompt_id", "template_id", "prompt", "seed_key", *suite.columns]
    frame = pd.DataFrame(rows, columns=cols)
    dup = frame[frame.prompt_id.duplicated(keep=False)]
    if len(dup):  # ids joined with "/" and "=" collide when template ids or values hold those characters
        first = dup.prompt_id.iloc[0]
        clash = dup[dup.prompt_id == first]
        raise SpecError(suite.file, "templates", f"prompt id {first!r} is made twice (templates "
                        f"{sorted(set(clash.template_id))}, prompts {list(clash.prompt[:2])})",
                        "give templates ids without '/' or '=', and slot/axis values without '/' or '='")
    return frame.astype({c: object for c in suite.columns})


def sample_seed(seed: int, seed_key: str, sample: int) -> int:
    """Derive a sample's generator seed (stable across runs, machines and Python versions).

    Examples
    --------
    >>> sample_seed(0, "face/profession=nurse", 0) == sample_seed(0, "face/profession=nurse", 0)
    True
    """
    digest = hashlib.blake2b(f"{seed}|{seed_key}|{sample}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31 - 1)


def expand_samples(suite: Suite, *, samples: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """Return one row per image to generate: every prompt times ``samples``.

    Parameters
    ----------
    suite
        A validated suite.
    samples
        Samples per prompt (default: the suite's ``samples``).
    seed
        Base seed (default: the suite's ``seed``).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`expand_prompts` plus ``sample`` (0-based) and ``seed``.

    Examples
    --------
    >>> from probes.suite import load_builtin
    >>> s = load_builtin("descriptors")
    >>> len(expand_samples(s, samples=3)) == 3 * len(expand_prompts(s))
    True
    """
    samples = suite.samples if samples is None else int(samples)
    seed = suite.seed if seed is None else int(seed)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    prompts = expand_prompts(suite)
    reps = prompts.loc[prompts.index.repeat(samples)].reset_index(drop=True)
    reps["sample"] = list(range(samples)) * len(prompts)
    reps["seed"] = [sample_seed(seed, k, s) for k, s in zip(reps.seed_key, reps["sample"])]
    return reps
