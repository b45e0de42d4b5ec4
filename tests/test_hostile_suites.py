"""Hostile suite files: the loader never crashes, never hangs, never prints raw control characters.

Every case below ends in a :class:`audit.errors.SpecError` (a ``UserError``) that names the file,
the field and a fix; the CLI prints it and exits 2 without a traceback. Property tests
(hypothesis) feed generated documents, near-valid suites and raw bytes to the loader: 2,100
examples in the normal run, 21,000 under ``-m slow`` (``make test-slow``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.errors import SpecError, UserError
from probes.expand import expand_prompts
from probes.suite import load_suite
from probes.yamlio import load_yaml_text

ROOT = Path(__file__).resolve().parents[1]
GOOD = "name: t\ntemplates: [{id: a, text: 'a [{skin} ]{job}'}]\nslots: {job: [nurse, chef]}\naxes: {skin: [dark]}\n"


def _bounded(fn, *, seconds: float, mib: float):
    """Run ``fn``; assert it took under ``seconds`` and allocated under ``mib`` MiB at peak (tracemalloc)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        return fn()
    finally:
        took = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        assert took < seconds, f"took {took:.2f} s (bound {seconds} s)"
        assert peak < mib, f"peak {peak:.1f} MiB (bound {mib} MiB)"


def _write(tmp_path, data: bytes | str, name="s.yaml") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


ALIAS_BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"]
                       + [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
                       + ["name: t", "templates: ['{x}']", "slots: {x: *i}"])

CASES = {
    # name: (file bytes, words the message must contain)
    "control character": ("name: t\x07\n", ["character YAML does not allow", "U+0007", "fix:"]),
    "non-UTF-8": (b"name: caf\xe9\n", ["not UTF-8", "0xe9", "save the file as UTF-8"]),
    "list as key": ("? [a, b]\n: 1\n", ["list or mapping used as a key", "fix:"]),
    "mapping as key": ("{? {a: 1} : 2}\n", ["list or mapping used as a key"]),
    "mixed-type keys": ("name: t\n1: x\n2.5: y\ntemplates: ['{x}']\nslots: {x: [a]}\n", ["is not a suite field"]),
    "mixed-type template keys": ("name: t\ntemplates: [{id: a, text: '{x}', 1: b, c: d}]\nslots: {x: [a]}\n",
                                 ["templates[0].1", "is not a template field"]),
    "deep nesting": ("x: " + "[" * 5000 + "]" * 5000 + "\n", ["nests deeper than 50 levels"]),
    "deep block nesting": ("".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v\n",
                           ["nests deeper than 50 levels"]),
    "alias bomb": (ALIAS_BOMB, ["expands to more than", "alias"]),
    "recursive alias": ("name: &a [*a]\n", ["field <yaml>"]),
    "prompt-id collision": ("name: t\ntemplates: [{id: 'a/x=b', text: 'a b'}, {id: a, text: 'a {x}'}]\n"
                            "slots: {x: [b]}\n", ["prompt id 'a/x=b' is made twice", "fix:"]),
    "axis outside its group": ("name: t\ntemplates: ['a {skin} nurse']\naxes: {skin: [dark-skinned]}\n",
                               ["outside an optional group", "None", "[{skin} ]"]),
    "ANSI escape": ('name: t\ndescription: "\\e[31mred\\e[0m"\ntemplates: [\'{x}\']\nslots: {x: [a]}\n',
                    ["U+001B", "\\x1b[31m", "control characters"]),
    "ANSI escape in a key": ('name: t\n"\\e[2J": 1\n', ["U+001B"]),
    "C1 control": ('name: t\ndescription: "\\x9b31m"\n', ["U+009B"]),
    "prompt explosion": ("name: t\ntemplates: ['{a}{b}{c}']\nslots: {a: &v [" + ", ".join(f"v{i}" for i in range(101))
                         + "], b: *v, c: *v}\n", ["past 1,000,000 prompts"]),
    "huge samples": ("name: t\ntemplates: ['{x}']\nslots: {x: [a]}\nsamples: 1000000000000\n", ["more than"]),
    "huge seed": ("name: t\ntemplates: ['{x}']\nslots: {x: [a]}\nseed: 100000000000000000000000\n", ["seed"]),
    "binary tag": ("name: !!binary aGk=\n", ["field name", "must be a str"]),
    "empty file": ("", ["must be a mapping"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_suite_is_a_user_error_naming_file_field_and_fix(tmp_path, case):
    data, words = CASES[case]
    path = _write(tmp_path, data)

    def load():
        with pytest.raises(SpecError) as err:
            expand_prompts(load_suite(path))
        return str(err.value)

    msg = _bounded(load, seconds=5, mib=64)
    assert msg.startswith(str(path)) and "field " in msg and "(fix: " in msg, msg
    for w in words:
        assert w in msg, (w, msg)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", msg), "control characters reach the terminal"


def test_alias_bomb_is_bounded_and_small_aliases_still_work():
    ok = load_yaml_text("a: &a [x, y]\nb: [*a, *a]\n")
    assert ok["b"] == [["x", "y"], ["x", "y"]]
    with pytest.raises(SpecError, match="expands to more than"):
        _bounded(lambda: load_yaml_text(ALIAS_BOMB, file="bomb.yaml"), seconds=2, mib=32)


def test_cli_prints_the_error_without_traceback_or_escape_codes(tmp_path):
    for case in ("ANSI escape", "non-UTF-8", "deep nesting", "list as key", "alias bomb", "axis outside its group"):
        path = _write(tmp_path, CASES[case][0], name=f"{case.replace(' ', '_')}.yaml")
        r = subprocess.run([sys.executable, "-m", "audit.cli", "probe", "show", str(path)], capture_output=True,
                           text=True, timeout=60, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert r.returncode == 2, (case, r.stderr[-500:])
        assert "Traceback" not in r.stderr and "\x1b" not in r.stdout + r.stderr, case
        assert str(path) in r.stderr and "fix:" in r.stderr, case


# --- property tests ---------------------------------------------------------------------------------------

FIELDS = ["name", "description", "templates", "slots", "axes", "samples", "seed", "labelers", "metrics",
          "references", "notes", "id", "text", "values", "include_none", "slot", "attribute", "value", "source",
          "percent"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.integers(), st.floats(),
                    st.text(max_size=12), st.sampled_from(["{x}", "a [{y} ]{x}", "[{x}]", "{", "]", "nurse", "t"]))
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=6), st.integers(-2, 2), st.booleans(), st.none())
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(keys, inner, max_size=5)), max_leaves=25)
plain_words = st.text("abcdefghij -/=", min_size=1, max_size=8)
words = st.one_of(plain_words, plain_words, plain_words, st.text(st.characters(codec="utf-8"), min_size=1, max_size=8))


