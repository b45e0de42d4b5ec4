"""Learned sense model: is an identity hit about a person with the attribute? (opt-in)

The sense rules of :mod:`audit.dataset.senses` decide with fixed context
words. This model decides with a logistic regression over the context of the
hits, learned from hand-labelled real captions, and runs **only on captions
with a hit of an identity form** (every other caption keeps the fast path).

One decision per (caption, evaluation category): gender, age, ethnicity
(ethnicity, nationality and skin-tone forms), religion, disability. Its
features are strings hashed into ``dim`` buckets (CRC-32, so the same on every
platform): the category; which sense rules drop a hit of it and whether one
survives them; the matched forms; the word before and the two words after the
first hit; the caption's words (a bag of words); whether the hit is
capitalised and where it stands; the caption's Title-Case share, length and
digits. With the model on, a hit of an identity form counts when the model's
probability for its caption and category reaches ``threshold`` (a hit the
rules dropped can come back); hits of other categories keep the rules'
decision.

The weights ship as JSON (``data/lexicons/sense_model.json``, no pickle) and
are rebuilt by ``python -m audit.dataset.sense_train`` from the labelled sets
in ``tests/data/`` (see docs/caption-labelling.md).

Examples
--------
>>> import pyarrow as pa
>>> from audit.dataset.lexicon import load_lexicons
>>> from audit.dataset.tagger import Tagger
>>> lex = load_lexicons()
>>> t = Tagger.for_lexicon(lex, sense_model=SenseModel.load())
>>> rows, ids = t.match(pa.array(["Smiling businessman eating a salad", "SO Womens V-Neck Sweater"]))
>>> sorted({int(r) for r in rows})
[0]
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from audit.errors import SpecError, UserError
from audit.resources import data_path

__all__ = ["SenseModel", "CATEGORY_MAP", "CATEGORIES", "features", "collect", "category_masks"]

#: Evaluation categories the model decides, in bit order.
CATEGORIES = ("gender", "age", "ethnicity", "religion", "disability")
#: Lexicon category -> evaluation category.
CATEGORY_MAP = {"gender": "gender", "age": "age", "ethnicity": "ethnicity", "nationality": "ethnicity",
                "skin_tone": "ethnicity", "religion": "religion", "disability": "disability"}
MODEL_FILE = "sense_model.json"
_TOKEN = re.compile(r"[a-z0-9][a-z0-9'-]*")
_CAP_WORD = re.compile(r"\b[A-Za-z][a-z]+\b")


def category_masks(lexicon) -> np.ndarray:
    """Per surface id of ``lexicon``, the bit mask over :data:`CATEGORIES` of its concepts (0: no identity form).

    Examples
    --------
    >>> from audit.dataset.lexicon import load_lexicons
    >>> lex = load_lexicons()
    >>> m = category_masks(lex)
    >>> int(m[lex.forms.index("woman")]) == 1 << CATEGORIES.index("gender")
    True
    """
    cats = np.zeros(len(lexicon.forms), np.int64)
    for i, cids in enumerate(lexicon.surface_concepts):
        for c in cids:
            ev = CATEGORY_MAP.get(lexicon.category_of(lexicon.concepts[c]))
            if ev is not None:
                cats[i] |= 1 << CATEGORIES.index(ev)
    return cats


def features(caption: str, category: str, forms: Sequence[str], drops: Sequence[str], kept: bool) -> list[str]:
    """The feature strings of one (caption, category) decision.

    Parameters
    ----------
    caption
        The caption as written (any case).
    category
        Evaluation category (one of :data:`CATEGORIES`).
    forms
        The lexicon forms of that category found in the caption.
    drops
        Sense rules that drop a hit of that category.
    kept
        Whether a hit of that category survives the rules.

    Examples
    --------
    >>> f = features("Women's Snowboard", "gender", ["women's"], ["product"], False)
    >>> "drop:product:gender" in f and "w:snowboard" in f and "next:snowboard" in f
    True
    """
    lower = caption.lower()
    words = _TOKEN.findall(lower)
    out = [f"cat:{category}", f"kept:{kept}", f"kept:{kept}:{category}"]
    for r in drops:
        out += [f"drop:{r}", f"drop:{r}:{category}"]
    out += [f"w:{w}" for w in sorted(set(words))]
    for form in sorted(set(forms)):
        out.append(f"form:{form}")
        parts = _TOKEN.findall(form.rstrip("*"))
        if parts and parts[0] in words:
            i = words.index(parts[0])
            j = i + len(parts)
            out += [f"prev:{words[i - 1] if i else '^'}", f"next:{words[j] if j < len(words) else '$'}",
                    f"next2:{words[j + 1] if j + 1 < len(words) else '$'}"]
        at = lower.find(form.rstrip("*"))
        if at >= 0:
            out += [f"cap:{caption[at].isupper()}", f"pos:{min(at * 4 // max(len(caption), 1), 3)}"]
    cap_words = _CAP_WORD.findall(caption)
    title = sum(w[0].isupper() for w in cap_words) / max(len(cap_words), 1)
    out += [f"title:{int(title * 4)}", f"len:{min(len(words) // 5, 6)}",
            f"digits:{any(c.isdigit() for c in caption)}"]
    return out


def hash_features(strings: Sequence[str], dim: int) -> np.ndarray:
    """Bucket of each feature string (CRC-32 of its UTF-8 bytes, modulo ``dim``), unique.

    Examples
    --------
    >>> hash_features(["cat:gender", "cat:gender"], 1 << 15).tolist()
    [3189]
    """
    return np.unique(np.fromiter((zlib.crc32(s.encode("utf-8")) % dim for s in strings), np.int64,
                                 count=len(strings)))


def collect(captions: pa.Array, row: np.ndarray, sid: np.ndarray, ok: np.ndarray, why: np.ndarray, *,
            cats: np.ndarray, surfaces: Sequence[str], rules: Sequence[str]) -> list[tuple[int, int, list[str]]]:
    """The model's decisions to take: ``(row, category index, feature strings)`` per caption and category.

    ``cats`` holds, per surface id, a bit mask over :data:`CATEGORIES` (0: not an
    identity form); ``ok`` and ``why`` are the sense rules' decision and drop
    reasons per hit (bit ``i`` = ``rules[i]``).
    """
    m = np.flatnonzero(cats[sid] != 0)
    if not m.size:
        return []
    groups: dict[tuple[int, int], list[int]] = {}
    for j in m.tolist():
        bits = int(cats[sid[j]])
        for b in range(len(CATEGORIES)):
            if bits >> b & 1:
                groups.setdefault((int(row[j]), b), []).append(j)
    uniq = sorted({r for r, _ in groups})
    text = dict(zip(uniq, captions.take(pa.array(uniq, pa.int64())).to_pylist()))
    out = []
    for (r, b), js in groups.items():
        reasons = int(np.bitwise_or.reduce(why[js]))
        drops = [x for i, x in enumerate(rules) if reasons >> i & 1]
        out.append((r, b, features(text[r] or "", CATEGORIES[b], [surfaces[sid[j]] for j in js], drops,
                                   bool(ok[js].any()))))
    return out


class SenseModel:
    """A logistic regression over hashed context features (see the module docstring).

    Parameters
    ----------
    weights
        One weight per hash bucket (length ``dim``).
    bias
        The intercept.
    threshold
        Probability at or above which a (caption, category) counts.
    meta
        Provenance (training sets, sizes, cross-validated figures), stored with the weights.

    Examples
    --------
    >>> m = SenseModel(np.zeros(8), bias=1.0)
    >>> round(float(m.probability([["cat:gender"]])[0]), 3)
    0.731
    """

    def __init__(self, weights: np.ndarray, *, bias: float, threshold: float = 0.5, meta: dict | None = None) -> None:
        self.weights = np.asarray(weights, np.float64)
        self.dim = int(self.weights.size)
        self.bias, self.threshold, self.meta = float(bias), float(threshold), dict(meta or {})

    def probability(self, items: Sequence[Sequence[str]]) -> np.ndarray:
        """Probability per item (a list of feature strings)."""
        z = np.array([self.weights[hash_features(f, self.dim)].sum() for f in items], np.float64) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def keep(self, captions: pa.Array, row: np.ndarray, sid: np.ndarray, ok: np.ndarray, why: np.ndarray, *,
             cats: np.ndarray, surfaces: Sequence[str], rules: Sequence[str]) -> np.ndarray:
        """The hits that count with the model: identity hits by its decision, the others as the rules said."""
        items = collect(captions, row, sid, ok, why, cats=cats, surfaces=surfaces, rules=rules)
        out = ok.copy()
        if not items:
            return out
        yes = self.probability([f for _, _, f in items]) >= self.threshold
        decided = {(r, b): bool(y) for (r, b, _), y in zip(items, yes)}
        for j in np.flatnonzero(cats[sid] != 0).tolist():
            bits = int(cats[sid[j]])
            out[j] = any(decided.get((int(row[j]), b), False) for b in range(len(CATEGORIES)) if bits >> b & 1)
        return out

    @classmethod
    def load(cls, path: str | Path | None = None) -> SenseModel:
        """Read a model file (default: the shipped ``data/lexicons/sense_model.json``)."""
        p = Path(path) if path is not None else data_path("lexicons", MODEL_FILE)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{p}: sense model file not found (fix: pass an existing file or rebuild it with "
                            "`python -m audit.dataset.sense_train`)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(p, "(file)", f"not JSON ({exc})", "rebuild it with `python -m audit.dataset.sense_train`")
        try:
            dim = int(doc["dim"])
            w = np.zeros(dim, np.float64)
            idx = np.asarray(doc["index"], np.int64)
            w[idx] = np.asarray(doc["weight"], np.float64)
            return cls(w, bias=float(doc["bias"]), threshold=float(doc["threshold"]), meta=doc.get("meta", {}))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise SpecError(p, "(file)", f"not a sense model ({exc!r})",
                            "rebuild it with `python -m audit.dataset.sense_train`") from None

    def save(self, path: str | Path) -> None:
        """Write the model as JSON (non-zero weights only, 6 significant digits), atomically."""
        nz = np.flatnonzero(np.abs(self.weights) >= 1e-6)
        doc = {"format": "imagen-audit sense model 1", "dim": self.dim, "bias": round(self.bias, 6),
               "threshold": self.threshold, "meta": self.meta, "index": nz.tolist(),
               "weight": [float(f"{w:.6g}") for w in self.weights[nz]]}
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
        tmp.replace(p)
