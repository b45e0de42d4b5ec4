"""Whole-word multi-pattern tagging of captions with one Aho-Corasick pass per batch.

The speed trick: a batch of (lower-cased) captions is an Arrow string array, i.e.
one contiguous UTF-8 buffer plus offsets. The buffer is viewed as a Latin-1
``str`` (one character per byte, so automaton positions are byte offsets) and
scanned once; match end positions are mapped to rows with ``np.searchsorted``
on the offsets. Matches that straddle two captions are dropped, and word
boundaries are checked with vectorised byte look-ups (only neighbours outside
ASCII are decoded in Python). Keys are UTF-8 encoded the same way, and UTF-8
is self-synchronising, so byte matches are exactly character matches.

Batches of 1,024 captions or more are first filtered with one case-insensitive
RE2 alternation of the ASCII forms, with ``\\b`` only at edges that are ASCII
word characters, plus one alternative that lets every caption with a non-ASCII
character through. That is a superset of the matches
whatever the forms (``café``, ``dr.``, ``İ``) and the batch size; RE2's DFA is
several times faster than the automaton. Only the survivors are lower-cased
(the ASCII kernel when they are all ASCII) and scanned.

A tagger built with :meth:`Tagger.for_lexicon` also applies the sense rules of
:mod:`audit.dataset.senses` (product, animal, modifier and phrase rules) to the
hits of forms that have one, on those captions only.

Examples
--------
>>> import pyarrow as pa
>>> t = Tagger(["woman", "nurse", "police officer"])
>>> rows, ids = t.match(pa.array(["a woman nurse", "policewoman", "the police officer's car"]))
>>> [(int(r), t.surfaces[i]) for r, i in zip(rows, ids)]
[(0, 'woman'), (0, 'nurse'), (2, 'police officer')]
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from itertools import chain

import re

import ahocorasick
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Tagger", "string_buffer"]

# byte class: 0 = not part of a word, 1 = ASCII letter/digit/underscore, 2 = non-ASCII (decode to decide)
_BYTE_CLASS = np.zeros(256, dtype=np.uint8)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _BYTE_CLASS[_c] = 1
_BYTE_CLASS[0x80:] = 2


def string_buffer(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy views of a string array's bytes and offsets (offsets start at 0).

    Parameters
    ----------
    arr
        A ``string`` or ``large_string`` array (nulls read as empty strings).

    Returns
    -------
    data : numpy.ndarray of uint8
        The UTF-8 bytes of all values, back to back.
    offsets : numpy.ndarray of int64
        ``len(arr) + 1`` offsets into ``data``.

    Examples
    --------
    >>> d, o = string_buffer(pa.array(["ab", "c"]))
    >>> bytes(d).decode(), o.tolist()
    ('abc', [0, 2, 3])
    """
    if pa.types.is_large_string(arr.type):
        width = np.int64
    elif pa.types.is_string(arr.type):
        width = np.int32
    else:
        raise TypeError(f"expected a string array, got {arr.type}")
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=width, count=len(arr) + 1, offset=arr.offset * np.dtype(width).itemsize)
    offsets = offsets.astype(np.int64)
    base = int(offsets[0])
    size = int(offsets[-1]) - base
    data = np.frombuffer(bufs[2], dtype=np.uint8, count=size, offset=base) if size else np.zeros(0, np.uint8)
    return data, offsets - base


def _lower(captions: pa.Array) -> pa.Array:
    """Lower-case; the ASCII kernel (about 20x faster) when every caption is ASCII."""
    if pc.all(pc.string_is_ascii(captions)).as_py() is not False:
        return pc.ascii_lower(captions)
    return pc.utf8_lower(captions)


def _prefilter_pattern(surfaces: Sequence[str]) -> str | None:
    """A case-insensitive RE2 alternation of the ASCII surface forms (plus any non-ASCII character).

    A form's edge gets ``\\b`` only where that edge is an ASCII word character
    (``[0-9A-Za-z_]``, RE2's own definition), exactly where the automaton asks
    for a boundary, so on an ASCII caption the pattern matches whenever the
    automaton does. Forms with non-ASCII characters can only match captions
    with non-ASCII characters, which the first alternative lets through.
    ``None``: no ASCII form.

    Examples
    --------
    >>> print(_prefilter_pattern(["dr.", "café", "man", "porn*"]))
    (?:(?-i:[^\\x00-\\x7f])|\\bporn|\\bdr\\.|\\bman\\b)
    """
    forms = sorted({s for s in surfaces if s.isascii()}, key=lambda s: (-len(s), s))
    if not forms:
        return None
    # captions with a non-ASCII character always pass; the class is case-sensitive, because under
    # RE2's case folding [^\\x00-\\x7f] would also exclude the non-ASCII letters that fold to ASCII
    # (KELVIN SIGN -> k, LONG S -> s), which utf8_lower then turns into matches
    alts = ["(?-i:[^\\x00-\\x7f])"]
    for f in forms:
        stem = len(f) > 1 and f.endswith("*")
        f = f[:-1] if stem else f
        left = r"\b" if _BYTE_CLASS[ord(f[0])] == 1 else ""
        right = r"\b" if _BYTE_CLASS[ord(f[-1])] == 1 and not stem else ""
        alts.append(f"{left}{re.escape(f)}{right}")
    return f"(?:{'|'.join(alts)})"