@st.composite
def near_valid(draw):
    """Suites that are valid or one mistake away: exercise parsing and expansion, not only syntax errors."""
    slot_names = draw(st.lists(st.sampled_from(["x", "job", "y", "x", "job", "prompt", "Bad-Name"]), min_size=1,
                               max_size=3, unique=True))
    axis_names = draw(st.lists(st.sampled_from(["skin", "age", "skin", "x", "z"]), max_size=2, unique=True))
    parts = []
    for n in slot_names:
        t = f"{{{n}}}"
        parts.append(draw(st.sampled_from([t, t, t, t, f"[{t} ]", "{" + n, t + t])))
    for n in axis_names:
        t = f"{{{n}}}"
        parts.append(draw(st.sampled_from([f"[{t} ]", f"[{t} ]", f"[{t} ]", t, f"[{t}", t + "]", "[a]"])))
    doc = {"name": draw(st.sampled_from(["t", "t", "ok-1", "T", 3])),
           "templates": [{"id": draw(st.sampled_from(["a", "b", "c", "a/x=b", 1])), "text": " ".join(parts)}
                         for _ in range(draw(st.integers(1, 3)))],
           "slots": {n: draw(st.one_of(st.lists(words, min_size=1, max_size=3), st.lists(words, max_size=3),
                                       st.dictionaries(words, words, min_size=1, max_size=3), scalars))
                     for n in slot_names},
           "axes": {n: draw(st.one_of(st.lists(words, min_size=1, max_size=2),
                                      st.fixed_dictionaries({"values": st.lists(words, min_size=1, max_size=2),
                                                             "include_none": st.one_of(st.booleans(), scalars)})))
                    for n in axis_names}}
    for k in draw(st.lists(st.sampled_from(["samples", "seed", "labelers", "metrics", "references", "junk"]),
                           max_size=2, unique=True)):
        doc[k] = draw(st.one_of(st.integers(-2, 40), documents))
    return doc


def _check_never_crashes(text: str | bytes, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        suite = load_suite(path)
        prompts = expand_prompts(suite)
    except UserError as exc:  # the only failure allowed: it names the file, a field and a fix
        msg = str(exc)
        assert msg.startswith(str(path)) and "field " in msg and "(fix: " in msg, msg
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", msg), msg
        return
    assert len(prompts) == prompts.prompt_id.nunique()
    assert not any(re.search(r"\bNone\b", p) for p in prompts.prompt) or "None" in text if isinstance(text, str) \
        else True


def _dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


PROFILES = {"normal": 700, "slow": 7000}


def _property_tests(n: int, marks=()):
    common = settings(max_examples=n, deadline=None, derandomize=True,
                      suppress_health_check=list(HealthCheck), database=None)

    @common
    @given(doc=documents)
    def t_documents(doc, tmp_path_factory):
        _check_never_crashes(_dump(doc), tmp_path_factory)

    @common
    @given(doc=near_valid())
    def t_near_valid(doc, tmp_path_factory):
        _check_never_crashes(_dump(doc), tmp_path_factory)

    @common
    @given(base=st.sampled_from([GOOD, ALIAS_BOMB, CASES["mixed-type keys"][0]]), cut=st.integers(0, 400),
           junk=st.binary(max_size=12))
    def t_bytes(base, cut, junk, tmp_path_factory):
        raw = base.encode()
        _check_never_crashes(raw[:cut] + junk + raw[cut:], tmp_path_factory)

    return [pytest.param(t, marks=marks, id=t.__name__) for t in (t_documents, t_near_valid, t_bytes)]


@pytest.mark.parametrize("prop", _property_tests(PROFILES["normal"]))
def test_loader_never_crashes(prop, tmp_path_factory):
    """3 x 700 = 2,100 generated suites in the normal run."""
    prop(tmp_path_factory=tmp_path_factory)


@pytest.mark.slow
@pytest.mark.parametrize("prop", _property_tests(PROFILES["slow"]))
def test_loader_never_crashes_slow(prop, tmp_path_factory):
    """3 x 7,000 = 21,000 generated suites (``make test-slow``)."""
    prop(tmp_path_factory=tmp_path_factory)
