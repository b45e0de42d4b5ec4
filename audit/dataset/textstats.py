"""Streaming text statistics of captions: mergeable counts built batch by batch.

:class:`TextAuditor` turns one Arrow batch of canonical columns (``text`` and,
when present, ``nsfw`` / ``punsafe``) into a :class:`~audit.dataset.counts.TextCounts`;
counts of batches, shards and Dask workers add with ``+``. Per batch, the work is
done once per **distinct** caption and weighted by how many rows carry it:

1. a dictionary-encoded caption column (how parquet stores repeated captions,
   read so by :mod:`audit.dataset.sources`) gives the distinct captions and
   their row counts directly (``np.bincount`` of the indices); otherwise
   captions are hashed (DuckDB ``hash``, 64 bit) and, when at least
   :data:`DEDUP_BELOW` of the batch repeats, grouped by hash;
2. distinct hashes feed a :class:`~audit.dataset.distinct.DistinctCounter`;
3. the distinct captions are tagged once by the Aho-Corasick
   :class:`~audit.dataset.tagger.Tagger` (with its sense rules);
4. the (caption, concept) pairs, with the flags below, are weighted by rows and
   folded into a dense co-occurrence matrix ``pair[a, b]`` = rows where both
   ``a`` and ``b`` hold (the diagonal is the row count of each).

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

from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from audit.dataset.columns import caption_strings, nsfw_flags
from audit.dataset.counts import FLAGS, LENGTH_BINS, LONG_CAPTION, TextCounts
from audit.dataset.distinct import DistinctCounter, sorted_unique
from audit.dataset.examples import CaptionExamples
from audit.dataset.langstats import STOPWORD_SAMPLE, language_stats, stopword_pattern
from audit.dataset.lexicon import Lexicon
from audit.dataset.tagger import Tagger

__all__ = ["TextCounts", "TextAuditor", "FLAGS", "LENGTH_BINS", "LONG_CAPTION", "STOPWORD_SAMPLE",
           "MAX_CAPTION_CHARS", "DEDUP_BELOW"]

#: Batches with at least this share of repeated captions are de-duplicated before tagging.
DEDUP_BELOW = 0.1
#: Stand-in hash of null captions when grouping (a real caption hashing to it is a 2**-64 event).
_NULL_HASH = np.uint64(0x9E3779B97F4A7C15)
#: Captions longer than this many characters are cut to it before counting (``caption_truncated``):
#: bounds memory per caption (readers of caption files and tars cut at the same size in bytes).
MAX_CAPTION_CHARS = 1 << 20


def _cut_long(text: pa.Array, problems: dict[str, int], weights: np.ndarray | None = None) -> pa.Array:
    """Cut captions longer than :data:`MAX_CAPTION_CHARS` characters, counting them (rows, by ``weights``).

    Examples
    --------
    >>> p = {}; _cut_long(pa.array(["ab"]), p).to_pylist(), p
    (['ab'], {})
    """
    if not len(text):
        return text
    longest = pc.max(pc.binary_length(text)).as_py()
    if longest is None or longest <= MAX_CAPTION_CHARS:
        return text
    over = np.asarray(pc.fill_null(pc.greater(pc.utf8_length(text), MAX_CAPTION_CHARS), False)
                      .to_numpy(zero_copy_only=False), bool)
    k = int(over.sum() if weights is None else weights[over].sum())
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


def _string_dictionary(col) -> bool:
    """Is ``col`` dictionary-encoded with string values (the distinct captions come for free)?"""
    return pa.types.is_dictionary(col.type) and (pa.types.is_string(col.type.value_type)
                                                 or pa.types.is_large_string(col.type.value_type))


class _Distinct:
    """A batch's captions reduced to distinct ones: ``uniq[g]`` is carried by ``mult[g]`` rows,
    row ``r`` belongs to group ``inv[r]`` (``None``: group = row), ``valid[g]`` is False for the null group."""

    __slots__ = ("uniq", "mult", "inv", "valid", "hashes", "distinct")

    def __init__(self, uniq: pa.Array, mult: np.ndarray, inv: np.ndarray | None, valid: np.ndarray,
                 hashes: np.ndarray, distinct: np.ndarray | None = None) -> None:
        self.uniq, self.mult, self.inv, self.valid, self.hashes = uniq, mult, inv, valid, hashes
        self.distinct = distinct if distinct is not None else sorted_unique(hashes[valid])

    def per_group(self, row_values: np.ndarray) -> np.ndarray:
        """Sum a per-row 0/1 array over groups."""
        if self.inv is None:
            return row_values.astype(np.int64)
        if not row_values.any():
            return np.zeros(len(self.mult), np.int64)
        if row_values.all():
            return self.mult
        return np.bincount(self.inv[row_values.astype(bool)], minlength=len(self.mult)).astype(np.int64)


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
    sense_model
        Opt-in learned sense model after the rules (a
        :class:`~audit.dataset.sense_model.SenseModel` or the path of one; see
        :meth:`Tagger.for_lexicon <audit.dataset.tagger.Tagger.for_lexicon>`). ``None``: rules only.

    Examples
    --------
    >>> from audit.dataset.lexicon import load_lexicons
    >>> aud = TextAuditor(load_lexicons())
    >>> aud.count_batch(pa.RecordBatch.from_pydict({"text": ["x", None, ""]})).scalars["null"]
    1
    """

    def __init__(self, lexicon: Lexicon, *, punsafe_threshold: float = 0.5,
                 exact_distinct_limit: int = 20_000_000, sense_model=None) -> None:
        self.lexicon = lexicon
        self.sense_model = sense_model
        self.labels = tuple(lexicon.concepts) + FLAGS
        self.punsafe_threshold = punsafe_threshold
        self.exact_distinct_limit = exact_distinct_limit
        self._tagger = Tagger.for_lexicon(lexicon, sense_model=sense_model)
        self._stop_re = stopword_pattern()
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
        self._last_dictionary: tuple[pa.Array, np.ndarray] | None = None

    def __reduce__(self):  # rebuild (automaton, DuckDB connection) in worker processes
        return (partial(TextAuditor, punsafe_threshold=self.punsafe_threshold,
                        exact_distinct_limit=self.exact_distinct_limit, sense_model=self.sense_model),
                (self.lexicon,))

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

    def _from_dictionary(self, col, problems: dict[str, int]) -> _Distinct:
        """Distinct captions of a dictionary-encoded column: the used values, weighted by their indices."""
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        idx = col.indices
        n_null = idx.null_count
        codes = np.asarray(idx.fill_null(0).to_numpy(zero_copy_only=False), np.int64) if n_null else \
            np.asarray(idx.to_numpy(zero_copy_only=False), np.int64)
        valid_row = None if not n_null else np.asarray(idx.is_valid().to_numpy(zero_copy_only=False), bool)
        counts = np.bincount(codes if valid_row is None else codes[valid_row], minlength=len(col.dictionary))
        used = np.flatnonzero(counts)
        uniq = col.dictionary.take(pa.array(used))
        if uniq.null_count:  # a null value in the dictionary: its rows are null captions
            uniq = uniq.fill_null("")
        remap = np.full(len(col.dictionary), -1, np.int64)
        remap[used] = np.arange(len(used))
        inv = remap[codes]
        mult = counts[used].astype(np.int64)
        valid = np.asarray(col.dictionary.is_valid().take(pa.array(used)).to_numpy(zero_copy_only=False), bool)
        hashes = self._dictionary_hashes(col.dictionary)[used]
        if n_null:  # null rows form one more group, an empty caption that is not valid
            inv[~valid_row] = len(used)
            uniq = pa.concat_arrays([uniq, pa.array([""], uniq.type)])
            mult = np.r_[mult, n_null]
            valid = np.r_[valid, False]
            hashes = np.r_[hashes, _NULL_HASH]
        uniq = _cut_long(uniq, problems, mult)
        return _Distinct(uniq, mult, inv, valid, hashes)

    def _dictionary_hashes(self, dictionary: pa.Array) -> np.ndarray:
        """Hashes of every value of a dictionary; the batches of one row group share theirs (computed once)."""
        last = self._last_dictionary
        if last is not None and last[0] is not None and len(last[0]) == len(dictionary) and last[0].equals(dictionary):
            return last[1]
        h = self._hash(dictionary.fill_null("") if dictionary.null_count else dictionary)
        self._last_dictionary = (dictionary, h)
        return h

    def _from_rows(self, text: pa.Array) -> _Distinct:
        """Distinct captions of a plain column: grouped by 64-bit hash when enough of the batch repeats."""
        n = len(text)
        valid = np.asarray(text.is_valid().to_numpy(zero_copy_only=False), bool)
        n_null = n - int(valid.sum())
        if n_null:
            text = text.fill_null("")
        h = self._hash(text)
        distinct = sorted_unique(h[valid] if n_null else h)
        if len(distinct) + (1 if n_null else 0) >= (1 - DEDUP_BELOW) * n:
            # few repeats: tagging every row costs less than gathering the distinct ones
            return _Distinct(text, np.ones(n, np.int64), None, valid, h, distinct)
        if n_null:  # null rows are their own group, apart from empty captions (which hash alike)
            h = h.copy()
            h[~valid] = _NULL_HASH
        uh, first, inv, mult = _group(h)
        return _Distinct(text.take(pa.array(first)), mult, inv, valid[first], uh, distinct)

    def count_batch(self, batch: pa.RecordBatch, *, source: str = "") -> TextCounts:
        """Count one batch with canonical column names (``text``, ``nsfw``, ``punsafe``).

        Parameters
        ----------
        batch
            Rows to count; a missing ``text`` column counts every row as null.
            A dictionary-encoded ``text`` column is counted once per distinct value.
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
        problems: dict[str, int] = {}
        col = batch.column("text") if "text" in batch.schema.names else None
        if col is not None and _string_dictionary(col):
            d = self._from_dictionary(col, problems)
        else:
            if col is not None:
                text, problems = caption_strings(col)
            else:
                text = pa.nulls(n, pa.string())
            text = _cut_long(text, problems)
            d = self._from_rows(text)
        for reason, k in problems.items():
            out.note(reason, f"{source}: {k} caption(s) in column text", count=k)
        nsfw_problems: dict[str, int] = {}
        nsfw, known, _ = nsfw_flags(batch, punsafe_threshold=self.punsafe_threshold, problems=nsfw_problems)
        for reason, k in nsfw_problems.items():
            out.note(reason, f"{source}: {k} value(s) of the NSFW/punsafe column taken as unknown", count=k)
        uniq, mult, uvalid = d.uniq, d.mult, d.valid
        s = out.scalars
        lengths = pc.utf8_length(uniq).to_numpy(zero_copy_only=False).astype(np.int64)
        vm = mult * uvalid  # valid rows per group
        s["rows"] = n
        s["null"] = int(n - vm.sum())
        s["non_null_rows"] = int(vm.sum())
        s["very_long"] = int(mult[lengths >= LONG_CAPTION].sum())
        s["length_sum"] = int((lengths * vm).sum())
        s["max_length"] = int(lengths.max()) if n else 0
        out.length_hist += np.bincount(np.searchsorted(LENGTH_BINS, lengths, side="right") - 1,
                                       weights=vm, minlength=len(LENGTH_BINS)).astype(np.int64)
        out.distinct.add_sorted_unique(d.distinct)
        language_stats(s, uniq, mult, d.hashes, stop_re=self._stop_re)
        empty_u = np.asarray(pc.or_(pc.equal(pc.binary_length(uniq), 0), pc.utf8_is_space(uniq)).to_numpy(
            zero_copy_only=False), bool)
        s["empty"] = int(vm[empty_u].sum())  # nulls are counted apart
        # tag the distinct captions once
        r, sid = self._tagger.match(uniq)
        out.examples = self._examples(r, sid, d.hashes, uniq)
        out.surface_rows += np.bincount(sid, weights=mult[r], minlength=len(self.lexicon.surfaces)).astype(np.int64)
        flagged = nsfw & known
        flag_u = np.stack([mult, d.per_group(flagged), d.per_group(known)], axis=1)
        self._fold_pairs(out.pair, r, sid, mult, flag_u)
        k = len(self.lexicon.concepts)
        s_nsfw, s_known = int(flagged.sum()), int(known.sum())
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
