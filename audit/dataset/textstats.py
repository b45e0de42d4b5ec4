"""Streaming text statistics of captions: mergeable counts built batch by batch.

:class:`TextAuditor` turns one Arrow batch of canonical columns (``text`` and,
when present, ``nsfw`` / ``punsafe``) into a :class:`TextCounts`; counts of
batches, shards and Dask workers add with ``+``. Per batch:

1. captions are hashed (DuckDB ``hash``, 64 bit); distinct hashes feed a
   :class:`DistinctCounter`; when at least :data:`DEDUP_BELOW` of the batch
   repeats, only its distinct captions go on (weighted by their row counts);
2. the unique captions are lower-cased (``pc.utf8_lower``) and tagged once by
   the Aho-Corasick :class:`~audit.dataset.tagger.Tagger`;
3. the (caption, concept) pairs, with the flags below, are weighted by how
   many rows carry each caption and folded into a dense co-occurrence matrix
   ``pair[a, b]`` = rows where both ``a`` and ``b`` hold (the diagonal is the
   row count of each), with ``np.bincount`` over the pairs within each caption.

Flags (extra columns of the matrix): ``flag:nsfw`` (the metadata NSFW tag),
``flag:nsfw_known`` (the tag is present), ``flag:any_unsafe`` / ``flag:any_toxic``
(a term of that role is in the caption), ``flag:all`` (every row).

Examples
--------
>>> import pyarrow as pa
>>> from audit.dataset.lexicon import load_lexicons
>>> aud = TextAuditor(load_lexicons())
>>> c = aud.count_batch(pa.RecordBatch.from_pydict({"text": ["a nurse", "A nurse", "a woman nurse"]}))
>>> c.rows_with("profession:nurse"), c.pair_count("gender:woman", "profession:nurse")
(3, 1)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from audit.dataset.columns import caption_strings, nsfw_flags
from audit.dataset.distinct import DistinctCounter, sorted_unique
from audit.dataset.examples import CaptionExamples
from audit.dataset.language import english_mask
from audit.dataset.lexicon import Lexicon, load_stopwords
from audit.dataset.tagger import Tagger, string_buffer

__all__ = ["TextCounts", "TextAuditor", "FLAGS", "LENGTH_BINS", "LONG_CAPTION"]

FLAGS = ("flag:all", "flag:nsfw", "flag:nsfw_known", "flag:any_unsafe", "flag:any_toxic")
#: Caption length histogram edges, in characters (last bin is open).
LENGTH_BINS = (0, 1, 10, 20, 50, 100, 200, 500, 1000, 5000, 60000)
#: Captions at least this long (characters) are counted as ``very_long``.
LONG_CAPTION = 60000
#: Batches with at least this share of repeated captions are de-duplicated before tagging.
DEDUP_BELOW = 0.1
#: One caption in ``STOPWORD_SAMPLE`` (chosen by hash, so batching does not matter)
#: is scanned for stop words.
STOPWORD_SAMPLE = 16

# byte tables for language statistics
_ASCII_LETTER = np.zeros(256, np.uint8)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _ASCII_LETTER[_c] = 1
_WORD_BYTE = np.zeros(256, bool)  # letters, digits and any non-ASCII byte
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
    _WORD_BYTE[_c] = True
_WORD_BYTE[0x80:] = True
#: Control bytes that count as printable (tab, newline, carriage return).
_ALLOWED_CONTROL = np.array([9, 10, 13], np.uint8)


#: Captions longer than this many characters are cut to it before counting (``caption_truncated``):
#: bounds memory per caption (readers of caption files and tars cut at the same size in bytes).
MAX_CAPTION_CHARS = 1 << 20


def _cut_long(text: pa.Array, problems: dict[str, int]) -> pa.Array:
    """Cut captions longer than :data:`MAX_CAPTION_CHARS` characters, counting them.

    Examples
    --------
    >>> p = {}; _cut_long(pa.array(["ab"]), p).to_pylist(), p
    (['ab'], {})
    """
    if not len(text):
        return text
    nbytes = pc.binary_length(text)
    longest = pc.max(nbytes).as_py()
    if longest is None or longest <= MAX_CAPTION_CHARS:
        return text
    chars = pc.utf8_length(text)
    k = int(pc.sum(pc.greater(chars, MAX_CAPTION_CHARS)).as_py() or 0)
    if not k:
        return text
    problems["caption_truncated"] = problems.get("caption_truncated", 0) + k
    return pc.utf8_slice_codeunits(text, 0, MAX_CAPTION_CHARS)


def _group(h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group equal hashes: (distinct hashes, a row of each, row -> group, rows per group).

    Examples
    --------
    >>> u, first, inv, mult = _group(np.array([5, 3, 5], dtype=np.uint64))
    >>> u.tolist(), inv.tolist(), mult.tolist()
    ([3, 5], [1, 0, 1], [1, 2])
    """
    order = np.argsort(h)
    hs = h[order]
    new = np.empty(len(hs), bool)
    new[:1] = True
    np.not_equal(hs[1:], hs[:-1], out=new[1:])
    group = np.cumsum(new) - 1
    inv = np.empty(len(h), np.int64)
    inv[order] = group
    return hs[new], order[new], inv, np.bincount(group, minlength=int(new.sum()))