def _is_word_char_before(data: np.ndarray, pos: int, lo: int) -> bool:
    """Is the (non-ASCII) character ending at byte ``pos`` a word character (``str.isalnum``)?"""
    start = pos
    while start > lo and start > pos - 3 and 0x80 <= data[start] < 0xC0:
        start -= 1
    ch = bytes(data[start:pos + 1]).decode("utf-8", errors="ignore")
    return bool(ch) and ch[-1].isalnum()


def _is_word_char_at(data: np.ndarray, pos: int, hi: int) -> bool:
    """Is the (non-ASCII) character starting at byte ``pos`` a word character (``str.isalnum``)?"""
    ch = bytes(data[pos:min(pos + 4, hi)]).decode("utf-8", errors="ignore")
    return bool(ch) and ch[0].isalnum()


class Tagger:
    """An Aho-Corasick automaton over surface forms, matching whole words.

    Parameters
    ----------
    surfaces
        Lower-case surface forms; their position is the id :meth:`match` returns. A form
        ending in ``*`` is a stem: it must start a word but the word may go on
        (``porn*`` matches "pornstar", "pornographic"; morphology without listing
        every inflection).

    senses
        Sense rules applied to the hits (:class:`~audit.dataset.senses.Senses`);
        ``None`` (default) keeps every whole-word hit. :meth:`for_lexicon` builds them.
    sense_model, model_cats
        An optional learned sense model (:class:`~audit.dataset.sense_model.SenseModel`)
        run after the rules on identity hits, and per surface id the bit mask of its
        evaluation categories; :meth:`for_lexicon` builds both.

    Examples
    --------
    >>> t = Tagger(["man", "porn*"])
    >>> t.match(pa.array(["a man", "manhattan", "Man", "Pornstar", "a sporno"]))[0].tolist()
    [0, 2, 3]
    """

    def __init__(self, surfaces: Sequence[str], *, senses=None, sense_model=None, model_cats=None) -> None:
        if not surfaces:
            raise ValueError("a Tagger needs at least one surface form")
        if sense_model is not None and (senses is None or model_cats is None or len(model_cats) != len(surfaces)):
            raise ValueError("a sense model needs the sense rules and one category mask per surface")
        self.surfaces = tuple(surfaces)
        self.senses = senses
        self.sense_model, self.model_cats = sense_model, model_cats
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        # a form ending in "*" is a stem: it matches at a word start and may continue ("porn*": pornstar)
        stem = [len(s) > 1 and s.endswith("*") for s in self.surfaces]
        keys = [(s[:-1] if st else s).encode("utf-8") for s, st in zip(self.surfaces, stem)]
        for i, k in enumerate(keys):
            self._automaton.add_word(k.decode("latin-1"), i)
        self._automaton.make_automaton()
        self._length = np.array([len(k) for k in keys], dtype=np.int64)
        # a boundary is only required next to a word character of the key itself
        self._need_left = np.array([_BYTE_CLASS[k[0]] != 0 for k in keys])
        self._need_right = np.array([_BYTE_CLASS[k[-1]] != 0 and not st for k, st in zip(keys, stem)])
        self._prefilter = _prefilter_pattern(self.surfaces)

    def __reduce__(self):  # rebuild instead of pickling the automaton
        return (partial(Tagger, senses=self.senses, sense_model=self.sense_model, model_cats=self.model_cats),
                (self.surfaces,))

    @classmethod
    def for_lexicon(cls, lexicon, *, rules: Sequence[str] | None = None, senses_path=None,
                    sense_model=None) -> Tagger:
        """A tagger of a lexicon's forms with its sense rules (ids are the lexicon's surface ids).

        Parameters
        ----------
        lexicon
            A :class:`~audit.dataset.lexicon.Lexicon`.
        rules
            Sense rules to apply (default: all of :data:`audit.dataset.senses.RULES`);
            ``()`` gives plain whole-word matching.
        senses_path
            Another context-word file instead of ``data/lexicons/senses.yaml``.
        sense_model
            A :class:`~audit.dataset.sense_model.SenseModel` (or the path of one) to decide
            identity hits after the rules (opt-in; needs the rules). ``None``: rules only.

        Examples
        --------
        >>> from audit.dataset.lexicon import load_lexicons
        >>> lex = load_lexicons()
        >>> t = Tagger.for_lexicon(lex)
        >>> [lex.surfaces[i] for i in t.match(pa.array(["SO Womens V-Neck Sweater", "Mens health: men talk"]))[1]]
        ['mens', 'men']
        """
        from audit.dataset.senses import RULES, Senses, load_senses

        rules = RULES if rules is None else tuple(rules)
        if not rules:
            return cls(lexicon.forms)
        words = load_senses(senses_path)
        person = list(words["person_nouns"])
        cats = set(words["person_categories"])
        for form, cids, mod in zip(lexicon.forms, lexicon.surface_concepts, lexicon.modifier):
            if not mod and any(lexicon.category_of(lexicon.concepts[c]) in cats for c in cids):
                person.append(form)
        words = {**words, "person_nouns": sorted(set(person))}
        senses = Senses(lexicon.forms, modifier=lexicon.modifier, senses=lexicon.senses, words=words, rules=rules)
        if sense_model is None:
            return cls(lexicon.forms, senses=senses)
        from audit.dataset.sense_model import SenseModel, category_masks

        if not isinstance(sense_model, SenseModel):
            sense_model = SenseModel.load(sense_model)
        return cls(lexicon.forms, senses=senses, sense_model=sense_model, model_cats=category_masks(lexicon))

    def match(self, captions: pa.Array, *, distinct: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Find whole-word, case-insensitive occurrences of the surface forms in each caption.

        Parameters
        ----------
        captions
            Captions (string array; nulls count as empty), any case.
        distinct
            Keep each (row, surface) pair once (default); ``False`` keeps every occurrence.

        Returns
        -------
        rows, surface_ids : numpy.ndarray of int64
            One entry per distinct (row, surface) pair (or per occurrence),
            sorted by row then by first position.

        Examples
        --------
        >>> t = Tagger(["nurse"])
        >>> t.match(pa.array(["Nurse nurse", None, "a NURSE"]))[0].tolist()
        [0, 2]
        """
        keep = None
        if self._prefilter is not None and len(captions) >= 1024:
            try:  # one case-insensitive RE2 pass: a form, or any non-ASCII character; survivors are lower-cased
                maybe = pc.match_substring_regex(captions, self._prefilter, ignore_case=True)
            except pa.ArrowException:  # pattern too large for RE2: scan everything
                self._prefilter = None
            else:
                keep = np.flatnonzero(maybe.fill_null(False).to_numpy(zero_copy_only=False))
                captions = captions.take(pa.array(keep))
        lower = _lower(captions)
        row, sid, start, end = self._scan(lower)
        if self.senses is not None and row.size:
            if self.sense_model is None:
                ok = self.senses.keep(lower, row, sid, start, end, original=captions)
            else:
                from audit.dataset.senses import RULES

                ok, why = self.senses.keep(lower, row, sid, start, end, original=captions, reasons=True)
                ok = self.sense_model.keep(captions, row, sid, ok, why, cats=self.model_cats,
                                           surfaces=self.surfaces, rules=RULES)
            row, sid = row[ok], sid[ok]
        if distinct and row.size:
            pair = row * len(self.surfaces) + sid
            _, first = np.unique(pair, return_index=True)
            first.sort()  # keep order of first occurrence (rows are already ascending)
            row, sid = row[first], sid[first]
        return (row if keep is None else keep[row]), sid

    def _scan(self, lower: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every whole-word hit in lower-cased captions: row, form id, first and last byte (in the buffer)."""
        empty = np.zeros(0, np.int64)
        data, offsets = string_buffer(lower)
        if data.size == 0:
            return empty, empty, empty, empty
        text = str(memoryview(data), "latin-1")
        flat = np.fromiter(chain.from_iterable(self._automaton.iter(text)), dtype=np.int64)
        if flat.size == 0:
            return empty, empty, empty, empty
        end, sid = flat[0::2], flat[1::2]
        start = end - self._length[sid] + 1
        row = np.searchsorted(offsets, end, side="right") - 1
        lo, hi = offsets[row], offsets[row + 1]
        ok = start >= lo
        cls_left = np.where(start > lo, _BYTE_CLASS[data[np.maximum(start - 1, 0)]], 0)
        cls_right = np.where(end + 1 < hi, _BYTE_CLASS[data[np.minimum(end + 1, data.size - 1)]], 0)
        cls_left = np.where(self._need_left[sid], cls_left, 0)
        cls_right = np.where(self._need_right[sid], cls_right, 0)
        ok &= (cls_left != 1) & (cls_right != 1)
        for i in np.flatnonzero(ok & ((cls_left == 2) | (cls_right == 2))):
            if cls_left[i] == 2 and _is_word_char_before(data, int(start[i] - 1), int(lo[i])):
                ok[i] = False
            elif cls_right[i] == 2 and _is_word_char_at(data, int(end[i] + 1), int(hi[i])):
                ok[i] = False
        return row[ok], sid[ok], start[ok], end[ok]
