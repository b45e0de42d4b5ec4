"""Sense rules: is a lexicon hit used in the sense the audit counts?

A word list finds words, not meaning: "Women's leather jacket" names an
audience, "Japanese Audiobook" no person, "female ... male" plumage a bird,
"Karate Kid" a film. The rules below run after the Aho-Corasick scan of
:class:`~audit.dataset.tagger.Tagger`, and **only on captions with a hit whose
form has a rule** (the fast path is untouched for every other caption). They
read context words from ``data/lexicons/senses.yaml`` with a second automaton
over those captions only, and decide with vectorised word distances:

``modifier``
    A *modifier* form (lexicon ``modifiers:``) counts only with a person noun
    1-3 words after it or directly before it: "young caucasian woman",
    "japanese artist"; not "Japanese Audiobook", "Christian Hilz".
``product``
    In categories with ``senses: [product]`` (gender, age), a form followed
    within 3 words by a product noun (with no link word such as "in", "with",
    "wearing" before it: "girl in a red dress" stays a person), or right after
    one ("Tank Top - Mens"), or in ``for ...`` form with a product noun
    anywhere in the caption, names an audience: "Kids Birthday Invitation";
    "haircuts for women" stays a person. A possessive or audience form
    (``women's``, ``kid's``; ``mens``, ``womens``, ``unisex``) is an audience
    unless a person noun follows within 3 words or a possessive determiner
    comes before it: "Women's Snowboard", "Kid's Snack Pack" (whatever the
    product is called); "Women's Rugby Player", "your child's learning" stay
    persons.
``animal``
    In categories with ``senses: [animal]``, a form 1-2 words before an
    animal noun (no link word between: "female lion", "baby elephant"; not
    "woman with her dog") or right after one ("Elephant Baby"), or a
    male/female form anywhere with one, describes an animal.
``not_person``
    A hit inside a listed phrase (occasions, idioms, titles of works: "baby
    shower", "Karate Kid") is dropped.
``name``
    A Capitalised gender/age form or modifier right after a Capitalised word
    that is no lexicon, context or stop word, in a caption written in sentence
    case, ends a proper name: "Truong Son muntjac", "Epiphanny Prince",
    "attends the Sky Women in Film". Title Case and ALL CAPS captions are
    left alone (their capitals say nothing).
``url``
    A hit inside a URL is dropped.

An NLP stage (spaCy's small English pipeline) was measured and left out, and
a learned sense model can run after these rules (:mod:`audit.dataset.sense_model`);
see docs/dataset-audit.md, *Tagging quality*.

Words are runs of letters, digits and non-ASCII characters, continued by
apostrophes and hyphens, so "women's" and "light-skinned" are one word each
and a lone " - " is none.

Examples
--------
>>> import pyarrow as pa
>>> from audit.dataset.lexicon import load_lexicons
>>> from audit.dataset.tagger import Tagger
>>> lex = load_lexicons()
>>> t = Tagger.for_lexicon(lex)
>>> caps = pa.array(["Women's leather jacket", "a smiling woman", "Japanese Audiobook", "japanese artist"])
>>> rows, ids = t.match(caps)
>>> sorted({(int(r), lex.concepts[lex.surface_concepts[i][0]]) for r, i in zip(rows, ids)})
[(1, 'gender:woman'), (3, 'nationality:japanese'), (3, 'profession:artist')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from audit.dataset.sense_words import phrase_spans, load_senses

__all__ = ["Senses", "RULES", "load_senses"]

#: The rules, in the order they are applied; pass a subset to switch others off.
RULES = ("modifier", "product", "animal", "not_person", "name", "url")
_KINDS = ("person", "product", "animal", "not_person")
#: Words that link a person to a garment ("girl in a red dress"): a product noun after one is not an audience.
LINK_WORDS = ("in", "with", "wearing", "wears", "holding", "holds", "on", "at", "and", "from", "by", "of", "for",
              "has", "shows", "model", "models")
_LINK_RE = re.compile(r"(?<![\w'-])(?:" + "|".join(LINK_WORDS) + r")(?![\w'-])")
#: Audience spellings that are not plain nouns: alone (no person noun after) they label a product's audience.
_OWNER_FORMS = ("mens", "womens", "unisex")
#: A possessive determiner before a possessive form makes it a person ("your child's", "her kids'").
_OWNER_RE = re.compile(r"(?:your|my|his|her|their|our|its)")
#: Lower-case words of 4+ letters that do not make a caption "sentence case" (stop words).
_STOP4 = ("with", "from", "that", "this", "your", "have", "been", "were", "will", "into", "them", "they", "than",
          "then", "what", "when", "some", "also", "more", "most", "only", "over", "such", "very", "just", "their",
          "there", "where", "which", "about", "these", "those", "other")
_LOWER_WORD_RE = r"\b[a-z]{4,}\b"
_STOP4_RE = r"\b(?:" + "|".join(_STOP4) + r")\b"
_WINDOW = 3
_NUMBERS = frozenset("one two three four five six seven eight nine ten eleven twelve twenty hundred first second third "
                     "fourth fifth last next several many few some all both".split())

# word counting: a word starts at a letter, digit or non-ASCII byte that does not follow a word byte;
# apostrophes, backticks and hyphens continue a word ("women's", "t-shirt") but never start one
_ALNUM = np.zeros(256, bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _ALNUM[_c] = True
_ALNUM[0x80:] = True
_WORD = _ALNUM.copy()
for _c in b"'`-":
    _WORD[_c] = True


class Senses:
    """Sense rules over the hits of one lexicon's forms (built by :meth:`Tagger.for_lexicon`).

    Parameters
    ----------
    forms
        The tagger's forms (lower-case), aligned with its surface ids.
    modifier, senses
        Per form: needs a person noun; the category's context rules.
    words
        Context lists as from :func:`load_senses`, plus ``person_nouns`` already
        extended with the person categories' forms.
    rules
        Rules to apply (subset of :data:`RULES`).

    Examples
    --------
    >>> s = Senses(["asian"], modifier=[True], senses=[frozenset()], words=load_senses())
    >>> s.flagged.tolist()
    [True]
    """

    def __init__(self, forms: Sequence[str], *, modifier: Sequence[bool], senses: Sequence[frozenset[str]],
                 words: dict[str, list[str]], rules: Sequence[str] = RULES) -> None:
        from audit.dataset.tagger import Tagger

        bad = set(rules) - set(RULES)
        if bad:
            raise ValueError(f"unknown sense rules {sorted(bad)}; choose from {RULES}")
        self.forms, self.rules, self.words = tuple(forms), tuple(rules), words
        self._args = (self.forms, tuple(modifier), tuple(senses))
        self.modifier = np.array(modifier, bool) & ("modifier" in rules)
        self.product = np.array(["product" in s for s in senses], bool) & ("product" in rules)
        self.animal = np.array(["animal" in s for s in senses], bool) & ("animal" in rules)
        phrases = words["not_person"] if "not_person" in rules else []
        spans = phrase_spans(phrases)
        self.in_phrase = np.array([f in spans for f in forms], bool)
        self.audience = np.isin(np.array(forms, object), words["audience_forms"])
        self.owner = np.isin(np.array(forms, object), _OWNER_FORMS)
        self.sex_form = np.isin(np.array(forms, object), words["sex_forms"])
        self.name = (np.array(["product" in s for s in senses], bool) | np.array(modifier, bool)) & ("name" in rules)
        self.flagged = self.modifier | self.product | self.animal | self.in_phrase | self.name
        self.url = self.flagged & ("url" in rules)
        from audit.dataset.lexicon import load_stopwords

        self._stop = frozenset(load_stopwords())
        lists = {"person": words["person_nouns"], "product": words["product_nouns"],
                 "animal": words["animal_nouns"], "not_person": phrases}
        ctx: dict[str, int] = {}
        for bit, kind in enumerate(_KINDS):
            for w in lists[kind]:
                ctx[w] = ctx.get(w, 0) | (1 << bit)
        self._ctx_words = tuple(ctx)
        self._known = frozenset(self.forms) | frozenset(ctx)
        self._ctx_kind = np.array(list(ctx.values()), np.int64)
        self._context = Tagger(self._ctx_words) if ctx else None

    def __reduce__(self):
        forms, modifier, senses = self._args
        return (_rebuild, (forms, modifier, senses, self.words, self.rules))

    def keep(self, lower: pa.Array, row: np.ndarray, sid: np.ndarray, start: np.ndarray,
             end: np.ndarray, *, original: pa.Array | None = None, reasons: bool = False):
        """Which hits are used in the counted sense.

        Parameters
        ----------
        lower
            The lower-cased captions the hits come from.
        row, sid, start, end
            One entry per hit: caption, form id, first and last byte in the buffer of ``lower``.
        original
            The captions before lower-casing (the ``name`` rule reads their capitals).
        reasons
            Also return, per hit, the rules that drop it (bit ``i`` = ``RULES[i]``).

        Returns
        -------
        numpy.ndarray of bool, or (bool array, int64 array) with ``reasons``
        """
        from audit.dataset.tagger import string_buffer

        ok = np.ones(len(row), bool)
        why_all = np.zeros(len(row), np.int64)
        h = np.flatnonzero(self.flagged[sid])
        if not h.size or self._context is None:
            return (ok, why_all) if reasons else ok
        _, offsets = string_buffer(lower)
        cand = np.unique(row[h])
        sub = lower.take(pa.array(cand))
        data, coffs = string_buffer(sub)
        hr = np.searchsorted(cand, row[h])
        shift = coffs[hr] - offsets[row[h]]
        hs, he = start[h] + shift, end[h] + shift
        crow, cid, cs, ce = self._context._scan(sub)
        word = _WORD[data]
        first = _ALNUM[data]
        first[1:] &= ~word[:-1]
        starts = coffs[:-1][coffs[1:] > coffs[:-1]]
        first[starts] = _ALNUM[data[starts]]  # a caption's first word starts a word whatever the last caption ended with
        widx = np.cumsum(first)  # word number of each byte (global, rows are contiguous)
        wstart = np.flatnonzero(first)  # first byte of word k (1-based) is wstart[k - 1]
        big = int(widx[-1]) + 10 if widx.size else 10
        t_first, t_last = widx[hs], widx[he]
        kinds = self._ctx_kind[cid] if cid.size else np.zeros(0, np.int64)
        c_first = widx[cs] if cs.size else np.zeros(0, np.int64)
        c_last = widx[ce] if ce.size else np.zeros(0, np.int64)

        cache: dict[tuple[str, bool], np.ndarray] = {}

        def keys_of(kind: str, *, by_last: bool = False) -> np.ndarray:
            if (kind, by_last) not in cache:
                m = (kinds & (1 << _KINDS.index(kind))) > 0
                cache[kind, by_last] = np.sort(crow[m] * big + (c_last[m] if by_last else c_first[m]))
            return cache[kind, by_last]

        def near(kind: str, lo: np.ndarray, hi: np.ndarray, *, by_last: bool = False) -> np.ndarray:
            """Per flagged hit: a context word of ``kind`` in its row starting (ending) in word range [lo, hi]."""
            keys = keys_of(kind, by_last=by_last)
            base = hr * big
            return np.searchsorted(keys, base + hi, side="right") > np.searchsorted(keys, base + lo, side="left")

        def near_unlinked(lo: np.ndarray, hi: np.ndarray, kind: str = "product") -> np.ndarray:
            """A ``kind`` word in word range [lo, hi] with no link word ("in", "with", ...) before it."""
            keys = keys_of(kind)
            base = hr * big
            i = np.searchsorted(keys, base + lo, side="left")
            first_key = keys[np.minimum(i, max(keys.size - 1, 0))] if keys.size else np.zeros(h.size, np.int64)
            found = (i < keys.size) & (first_key <= base + hi)
            for j in np.flatnonzero(found & (first_key > base + lo)):  # words between: read them (rare)
                a, b = int(he[j]) + 1, int(wstart[first_key[j] - base[j] - 1])
                found[j] = not _LINK_RE.search(bytes(data[a:b]).decode("utf-8", "ignore"))
            return found

        def link_before(j_mask: np.ndarray, pattern: re.Pattern = _LINK_RE) -> np.ndarray:
            """The word right before the hit is a link word (or matches ``pattern``)."""
            out = np.zeros(h.size, bool)
            for j in np.flatnonzero(j_mask & (t_first >= 2)):
                a = int(wstart[t_first[j] - 2])
                out[j] = a >= coffs[hr[j]] and bool(pattern.fullmatch(bytes(data[a:hs[j]]).decode("utf-8", "ignore").strip()))
            return out

        why = np.zeros(h.size, np.int64)  # bit i: RULES[i] drops the hit

        def mark(rule: str, cond: np.ndarray) -> None:
            why[cond] |= 1 << RULES.index(rule)

        mod = self.modifier[sid[h]]
        if mod.any():
            person = near("person", t_last + 1, t_last + _WINDOW) | near("person", t_first - 1, t_first - 1,
                                                                          by_last=True)
            mark("modifier", mod & ~person)
        prod = self.product[sid[h]]
        if prod.any():
            nxt = np.minimum(he + 1, max(data.size - 1, 0))
            row_end = coffs[hr + 1]
            apos = (he + 1 < row_end) & ((data[nxt] == ord("'")) | (data[nxt] == ord("`")) | (data[nxt] == 0xE2))
            for_before = np.zeros(h.size, bool)
            i4 = np.flatnonzero(prod & (hs - 4 >= coffs[hr]))
            for_before[i4] = np.logical_and.reduce([data[hs[i4] - 4 + k] == b for k, b in enumerate(b"for ")])
            audience = self.audience[sid[h]] | apos | for_before
            in_row = near("product", np.zeros(h.size, np.int64), np.full(h.size, big - 1))
            after = near_unlinked(t_last + 1, t_last + _WINDOW)
            before = near("product", t_first - 2, t_first - 1, by_last=True)
            before &= ~link_before(before)
            # a possessive or audience form ("Women's", "mens", "ladies") names a person only with a
            # person noun right after it ("women's rugby player"): "Women's Snowboard", "Kid's Snack Pack"
            # are audiences whatever the product is called (no product-noun list needed)
            owner = (self.owner[sid[h]] | apos) & ~near("person", t_last + 1, t_last + _WINDOW)
            owner &= ~link_before(owner, _OWNER_RE)  # "your child's learning", "her kids' toys": a person
            mark("product", prod & (after | before | (audience & in_row) | owner))
        ani = self.animal[sid[h]]
        if ani.any():
            close = near_unlinked(t_last + 1, t_last + 2, "animal") | near("animal", t_first - 1, t_first - 1,
                                                                           by_last=True)
            anywhere = near("animal", np.zeros(h.size, np.int64), np.full(h.size, big - 1))
            mark("animal", ani & (close | (self.sex_form[sid[h]] & anywhere)))
        phr = self.in_phrase[sid[h]]
        if phr.any():
            m = (kinds & (1 << _KINDS.index("not_person"))) > 0
            cover = np.zeros(data.size + 1, np.int64)
            np.add.at(cover, cs[m], 1)
            np.add.at(cover, ce[m] + 1, -1)
            covered = np.cumsum(cover)[:data.size] > 0
            mark("not_person", phr & covered[hs] & covered[he])
        if self.url[sid[h]].any():
            url_rows = pc.match_substring_regex(sub, r"http|www\.").to_numpy(zero_copy_only=False)
            at = np.flatnonzero(self.url[sid[h]] & url_rows[hr])
            mark("url", at[self._in_url(data, coffs, hr[at], hs[at])])
        if original is not None and self.name[sid[h]].any():
            osub = original.take(pa.array(cand))
            odata, ooffs = string_buffer(osub)
            same = ooffs[hr + 1] - ooffs[hr] == coffs[hr + 1] - coffs[hr]  # byte-aligned with the lower-cased row
            maybe = np.flatnonzero(self.name[sid[h]] & (why == 0) & same & (t_first >= 2))
            if maybe.size:  # vectorised pre-checks: "Xxx Yyy" with the hit at Yyy
                shift_o = ooffs[hr[maybe]] - coffs[hr[maybe]]
                prev = wstart[t_first[maybe] - 2]
                up = lambda pos: (odata[pos] >= 65) & (odata[pos] <= 90)  # noqa: E731
                low = lambda pos: (odata[pos] >= 97) & (odata[pos] <= 122)  # noqa: E731
                keep = ((prev >= coffs[hr[maybe]]) & up(hs[maybe] + shift_o) & up(prev + shift_o)
                        & low(np.minimum(prev + 1 + shift_o, odata.size - 1)) & (odata[hs[maybe] - 1 + shift_o] == 32))
                maybe = maybe[keep]
            if maybe.size:  # sentence case: a lower-case word of 4+ letters that is no stop word
                rows_m = np.unique(hr[maybe])
                text_m = osub.take(pa.array(rows_m))
                n_low = pc.count_substring_regex(text_m, _LOWER_WORD_RE).to_numpy(zero_copy_only=False)
                n_stop = pc.count_substring_regex(text_m, _STOP4_RE).to_numpy(zero_copy_only=False)
                sentence = np.zeros(len(cand), bool)
                sentence[rows_m] = n_low > n_stop
                maybe = maybe[sentence[hr[maybe]]]
            for i in maybe:
                if self._after_name(odata[ooffs[hr[i]]:ooffs[hr[i] + 1]], int(hs[i] - coffs[hr[i]])):
                    why[i] |= 1 << RULES.index("name")
        ok[h[why > 0]] = False
        why_all[h] = why
        return (ok, why_all) if reasons else ok

    @staticmethod
    def _in_url(data: np.ndarray, coffs: np.ndarray, hr: np.ndarray, hs: np.ndarray) -> np.ndarray:
        """Hits inside a URL ("http..." or "www." up to the next space, quote or bracket)."""
        out = np.zeros(hr.size, bool)
        for i in range(hr.size):
            lo = int(coffs[hr[i]])
            text = bytes(data[lo:hs[i]])
            cut = max(text.rfind(c) for c in (b" ", b'"', b"'", b"<", b">", b"("))
            token = text[cut + 1:]
            out[i] = b"http" in token or b"www." in token
        return out

    def _after_name(self, orig: np.ndarray, pos: int) -> bool:
        """The ``name`` rule: a Capitalised hit right after a Capitalised word that is no lexicon,
        context or stop word ("Truong Son", "Epiphanny Prince", "the Sky Women"), in a caption
        written in sentence case (it has a lower-case word of 4+ letters that is no stop word;
        in Title Case or ALL CAPS alt-text capitals say nothing)."""
        text = bytes(orig).decode("utf-8", "ignore")
        before = text[:pos]
        if not before.endswith(" "):
            return False
        m = re.search(r"([A-Za-z][A-Za-z']*)\s$", before)
        prev = m.group(1) if m else ""
        if len(prev) < 2 or not prev[0].isupper() or not prev[1:].replace("'", "").isalpha() or not prev[1:].islower():
            return False
        return not (prev.lower() in self._stop or prev.lower() in self._known or prev.lower() in _NUMBERS)


def _rebuild(forms, modifier, senses, words, rules) -> Senses:
    return Senses(forms, modifier=modifier, senses=senses, words=words, rules=rules)
