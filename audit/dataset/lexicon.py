"""Lexicons: data files that map surface words to concepts, grouped by category and role.

A lexicon file is YAML::

    lexicon: identity          # a name, free text
    categories:
      gender:                  # category name
        role: identity         # identity | concept | unsafe | toxic
        terms:
          woman: [woman, women, female]   # concept: surface forms

Surface forms are matched case-insensitively on whole words (multi-word forms
allowed). Several files merge: the same ``category.concept`` in two files takes
the union of their forms, so a user file can extend the starter lexicons or,
with ``include_defaults=False``, replace them.

Two optional keys make matching understand the caption (see
:mod:`audit.dataset.senses`)::

      nationality:
        role: identity
        senses: [product, animal]          # context rules for this category's forms
        terms:    {japanese: [japanese people]}
        modifiers: {japanese: [japanese]}  # count only before a person noun ("japanese artist")

The opt-in slur lexicon (``include_slurs=True``) is stored base64-encoded so it
is not displayed casually; its forms are matched but shown only as ``slur#N``.

Examples
--------
>>> lex = load_lexicons()
>>> "gender:woman" in lex.concepts
True
>>> lex.role_of("toxic")[:1]
['insult:stupid']
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from audit.errors import SpecError, UserError
from audit.resources import data_path

__all__ = ["Lexicon", "ROLES", "SENSES", "load_lexicons", "default_lexicon_paths", "load_stopwords", "normalise_forms"]

#: Roles a category can have; the audit treats each role differently.
ROLES = ("identity", "concept", "unsafe", "toxic")
#: Context rules a category can ask for (``senses:``); see :mod:`audit.dataset.senses`.
SENSES = ("product", "animal")
#: The opt-in slur lexicon (base64 of a lexicon YAML file).
SLUR_FILE = "slurs.yaml.b64"
#: PyYAML's safe loader, in C when available (several times faster on the starter lexicons).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def normalise_forms(forms: Sequence[str]) -> list[str]:
    """Lower-case forms exactly as captions are lower-cased (Arrow ``utf8_lower``), spaces collapsed.

    Python's ``str.lower`` maps ``İ`` to two code points while Arrow maps it to
    ``i``; using Arrow for both sides keeps forms and captions comparable.

    Examples
    --------
    >>> normalise_forms(["GİRL", "Police  Officer"])
    ['girl', 'police officer']
    """
    low = pc.utf8_lower(pa.array([" ".join(str(f).split()) for f in forms], pa.string())).to_pylist()
    return [str(f) for f in low]


@dataclass(frozen=True)
class Lexicon:
    """Merged lexicons as flat tables.

    Attributes
    ----------
    concepts
        Concept labels ``"category:concept"`` in a fixed order (their ids).
    roles
        Role of each concept, aligned with ``concepts``.
    surfaces
        Lower-cased surface forms (each once).
    surface_concepts
        For each surface form, the ids of the concepts it tags.
    sources
        The files merged, in order.
    forms
        The text matched for each surface (equal to ``surfaces`` except for
        opt-in slurs, whose surfaces are shown as ``slur#N``).
    modifier
        For each surface: it names the attribute only next to a person noun.
    senses
        For each surface: the context rules (:data:`SENSES`) of its categories.
    categories
        The context rules of each category, ``{category: senses}``.
    """

    concepts: tuple[str, ...]
    roles: tuple[str, ...]
    surfaces: tuple[str, ...]
    surface_concepts: tuple[tuple[int, ...], ...]
    sources: tuple[str, ...]
    forms: tuple[str, ...] = ()
    modifier: tuple[bool, ...] = ()
    senses: tuple[frozenset[str], ...] = ()
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.surfaces)
        if not self.forms:
            object.__setattr__(self, "forms", self.surfaces)
        if not self.modifier:
            object.__setattr__(self, "modifier", (False,) * n)
        if not self.senses:
            object.__setattr__(self, "senses", (frozenset(),) * n)
        if not (len(self.forms) == len(self.modifier) == len(self.senses) == n):
            raise ValueError("Lexicon tables must align with surfaces")

    def role_of(self, role: str) -> list[str]:
        """Concept labels with a given role, in id order.

        Examples
        --------
        >>> load_lexicons().role_of("identity")[0]
        'gender:woman'
        """
        return [c for c, r in zip(self.concepts, self.roles) if r == role]

    def category_of(self, concept: str) -> str:
        """The category part of a concept label.

        Examples
        --------
        >>> load_lexicons().category_of("gender:woman")
        'gender'
        """
        return concept.split(":", 1)[0]


def default_lexicon_paths() -> list[Path]:
    """The starter lexicons shipped in ``data/lexicons/``.

    Examples
    --------
    >>> sorted(p.name for p in default_lexicon_paths())
    ['concepts.yaml', 'identity.yaml', 'toxic.yaml', 'unsafe.yaml']
    """
    return sorted(p for p in data_path("lexicons").glob("*.yaml") if p.name != "senses.yaml")


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: lexicon file not found (fix: pass an existing YAML file to --lexicon)") from None
    except UnicodeDecodeError as exc:
        raise SpecError(path, "(file)", f"not UTF-8 text ({exc.reason})", "save the lexicon as UTF-8") from None
    try:
        doc = yaml.load(text, Loader=_LOADER)  # the C loader when PyYAML has it (safe either way)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise SpecError(path, "(file)", f"invalid YAML: {exc}", "fix the YAML syntax",
                        line=None if line is None else line + 1) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("categories"), dict):
        raise SpecError(path, "categories", "missing or not a mapping",
                        "write `categories: {NAME: {role: identity, terms: {CONCEPT: [word, ...]}}}`")
    return doc


def _check_terms(path: Path, name: str, key: str, terms: object) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for concept, forms in terms.items():
        where = f"categories.{name}.{key}.{concept}"
        if isinstance(forms, str):
            forms = [forms]
        if not isinstance(forms, list) or not forms:
            raise SpecError(path, where, "not a non-empty list of words", "write `[word, other word]`")
        for f in forms:
            if not isinstance(f, (str, int, float)) or not str(f).strip():
                raise SpecError(path, where, f"has an empty or non-text form {f!r}", "remove it or quote it")
        out[str(concept)] = normalise_forms(forms)
    return out


def _check_category(path: Path, name: str, body: object
                    ) -> tuple[str, dict[str, list[str]], dict[str, list[str]], tuple[str, ...]]:
    if not isinstance(body, dict):
        raise SpecError(path, f"categories.{name}", "not a mapping", "give it `role:` and `terms:`")
    role = body.get("role")
    if role not in ROLES:
        raise SpecError(path, f"categories.{name}.role", f"is {role!r}", f"use one of {', '.join(ROLES)}")
    mods = body.get("modifiers", {}) or {}
    terms = body.get("terms", {} if mods else None)
    if not isinstance(terms, dict) or not (terms or mods):
        raise SpecError(path, f"categories.{name}.terms", "missing, empty or not a mapping",
                        "map each concept to a list of words, e.g. `woman: [woman, women]`")
    if not isinstance(mods, dict):
        raise SpecError(path, f"categories.{name}.modifiers", "not a mapping",
                        "map each concept to adjective forms, e.g. `japanese: [japanese]`")
    senses = body.get("senses", []) or []
    if isinstance(senses, str):
        senses = [senses]
    if not isinstance(senses, list) or any(x not in SENSES for x in senses):
        raise SpecError(path, f"categories.{name}.senses", f"is {senses!r}",
                        f"use a list drawn from {', '.join(SENSES)}")
    return (role, _check_terms(path, name, "terms", terms), _check_terms(path, name, "modifiers", mods),
            tuple(senses))


def _slur_doc() -> tuple[Path, dict]:
    path = data_path("lexicons", SLUR_FILE)
    doc = yaml.load(base64.b64decode(path.read_bytes()).decode("utf-8"), Loader=_LOADER)
    return path, doc


def load_lexicons(paths: Sequence[str | Path] = (), *, include_defaults: bool = True,
                  include_slurs: bool = False) -> Lexicon:
    """Read and merge lexicon files.

    Parameters
    ----------
    paths
        Extra YAML lexicon files (e.g. from ``--lexicon``).
    include_defaults
        Also read the starter lexicons in ``data/lexicons/`` (first).
    include_slurs
        Also read the opt-in slur lexicon (off by default). Its forms are
        matched but appear only as ``slur#N``; report it as counts and rates.

    Returns
    -------
    Lexicon
        Flat tables ready for a :class:`~audit.dataset.tagger.Tagger`.

    Raises
    ------
    audit.errors.SpecError
        A file is malformed, or a category changes role between files.

    Examples
    --------
    >>> lex = load_lexicons()
    >>> lex.surfaces[lex.surfaces.index("women")]
    'women'
    """
    files = ([*default_lexicon_paths()] if include_defaults else []) + [Path(p) for p in paths]
    if not files and not include_slurs:
        raise UserError("no lexicon given (fix: pass --lexicon FILE or keep the starter lexicons)")
    docs = [(path, _read_yaml(path)) for path in files]
    if include_slurs:
        docs.append(_slur_doc())
    slur_path = docs[-1][0] if include_slurs else None
    role_of_cat: dict[str, tuple[str, Path]] = {}
    senses_of_cat: dict[str, set[str]] = {}
    forms_of: dict[str, list[str]] = {}
    mod_forms: set[str] = set()
    term_forms: set[str] = set()
    hidden: set[str] = set()
    for path, doc in docs:
        for cat, body in doc["categories"].items():
            role, terms, mods, senses = _check_category(path, str(cat), body)
            prev = role_of_cat.setdefault(str(cat), (role, path))
            if prev[0] != role:
                raise SpecError(path, f"categories.{cat}.role", f"is {role!r} but {prev[1]} says {prev[0]!r}",
                                "use the same role for a category in every file")
            senses_of_cat.setdefault(str(cat), set()).update(senses)
            for table, kind in ((terms, term_forms), (mods, mod_forms)):
                for concept, forms in table.items():
                    bucket = forms_of.setdefault(f"{cat}:{concept}", [])
                    bucket.extend(f for f in forms if f not in bucket)
                    kind.update(forms)
                    if path == slur_path:
                        hidden.update(forms)
    concepts = tuple(forms_of)
    roles = tuple(role_of_cat[c.split(":", 1)[0]][0] for c in concepts)
    by_surface: dict[str, list[int]] = {}
    for cid, label in enumerate(concepts):
        for form in forms_of[label]:
            ids = by_surface.setdefault(form, [])
            if cid not in ids:
                ids.append(cid)
    forms = tuple(by_surface)
    n_hidden = iter(range(1, len(hidden) + 1))
    surfaces = tuple(f"slur#{next(n_hidden)}" if f in hidden else f for f in forms)
    senses = tuple(frozenset().union(*(senses_of_cat[concepts[c].split(":", 1)[0]] for c in by_surface[f]))
                   for f in forms)
    return Lexicon(concepts, roles, surfaces, tuple(tuple(v) for v in by_surface.values()),
                   tuple(str(p) for p, _ in docs), forms=forms,
                   modifier=tuple(f in mod_forms and f not in term_forms for f in forms), senses=senses,
                   categories={c: tuple(sorted(v)) for c, v in senses_of_cat.items()})


def load_stopwords(path: str | Path | None = None) -> list[str]:
    """English stop words (one per line, ``#`` comments) for the language-quality statistic.

    Examples
    --------
    >>> "the" in load_stopwords()
    True
    """
    p = Path(path) if path is not None else data_path("lexicons", "stopwords_en.txt")
    words: Iterable[str] = (w.strip().lower() for w in p.read_text(encoding="utf-8").splitlines())
    return [w for w in words if w and not w.startswith("#")]