@dataclass
class TextCounts:
    """Mergeable caption counts (add two with ``+``).

    Attributes
    ----------
    labels
        Concept labels then :data:`FLAGS`; index of ``pair``.
    surfaces
        Lexicon surface forms; index of ``surface_rows``.
    pair
        ``pair[a, b]``: rows where both hold (int64, symmetric).
    surface_rows
        Rows containing each surface form.
    scalars
        Named totals (rows, nulls, empties, lengths, language sums, ...).
    length_hist
        Row counts per :data:`LENGTH_BINS` bin.
    problems
        Repaired or skipped values, by reason (``invalid_utf8``, ``corrupt_tar``...).
    messages
        Up to 50 example messages naming the file at fault.
    rows_skipped
        Rows (or samples) read but not counted, by reason: rows read =
        ``n_rows`` + ``sum(rows_skipped.values())``.
    distinct
        Distinct non-null captions (exact, or HyperLogLog past its limit).
    """

    labels: tuple[str, ...]
    surfaces: tuple[str, ...]
    pair: np.ndarray
    surface_rows: np.ndarray
    scalars: dict[str, float] = field(default_factory=dict)
    length_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(LENGTH_BINS), np.int64))
    problems: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    distinct: DistinctCounter = field(default_factory=DistinctCounter)
    examples: CaptionExamples = field(default_factory=CaptionExamples)
    rows_skipped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls, labels: tuple[str, ...], surfaces: tuple[str, ...]) -> TextCounts:
        """Zero counts for a label set.

        Examples
        --------
        >>> TextCounts.empty(("a",), ("x",)).pair.shape
        (1, 1)
        """
        k = len(labels)
        return cls(labels, surfaces, np.zeros((k, k), np.int64), np.zeros(len(surfaces), np.int64))

    def __iadd__(self, other: TextCounts) -> TextCounts:
        if self.labels != other.labels or self.surfaces != other.surfaces:
            raise ValueError("cannot add TextCounts built from different lexicons")
        for k, v in other.scalars.items():
            self.scalars[k] = max(self.scalars.get(k, v), v) if k.startswith("max_") else self.scalars.get(k, 0) + v
        for k, v in other.problems.items():
            self.problems[k] = self.problems.get(k, 0) + v
        for k, v in other.rows_skipped.items():
            self.rows_skipped[k] = self.rows_skipped.get(k, 0) + v
        self.pair += other.pair
        self.surface_rows += other.surface_rows
        self.length_hist += other.length_hist
        self.messages = (self.messages + other.messages)[:50]
        self.distinct.update(other.distinct)
        self.examples = self.examples + other.examples
        return self

    def __add__(self, other: TextCounts) -> TextCounts:
        out = TextCounts.empty(self.labels, self.surfaces)
        out.distinct = DistinctCounter(exact_limit=self.distinct.exact_limit, p=self.distinct.p)
        out += self
        out += other
        return out

    def note(self, reason: str, message: str = "", *, count: int = 1) -> None:
        """Count a problem and keep an example message.

        Examples
        --------
        >>> c = TextCounts.empty(("a",), ()); c.note("corrupt_tar", "x.tar: truncated"); c.problems
        {'corrupt_tar': 1}
        """
        self.problems[reason] = self.problems.get(reason, 0) + count
        if message and len(self.messages) < 50:
            self.messages.append(f"{reason}: {message}")

    @property
    def n_rows(self) -> int:
        """Rows counted (including null and empty captions)."""
        return int(self.scalars.get("rows", 0))

    @property
    def rows_read(self) -> int:
        """Rows read: counted plus skipped by reason (see :meth:`reconciliation`)."""
        return self.n_rows + sum(self.rows_skipped.values())

    def reconciliation(self) -> dict:
        """``read = counted + skipped by reason``, as plain numbers.

        Examples
        --------
        >>> c = TextCounts.empty(("a",), ()); c.scalars["rows"] = 3; c.rows_skipped["duplicate_key"] = 1
        >>> c.reconciliation()
        {'read': 4, 'counted': 3, 'skipped': {'duplicate_key': 1}}
        """
        return {"read": self.rows_read, "counted": self.n_rows, "skipped": dict(sorted(self.rows_skipped.items()))}

    def rows_with(self, label: str) -> int:
        """Rows where a concept or flag holds.

        Examples
        --------
        >>> TextCounts.empty(("a",), ()).rows_with("a")
        0
        """
        i = self.labels.index(label)
        return int(self.pair[i, i])

    def pair_count(self, a: str, b: str) -> int:
        """Rows where both ``a`` and ``b`` hold."""
        return int(self.pair[self.labels.index(a), self.labels.index(b)])


