"""Example captions per tag and per (identity, concept) pair, kept while counting, so findings can be checked.

For every concept a caption is tagged with, and for every identity x other-concept
pair in one caption, :class:`CaptionExamples` keeps the ``k`` captions of
smallest 64-bit hash. That choice is a pseudo-random sample that does not
depend on batching, file order or Dask workers: examples of batches add with
``+`` like the counts (:class:`audit.dataset.textstats.TextCounts`). The audit
writes them to ``caption_examples.parquet`` (``tag, other, hash, caption``;
``other`` is empty for a tag's own examples).

Examples
--------
>>> e = CaptionExamples.from_elements(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([9, 2], np.uint64),
...                                   ["a woman nurse", "a nurse"], identity=np.array([True, False]), k=1)
>>> e.frame(("woman", "nurse"))[["tag", "other", "caption"]].values.tolist()
[['woman', '', 'a woman nurse'], ['woman', 'nurse', 'a woman nurse'], ['nurse', '', 'a nurse']]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["CaptionExamples", "K_TAG", "K_PAIR", "MAX_CHARS"]

#: Captions kept per tag and per pair.
K_TAG, K_PAIR = 5, 3
#: Longest caption kept (characters); longer ones are cut with an ellipsis.
MAX_CHARS = 300


@dataclass
class CaptionExamples:
    """Kept examples: arrays ``a`` (tag id), ``b`` (other tag id or -1), ``h`` (hash) and the captions."""

    a: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    b: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    h: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    text: list[str] = field(default_factory=list)

    @classmethod
    def from_elements(cls, caption: np.ndarray, label: np.ndarray, hashes: np.ndarray, captions: Sequence[str], *,
                      identity: np.ndarray, k: int = K_TAG, k_pair: int = K_PAIR) -> CaptionExamples:
        """Examples of one batch from its (caption index, label id) elements (sorted or not, unique).

        Parameters
        ----------
        caption, label : numpy.ndarray
            Element arrays: caption ``caption[i]`` carries label ``label[i]``.
        hashes : numpy.ndarray
            The 64-bit hash of each caption (indexed by caption index).
        captions : sequence of str
            The captions (indexed by caption index).
        identity : numpy.ndarray of bool
            Which label ids are identity terms (the first member of a pair).
        """
        caption, label = np.asarray(caption, np.int64), np.asarray(label, np.int64)
        if not len(caption):
            return cls()
        h = np.asarray(hashes, np.uint64)[caption]
        a, b, hh, ci = [label], [np.full(len(label), -1, np.int64)], [h], [caption]
        # pairs within a caption: identity label x every other label of the same caption
        order = np.lexsort((label, caption))
        cs, ls = caption[order], label[order]
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
        sizes = np.diff(np.r_[starts, len(cs)])
        multi = sizes > 1
        if multi.any():
            size_of = np.repeat(sizes, sizes)
            first = np.repeat(np.repeat(starts, sizes), size_of)
            i = np.repeat(np.arange(len(cs)), size_of)
            j = first + (np.arange(len(i)) - np.repeat(np.cumsum(size_of) - size_of, size_of))
            keep = identity[ls[i]] & (i != j) & ~identity[ls[j]]
            i, j = i[keep], j[keep]
            a.append(ls[i]), b.append(ls[j]), hh.append(np.asarray(hashes, np.uint64)[cs[i]]), ci.append(cs[i])
        out = cls(np.concatenate(a), np.concatenate(b), np.concatenate(hh), [])
        idx = np.concatenate(ci)
        out = out._keep(idx, k=k, k_pair=k_pair)
        out.text = [_cut(_py(captions[int(c)])) for c in out._idx]
        del out._idx
        return out

    def _keep(self, idx: np.ndarray, *, k: int, k_pair: int) -> CaptionExamples:
        """The ``k`` (``k_pair``) smallest hashes per key; ``idx`` follows the rows."""
        order = np.lexsort((self.h, self.b, self.a))
        a, b, h, idx = self.a[order], self.b[order], self.h[order], idx[order]
        new = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
        group = np.cumsum(new) - 1
        rank = np.arange(len(a)) - np.flatnonzero(new)[group]
        dup = np.r_[False, (~new[1:]) & (h[1:] == h[:-1])]  # one caption once per key
        ok = ~dup & (rank < np.where(b < 0, k, k_pair))
        out = CaptionExamples(a[ok], b[ok], h[ok], [])
        out._idx = idx[ok]
        return out

    def __add__(self, other: CaptionExamples) -> CaptionExamples:
        both = CaptionExamples(np.r_[self.a, other.a], np.r_[self.b, other.b], np.r_[self.h, other.h], [])
        text = [*self.text, *other.text]
        kept = both._keep(np.arange(len(text)), k=K_TAG, k_pair=K_PAIR)
        kept.text = [text[int(i)] for i in kept._idx]
        del kept._idx
        return kept

    def frame(self, labels: Sequence[str]) -> pd.DataFrame:
        """``tag, other, hash, caption`` with label names (``other`` empty for a tag's own examples)."""
        names = np.asarray(list(labels), dtype=object)
        return pd.DataFrame({"tag": names[self.a] if len(self.a) else [],
                             "other": np.where(self.b >= 0, names[np.maximum(self.b, 0)], "") if len(self.b) else [],
                             "hash": self.h.astype(np.uint64), "caption": self.text})


def _py(value) -> str:
    value = value.as_py() if hasattr(value, "as_py") else value
    return "" if value is None else str(value)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
