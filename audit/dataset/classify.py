"""The optional caption classifier in a dataset audit: one extra pass, bounded samples, agreement.

``imagen-audit dataset audit --caption-classifier FOLDER`` (a local
``transformers`` sequence-classification model, see
:class:`~audit.dataset.caption_classifier.CaptionClassifier`) reads the
dataset's captions once more with the lexicon tagger and keeps two uniform
random samples (reservoirs, seeded): up to ``max_flagged`` captions the
lexicon flags (any unsafe or toxic term) and ``sample`` captions it does not.
Only those are given to the model, so its cost is bounded whatever the
dataset's size. :func:`classifier_pass` returns:

- ``lexicon_rate``: flagged captions / captions with text (every caption read);
- ``model_rate`` with a 95 % interval: a stratified estimate over all captions
  with text (the model's positive share on the flagged sample, weighted by the
  flagged count, plus its share on the unflagged sample, weighted by the
  unflagged count; normal approximation of the two strata's variances);
- ``model_rate_on_flagged`` / ``model_rate_on_unflagged`` (Wilson intervals):
  how often the model agrees the lexicon's hits are positive, and how often it
  finds positives the lexicon missed;
- :func:`~audit.dataset.caption_classifier.agreement` on the captions it read
  (unweighted: the flagged stratum is over-represented by design).

Empty and null captions are not read (counted as ``no_text``).

Examples
--------
>>> class Always:  # a stand-in with the classifier's one method
...     def predict(self, captions): return np.ones(len(captions))
>>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
>>> from audit.dataset.lexicon import load_lexicons
>>> from audit.dataset.sources import detect
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> pq.write_table(pa.table({"TEXT": ["a nude woman", "a nurse", "", "a chair"]}), d / "x.parquet")
>>> r = classifier_pass(detect(d), load_lexicons(), Always(), sample=10)
>>> r["rows_with_text"], r["lexicon_flagged"], r["read_flagged"], r["read_unflagged"], r["model_rate"]
(3, 1, 1, 2, 1.0)
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from audit.dataset.caption_classifier import agreement
from audit.dataset.columns import caption_strings
from audit.dataset.lexicon import Lexicon
from audit.dataset.readers import iter_task_batches
from audit.dataset.sources import DatasetInput
from audit.dataset.tagger import Tagger
from audit.dataset.textstats import MAX_CAPTION_CHARS

__all__ = ["classifier_pass", "Reservoir"]


class Reservoir:
    """A uniform random sample of at most ``k`` items from a stream, by smallest random key.

    Examples
    --------
    >>> r = Reservoir(2, np.random.default_rng(0))
    >>> r.offer(["a", "b", "c"]); r.offer(["d"])
    >>> len(r.items), r.seen
    (2, 4)
    """

    def __init__(self, k: int, rng: np.random.Generator) -> None:
        self.k, self.rng, self.seen = int(k), rng, 0
        self.keys = np.zeros(0)
        self.items: list[str] = []

    def offer(self, items: list[str]) -> None:
        """Offer a batch of items (each kept with the same probability)."""
        self.seen += len(items)
        if not items or self.k <= 0:
            return
        keys = np.r_[self.keys, self.rng.random(len(items))]
        pool = self.items + list(items)
        if len(pool) > self.k:
            keep = np.argpartition(keys, self.k - 1)[:self.k]
            keys, pool = keys[keep], [pool[i] for i in keep]
        self.keys, self.items = keys, pool


def _wilson(k: int, n: int) -> tuple[float, float, float]:
    from audit.metrics import wilson_interval

    if not n:
        return float("nan"), float("nan"), float("nan")
    (lo,), (hi,) = wilson_interval([k], [n])
    return k / n, float(lo), float(hi)


def _flag_surfaces(lexicon: Lexicon) -> np.ndarray:
    return np.array([any(lexicon.roles[c] in ("unsafe", "toxic") for c in cids) for cids in lexicon.surface_concepts],
                    bool)


def classifier_pass(dataset: DatasetInput, lexicon: Lexicon, classifier, *, sample: int = 1000,
                    max_flagged: int = 2000, threshold: float = 0.5, seed: int = 0,
                    batch_size: int = 131_072) -> dict:
    """Compare a caption classifier with the lexicon on bounded samples of a dataset (see the module docstring).

    Parameters
    ----------
    dataset
        From :func:`~audit.dataset.sources.detect`.
    lexicon
        The audit's lexicons; a caption is flagged when any unsafe or toxic term is found.
    classifier
        Has ``predict(captions) -> P(positive)`` (a :class:`~audit.dataset.caption_classifier.CaptionClassifier`).
    sample, max_flagged
        Sizes of the unflagged and flagged samples the model reads.
    threshold
        P(positive) at or above which the model flags a caption.
    seed
        Seed of the samples.
    batch_size
        Rows per batch of the extra pass.

    Returns
    -------
    dict
        Rates, intervals, sample sizes and the agreement table (see the module docstring).
    """
    t0 = time.perf_counter()
    tagger = Tagger.for_lexicon(lexicon)
    flag_surface = _flag_surfaces(lexicon)
    rng = np.random.default_rng(seed)
    flagged, unflagged = Reservoir(max_flagged, rng), Reservoir(sample, rng)
    rows = no_text = 0
    for task in dataset.tasks:
        for batch, _ in iter_task_batches(task, batch_size=batch_size):
            rows += batch.num_rows
            if "text" not in batch.schema.names:
                no_text += batch.num_rows
                continue
            text, _ = caption_strings(batch.column("text"))
            text = pc.utf8_slice_codeunits(text.fill_null(""), 0, MAX_CAPTION_CHARS)
            has = np.asarray(pc.invert(pc.or_(pc.equal(pc.binary_length(text), 0), pc.utf8_is_space(text)))
                             .to_numpy(zero_copy_only=False), bool)
            no_text += int((~has).sum())
            r, sid = tagger.match(text)
            hit = np.zeros(len(text), bool)
            hit[r[flag_surface[sid]]] = True
            for mask, res in ((hit & has, flagged), (~hit & has, unflagged)):
                idx = np.flatnonzero(mask)
                if idx.size:
                    res.offer(text.take(pa.array(idx)).to_pylist())
    with_text = rows - no_text
    p_f = np.asarray(classifier.predict(flagged.items), float) if flagged.items else np.zeros(0)
    p_u = np.asarray(classifier.predict(unflagged.items), float) if unflagged.items else np.zeros(0)
    m_f, m_u = p_f >= threshold, p_u >= threshold
    rate_f, lo_f, hi_f = _wilson(int(m_f.sum()), len(m_f))
    rate_u, lo_u, hi_u = _wilson(int(m_u.sum()), len(m_u))
    w_f = flagged.seen / with_text if with_text else float("nan")
    w_u = unflagged.seen / with_text if with_text else float("nan")
    parts = [(w, r, len(m)) for w, r, m in ((w_f, rate_f, m_f), (w_u, rate_u, m_u)) if len(m)]
    model_rate = sum(w * r for w, r, _ in parts) if parts and with_text else float("nan")
    var = sum(w * w * r * (1 - r) / n for w, r, n in parts) if parts and with_text else float("nan")
    half = 1.959964 * math.sqrt(var) if var == var else float("nan")
    lex = np.r_[np.ones(len(m_f), bool), np.zeros(len(m_u), bool)]
    return {"threshold": threshold, "seed": seed, "rows": rows, "no_text": no_text, "rows_with_text": with_text,
            "lexicon_flagged": flagged.seen, "lexicon_rate": flagged.seen / with_text if with_text else float("nan"),
            "read_flagged": len(m_f), "read_unflagged": len(m_u),
            "model_rate": float(model_rate), "model_lo": float(max(model_rate - half, 0.0)),
            "model_hi": float(min(model_rate + half, 1.0)),
            "model_rate_on_flagged": rate_f, "model_on_flagged_lo": lo_f, "model_on_flagged_hi": hi_f,
            "model_rate_on_unflagged": rate_u, "model_on_unflagged_lo": lo_u, "model_on_unflagged_hi": hi_u,
            "agreement": agreement(lex, np.r_[m_f, m_u]), "seconds": time.perf_counter() - t0}
