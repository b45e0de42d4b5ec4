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

Examples
--------
>>> lex = load_lexicons()
>>> "gender:woman" in lex.concepts
True
>>> lex.role_of("toxic")[:1]
['insult:stupid']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from audit.errors import SpecError, UserError
from audit.resources import data_path

__all__ = ["Lexicon", "ROLES", "load_lexicons", "default_lexicon_paths", "load_stopwords"]

#: Roles a category can have; the audit treats each role differently.
ROLES = ("identity", "concept", "unsafe", "toxic")


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
    """

    concepts: tuple[str, ...]
    roles: tuple[str, ...]
    surfaces: tuple[str, ...]
    surface_concepts: tuple[tuple[int, ...], ...]
    sources: tuple[str, ...]

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
    return sorted(data_path("lexicons").glob("*.yaml"))


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: lexicon file not found (fix: pass an existing YAML file to --lexicon)") from None
    except UnicodeDecodeError as exc:
        raise SpecError(path, "(file)", f"not UTF-8 text ({exc.reason})", "save the lexicon as UTF-8") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise SpecError(path, "(file)", f"invalid YAML: {exc}", "fix the YAML syntax",
                        line=None if line is None else line + 1) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("categories"), dict):
        raise SpecError(path, "categories", "missing or not a mapping",
                        "write `categories: {NAME: {role: identity, terms: {CONCEPT: [word, ...]}}}`")
    return doc


def _check_category(path: Path, name: str, body: object) -> tuple[str, dict[str, list[str]]]:
    if not isinstance(body, dict):
        raise SpecError(path, f"categories.{name}", "not a mapping", "give it `role:` and `terms:`")
    role = body.get("role")
    if role not in ROLES:
        raise SpecError(path, f"categories.{name}.role", f"is {role!r}", f"use one of {', '.join(ROLES)}")
    terms = body.get("terms")
    if not isinstance(terms, dict) or not terms:
        raise SpecError(path, f"categories.{name}.terms", "missing, empty or not a mapping",
                        "map each concept to a list of words, e.g. `woman: [woman, women]`")
    out: dict[str, list[str]] = {}
    for concept, forms in terms.items():
        field = f"categories.{name}.terms.{concept}"
        if isinstance(forms, str):
            forms = [forms]
        if not isinstance(forms, list) or not forms:
            raise SpecError(path, field, "not a non-empty list of words", "write `[word, other word]`")
        clean = []
        for f in forms:
            if not isinstance(f, (str, int, float)) or not str(f).strip():
                raise SpecError(path, field, f"has an empty or non-text form {f!r}", "remove it or quote it")
            clean.append(" ".join(str(f).lower().split()))
        out[str(concept)] = clean
    return role, out


def load_lexicons(paths: Sequence[str | Path] = (), *, include_defaults: bool = True) -> Lexicon:
    """Read and merge lexicon files.

    Parameters
    ----------
    paths
        Extra YAML lexicon files (e.g. from ``--lexicon``).
    include_defaults
        Also read the starter lexicons in ``data/lexicons/`` (first).

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
    if not files:
        raise UserError("no lexicon given (fix: pass --lexicon FILE or keep the starter lexicons)")
    role_of_cat: dict[str, tuple[str, Path]] = {}
    forms_of: dict[str, list[str]] = {}
    for path in files:
        doc = _read_yaml(path)
        for cat, body in doc["categories"].items():
            role, terms = _check_category(path, str(cat), body)
            prev = role_of_cat.setdefault(str(cat), (role, path))
            if prev[0] != role:
                raise SpecError(path, f"categories.{cat}.role", f"is {role!r} but {prev[1]} says {prev[0]!r}",
                                "use the same role for a category in every file")
            for concept, forms in terms.items():
                label = f"{cat}:{concept}"
                bucket = forms_of.setdefault(label, [])
                bucket.extend(f for f in forms if f not in bucket)
    concepts = tuple(forms_of)
    roles = tuple(role_of_cat[c.split(":", 1)[0]][0] for c in concepts)
    by_surface: dict[str, list[int]] = {}
    for cid, label in enumerate(concepts):
        for form in forms_of[label]:
            ids = by_surface.setdefault(form, [])
            if cid not in ids:
                ids.append(cid)
    return Lexicon(concepts, roles, tuple(by_surface), tuple(tuple(v) for v in by_surface.values()),
                   tuple(str(p) for p in files))


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
