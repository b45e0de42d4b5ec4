"""LAION-style metadata rows with made-up captions, for benchmarks and tests.

The captions are built from small vocabularies with vectorised Arrow string
joins (10 million rows take seconds). They are *not* a stand-in for real
alt-text statistics: they exist to exercise the reader and tagger at scale
with LAION-400M's columns (``URL, TEXT, WIDTH, HEIGHT, similarity, NSFW,
LICENSE``), a few identity, unsafe and toxic words, duplicates and nulls.

Examples
--------
>>> t = laion_like_table(1000, seed=0)
>>> t.column_names
['URL', 'TEXT', 'WIDTH', 'HEIGHT', 'similarity', 'NSFW', 'LICENSE']
>>> t.num_rows
1000
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["laion_like_table", "write_laion_like_parquet", "VERSION"]

#: Bumped whenever the generated captions change (benchmarks cache files by it).
#: Version 2 is calibrated on the real LAION sample in ``shared/fixtures``: mean
#: caption length ~60 characters and ~0.18 starter-lexicon hits per caption
#: (the sample: 56.7 characters, 0.175 hits).
VERSION = 2

_ADJ = ["Vintage", "modern", "Beautiful", "blue", "red", "Leather", "wooden", "Cute", "happy", "large",
         "Portrait of a", "photo of a", "Close-up of", "stock photo", "Illustration:", "new", "used", "HD"]
_SUBJECT = (
    ["wallet", "sofa", "Car", "dress", "poster", "house", "mug", "T-shirt", "kitchen", "garden", "backpack",
     "Wedding Ring", "dog", "cat", "mountain landscape", "city skyline", "pizza", "bicycle", "shoes", "lamp"] * 24
    + ["woman", "man", "young woman", "Black woman", "asian man", "girl", "boy", "elderly man", "Muslim woman",
       "nurse", "doctor", "CEO", "teacher", "police officer", "chef", "family", "mexican man", "Indian bride"]
)
_CONNECT = ["with", "on", "at", "for", "in", "and", "-", "by", "|", "near"]
_OBJECT = ["white background", "home", "night", "sale", "the office", "Amazon", "eBay", "Etsy", "Pinterest",
           "the park", "Studio", "Canon EOS 5D", "Samsung Galaxy", "IKEA", "Nike Air", "New York", "London",
           "Paris", "the garden", "Christmas"] * 6 + ["the beach", "kids", "a laptop", "cooking", "a gun", "Shopping"]
_BRAND = ["Free Shipping", "Size M", "(L69)", "High Quality", "Best Price", "2019", "Handmade", "Original",
          "Royalty Free Stock Image", "Set of 2", "Premium", "Limited Edition", "Wall Art", "Poster Print",
          "Stainless Steel", "Cotton Blend", "for iPhone 12 Pro Max", "Black and White", "Digital Download",
          "Gift Idea", "Unisex", "Wrist Watch"]
_EXTRA = [""] * 80 + ["sexy lingerie", "nude art", "ugly sweater", "stupid funny meme", "crazy party", "vector"]


def _pick(rng: np.random.Generator, vocab: list[str], n: int) -> pa.Array:
    return pa.array(vocab, pa.string()).take(pa.array(rng.integers(0, len(vocab), n)))


def laion_like_table(n: int, *, seed: int = 0, start: int = 0) -> pa.Table:
    """Make ``n`` LAION-400M-style metadata rows.

    Parameters
    ----------
    n
        Number of rows.
    seed
        Random seed; the same seed gives the same table.
    start
        Index of the first row (used in URLs), so chunks can be concatenated.

    Returns
    -------
    pyarrow.Table
        About 4 % duplicated captions and 0.5 % null captions.

    Examples
    --------
    >>> laion_like_table(3, seed=1).equals(laion_like_table(3, seed=1))
    True
    """
    rng = np.random.default_rng(seed)
    num = pc.cast(pa.array(rng.integers(0, 10**7, n)), pa.string())
    text = pc.binary_join_element_wise(
        _pick(rng, _ADJ, n), _pick(rng, _BRAND, n), _pick(rng, _SUBJECT, n), _pick(rng, _CONNECT, n), _pick(rng, _OBJECT, n),
        _pick(rng, _BRAND, n), _pick(rng, _EXTRA, n), num, " ")
    dup = rng.random(n) < 0.04
    src = np.where(dup, rng.integers(0, max(n, 1), n), np.arange(n))
    text = text.take(pa.array(src))
    text = pc.if_else(pa.array(rng.random(n) < 0.005), pa.scalar(None, pa.string()), text)
    unsafe = pc.match_substring_regex(text, "(?i)lingerie|nude|gun")
    p_nsfw = np.where(unsafe.to_numpy(zero_copy_only=False), 0.5, 0.02)
    u = rng.random(n)
    nsfw = np.where(u < p_nsfw, "NSFW", np.where(u < p_nsfw + 0.05, "UNSURE", "UNLIKELY"))
    url = pc.binary_join_element_wise(
        "https://example.com/img/", pc.cast(pa.array(np.arange(start, start + n)), pa.string()), ".jpg", "")
    return pa.table({
        "URL": url,
        "TEXT": text,
        "WIDTH": pa.array(rng.integers(64, 2048, n), pa.int32()),
        "HEIGHT": pa.array(rng.integers(64, 2048, n), pa.int32()),
        "similarity": pa.array(rng.uniform(0.28, 0.45, n)),
        "NSFW": pa.array(nsfw, pa.string()),
        "LICENSE": pa.array(np.full(n, "?"), pa.string()),
    })


def write_laion_like_parquet(path: str | Path, n: int, *, seed: int = 0, row_group_size: int = 1_000_000) -> Path:
    """Write ``n`` LAION-style rows to one parquet file, chunk by chunk (bounded memory).

    Examples
    --------
    >>> import tempfile, pathlib, pyarrow.parquet as pq
    >>> p = write_laion_like_parquet(pathlib.Path(tempfile.mkdtemp()) / "x.parquet", 2500, row_group_size=1000)
    >>> pq.ParquetFile(p).metadata.num_row_groups
    3
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    writer = None
    try:
        for i, lo in enumerate(range(0, n, row_group_size)):
            chunk = laion_like_table(min(row_group_size, n - lo), seed=seed * 100_003 + i, start=lo)
            if writer is None:
                writer = pq.ParquetWriter(tmp, chunk.schema, compression="zstd")
            writer.write_table(chunk, row_group_size=row_group_size)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return path
