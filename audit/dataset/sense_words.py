"""The context word lists of the sense rules (``data/lexicons/senses.yaml``).

Examples
--------
>>> "jacket" in load_senses()["product_nouns"]
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from audit.errors import SpecError, UserError
from audit.resources import data_path

__all__ = ["load_senses", "phrase_spans", "LISTS"]

#: The word lists of ``senses.yaml`` (besides ``person_categories``).
LISTS = ("person_nouns", "product_nouns", "audience_forms", "animal_nouns", "sex_forms", "not_person")


def load_senses(path: str | Path | None = None) -> dict[str, list[str]]:
    """Read the context word lists of the sense rules (``data/lexicons/senses.yaml`` by default).

    Examples
    --------
    >>> "jacket" in load_senses()["product_nouns"]
    True
    """
    from audit.dataset.lexicon import normalise_forms

    p = Path(path) if path is not None else data_path("lexicons", "senses.yaml")
    try:
        doc = yaml.load(p.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise UserError(f"{p}: senses file not found (fix: pass an existing YAML file)") from None
    except yaml.YAMLError as exc:
        raise SpecError(p, "(file)", f"invalid YAML: {exc}", "fix the YAML syntax") from None
    if not isinstance(doc, dict):
        raise SpecError(p, "(file)", "not a mapping", f"give the lists {', '.join(LISTS)}")
    out: dict[str, list[str]] = {"person_categories": [str(c) for c in doc.get("person_categories", []) or []]}
    for key in LISTS:
        words = doc.get(key, []) or []
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise SpecError(p, key, "not a list of words", "write `[word, other word]`")
        out[key] = normalise_forms(words)
    return out


def phrase_spans(phrases: Sequence[str]) -> frozenset[str]:
    """Every run of whole words of every phrase ("the karate kid" -> "karate kid", "kid", ...).

    Words are runs of word characters, ASCII apostrophes, backticks and hyphens, as the
    tagger's boundaries have it ("kids' party" keeps "kids'"; a curly apostrophe ends a word).

    Examples
    --------
    >>> sorted(phrase_spans(["karate kid", "kids' party"]))
    ['karate', 'karate kid', 'kid', "kids'", "kids' party", 'party']
    """
    out: set[str] = set()
    for p in phrases:
        words = re.findall(r"[\w'`-]+", p)
        for i in range(len(words)):
            for j in range(i + 1, len(words) + 1):
                out.add(" ".join(words[i:j]))
    return frozenset(out)