class TextAuditor:
    """Count one batch of captions at a time against a lexicon.

    Parameters
    ----------
    lexicon
        Merged lexicons (:func:`~audit.dataset.lexicon.load_lexicons`).
    punsafe_threshold
        ``punsafe`` at or above which a row counts as NSFW-tagged.
    exact_distinct_limit
        Distinct captions kept exactly before falling back to HyperLogLog.

    Examples
    --------
    >>> from audit.dataset.lexicon import load_lexicons
    >>> aud = TextAuditor(load_lexicons())
    >>> aud.count_batch(pa.RecordBatch.from_pydict({"text": ["x", None, ""]})).scalars["null"]
    1
    """

    def __init__(self, lexicon: Lexicon, *, punsafe_threshold: float = 0.5,
                 exact_distinct_limit: int = 20_000_000) -> None:
        self.lexicon = lexicon
        self.labels = tuple(lexicon.concepts) + FLAGS
        self.punsafe_threshold = punsafe_threshold
        self.exact_distinct_limit = exact_distinct_limit
        self._tagger = Tagger.for_lexicon(lexicon)
        self._stop_re = r"\b(?:" + "|".join(re.escape(w) for w in load_stopwords()) + r")\b"
        k = len(lexicon.concepts)
        # surface -> concept ids as CSR arrays
        self._surface_nconcepts = np.array([len(c) for c in lexicon.surface_concepts], np.int64)
        self._surface_ptr = np.r_[0, np.cumsum(self._surface_nconcepts)[:-1]].astype(np.int64)
        self._surface_cids = np.array([c for cids in lexicon.surface_concepts for c in cids], np.int64)
        # concept -> label of the text flag it raises (-1: none)
        roles = np.array(lexicon.roles)
        self._flag_label = np.full(k, -1, np.int64)
        self._flag_label[roles == "unsafe"] = self.labels.index("flag:any_unsafe")
        self._flag_label[roles == "toxic"] = self.labels.index("flag:any_toxic")
        self._identity = np.r_[roles == "identity", np.zeros(len(FLAGS), bool)]
        self._con = None

    def __reduce__(self):  # rebuild (automaton, DuckDB connection) in worker processes
        return (partial(TextAuditor, punsafe_threshold=self.punsafe_threshold,
                        exact_distinct_limit=self.exact_distinct_limit), (self.lexicon,))

    def empty(self) -> TextCounts:
        """Zero counts with this auditor's labels."""
        c = TextCounts.empty(self.labels, self.lexicon.surfaces)
        c.distinct = DistinctCounter(exact_limit=self.exact_distinct_limit)
        return c

    def _hash(self, text: pa.Array) -> np.ndarray:
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
            self._con.execute("SET threads=1")
        rel = self._con.from_arrow(pa.table({"t": text}))
        return rel.project("hash(t) AS h").fetchnumpy()["h"].astype(np.uint64)

    def count_batch(self, batch: pa.RecordBatch, *, source: str = "") -> TextCounts:
        """Count one batch with canonical column names (``text``, ``nsfw``, ``punsafe``).

        Parameters
        ----------
        batch
            Rows to count; a missing ``text`` column counts every row as null.
        source
            File name used in problem messages.

        Returns
        -------
        TextCounts

        Examples
        --------
        >>> from audit.dataset.lexicon import load_lexicons
        >>> aud = TextAuditor(load_lexicons())
        >>> c = aud.count_batch(pa.RecordBatch.from_pydict({"text": ["nude woman"], "nsfw": ["NSFW"]}))
        >>> c.pair_count("gender:woman", "flag:nsfw"), c.pair_count("gender:woman", "flag:any_unsafe")
        (1, 1)
        """
        out = self.empty()
        n = batch.num_rows
        if "text" in batch.schema.names:
            text, problems = caption_strings(batch.column("text"))
        else:
            text, problems = pa.nulls(n, pa.string()), {}
        text = _cut_long(text, problems)
        for reason, k in problems.items():
            out.note(reason, f"{source}: {k} caption(s) in column text", count=k)
        valid = text.is_valid().to_numpy(zero_copy_only=False)
        nsfw_problems: dict[str, int] = {}
        nsfw, known, _ = nsfw_flags(batch, punsafe_threshold=self.punsafe_threshold, problems=nsfw_problems)
        for reason, k in nsfw_problems.items():
            out.note(reason, f"{source}: {k} value(s) of the NSFW/punsafe column taken as unknown", count=k)
        if text.null_count:
            text = text.fill_null("")
        lengths = pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
        s = out.scalars
        s["rows"] = n
        s["null"] = int(n - valid.sum())
        s["very_long"] = int((lengths >= LONG_CAPTION).sum())
        s["length_sum"] = int(lengths[valid].sum())
        s["max_length"] = int(lengths.max()) if n else 0
        out.length_hist += np.bincount(np.searchsorted(LENGTH_BINS, lengths[valid], side="right") - 1,
                                       minlength=len(LENGTH_BINS))
        # de-duplicate within the batch by 64-bit hash
        h = self._hash(text)
        s["non_null_rows"] = int(valid.sum())
        distinct = sorted_unique(h[valid] if s["null"] else h)
        out.distinct.add_sorted_unique(distinct)
        grouped = len(distinct) + (1 if s["null"] else 0) < (1 - DEDUP_BELOW) * n
        if grouped:
            uh, first, inv, mult = _group(h)
            uniq = text.take(pa.array(first))
        else:  # few repeats: tagging every row costs less than gathering the distinct ones
            uh, inv, mult, uniq = h, np.arange(n), np.ones(n, np.int64), text
        self._language(out, uniq, mult, uh)
        empty_u = pc.or_(pc.equal(pc.binary_length(uniq), 0), pc.utf8_is_space(uniq)).to_numpy(
            zero_copy_only=False)
        s["empty"] = int(mult[empty_u].sum() - (n - valid.sum()))  # nulls are counted apart
        # tag unique lower-cased captions
        r, sid = self._tagger.match(uniq)
        out.examples = self._examples(r, sid, uh, uniq)
        out.surface_rows += np.bincount(sid, weights=mult[r], minlength=len(self.lexicon.surfaces)).astype(np.int64)
        row_flags = np.stack([np.ones(n, bool), nsfw & known, known], axis=1).astype(np.int64)
        flag_u = row_flags if not grouped else np.stack(
            [np.bincount(inv, weights=row_flags[:, j], minlength=len(uh)) for j in range(3)], axis=1).astype(np.int64)
        self._fold_pairs(out.pair, r, sid, mult, flag_u)
        k = len(self.lexicon.concepts)
        s_nsfw, s_known = int(row_flags[:, 1].sum()), int(row_flags[:, 2].sum())
        out.pair[k:k + 3, k:k + 3] += np.array([[n, s_nsfw, s_known], [s_nsfw, s_nsfw, s_nsfw],
                                                [s_known, s_nsfw, s_known]], np.int64)
        return out

    def _examples(self, r: np.ndarray, sid: np.ndarray, uh: np.ndarray, uniq: pa.Array) -> CaptionExamples:
        """Example captions per concept and per identity x concept pair (:mod:`audit.dataset.examples`)."""
        if not len(r):
            return CaptionExamples()
        per = self._surface_nconcepts[sid]
        first = np.repeat(self._surface_ptr[sid], per)
        within = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
        key = np.unique(np.repeat(r, per) * len(self.labels) + self._surface_cids[first + within])
        return CaptionExamples.from_elements(key // len(self.labels), key % len(self.labels), uh, uniq,
                                             identity=self._identity)

    def _fold_pairs(self, pair: np.ndarray, r: np.ndarray, sid: np.ndarray, mult: np.ndarray,
                    flag_u: np.ndarray) -> None:
        """Add co-occurrences of tagged captions: concept and text-flag pairs, and concept x row flags.

        ``r, sid``: (caption, surface) hits; ``mult``: rows per caption; ``flag_u``:
        per caption, the rows counted by ``flag:all``, ``flag:nsfw``, ``flag:nsfw_known``.
        """
        n_labels = len(self.labels)
        if not len(r):
            return
        # (caption, label) elements: the concepts of each hit, plus any_unsafe / any_toxic
        per = self._surface_nconcepts[sid]
        first = np.repeat(self._surface_ptr[sid], per)
        within = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
        cr = np.repeat(r, per)
        cl = self._surface_cids[first + within]
        flag = self._flag_label[cl]
        has = flag >= 0
        key = np.unique(np.r_[cr * n_labels + cl, cr[has] * n_labels + flag[has]])
        er, el = key // n_labels, key % n_labels  # sorted by caption
        w = mult[er]
        # every pair of labels within a caption (including a label with itself: the diagonal)
        starts = np.flatnonzero(np.r_[True, er[1:] != er[:-1]])
        sizes = np.diff(np.r_[starts, len(er)])
        size_of = np.repeat(sizes, sizes)
        a = np.repeat(np.arange(len(er)), size_of)
        offset = np.arange(len(a)) - np.repeat(np.cumsum(size_of) - size_of, size_of)
        b = np.repeat(np.repeat(starts, sizes), size_of) + offset
        pair += np.rint(np.bincount(el[a] * n_labels + el[b], weights=w[a], minlength=n_labels * n_labels)
                        ).astype(np.int64).reshape(n_labels, n_labels)
        k = len(self.lexicon.concepts)
        for j in range(3):  # labels x row flags (flag:all, flag:nsfw, flag:nsfw_known), both halves
            col = np.rint(np.bincount(el, weights=flag_u[er, j], minlength=n_labels)).astype(np.int64)
            pair[:, k + j] += col
            pair[k + j, :] += col

    def _language(self, out: TextCounts, uniq: pa.Array, mult: np.ndarray, uh: np.ndarray) -> None:
        """Language-quality statistics, weighted by rows.

        Non-printable and U+FFFD (undecodable bytes) are checked on every
        caption; the ASCII-letter share and the stop-word ratio on the one in
        :data:`STOPWORD_SAMPLE` chosen by hash.
        """
        s = out.scalars
        data, offsets = string_buffer(uniq)
        odd = data < 32
        odd |= data == 127
        odd |= data == 0xEF  # lead byte of U+FFFD (EF BF BD), the mark of undecodable bytes
        pos = np.flatnonzero(odd)
        if len(pos):
            val = data[pos]
            ctrl = pos[(val != 0xEF) & ~np.isin(val, _ALLOWED_CONTROL)]
            lead = pos[(val == 0xEF) & (pos + 2 < data.size)]
            lead = lead[(data[lead + 1] == 0xBF) & (data[lead + 2] == 0xBD)]
        else:
            ctrl = lead = pos
        s["nonprintable_rows"] = int(mult[np.unique(np.searchsorted(offsets, ctrl, side="right") - 1)].sum())
        s["replacement_char_rows"] = int(mult[np.unique(np.searchsorted(offsets, lead, side="right") - 1)].sum())
        pick = np.flatnonzero(uh % np.uint64(STOPWORD_SAMPLE) == 0)
        sample = uniq.take(pa.array(pick))
        chars = pc.utf8_length(sample).to_numpy(zero_copy_only=False).astype(np.int64)
        keep = chars > 0
        pick, chars, sample = pick[keep], chars[keep], sample.filter(pa.array(keep))
        if not len(pick):
            return
        data, offsets = string_buffer(sample)
        letters = np.add.reduceat(_ASCII_LETTER[data], offsets[:-1], dtype=np.int64)
        word = _WORD_BYTE[data]
        starts = word.copy()
        starts[1:] &= ~word[:-1]  # a word starts where a word byte follows a non-word byte
        starts[offsets[:-1][chars > 0]] = word[offsets[:-1][chars > 0]]  # or at a caption's start
        words = np.add.reduceat(starts, offsets[:-1], dtype=np.int64)
        stops = pc.count_substring_regex(pc.utf8_lower(sample), self._stop_re).to_numpy(
            zero_copy_only=False).astype(np.int64)
        w = mult[pick]
        ratio = np.divide(stops, words, out=np.zeros(len(pick)), where=words > 0)
        share = letters / chars
        s["lang_sample_rows"] = int(w.sum())
        s["ascii_letter_share_sum"] = float((share * w).sum())
        s["mostly_ascii_letters_rows"] = int(w[share >= 0.5].sum())
        s["stopword_ratio_sum"] = float((np.minimum(ratio, 1.0) * w).sum())
        s["stopword_any_rows"] = int(w[stops > 0].sum())
        s["non_english_rows"] = int(w[~english_mask(sample)].sum())
