"""Mergeable caption counts: the :class:`TextCounts` a text audit builds batch by batch.

Counts of batches, shards and Dask workers add with ``+``; every number the
dataset audit reports is read from the merged counts (see
:mod:`audit.dataset.results`). :class:`~audit.dataset.textstats.TextAuditor`
builds them.

Examples
--------
>>> c = TextCounts.empty(("a",) + FLAGS, ())
>>> c.scalars["rows"] = 2
>>> (c + c).n_rows
4
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audit.dataset.distinct import DistinctCounter
from audit.dataset.examples import CaptionExamples

__all__ = ["TextCounts", "FLAGS", "LENGTH_BINS", "LONG_CAPTION"]

FLAGS = ("flag:all", "flag:nsfw", "flag:nsfw_known", "flag:any_unsafe", "flag:any_toxic")
#: Caption length histogram edges, in characters (last bin is open).
LENGTH_BINS = (0, 1, 10, 20, 50, 100, 200, 500, 1000, 5000, 60000)
#: Captions at least this long (characters) are counted as ``very_long``.
LONG_CAPTION = 60000


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
