"""Turn raw metadata columns into clean caption strings and NSFW flags, counting what was wrong.

Examples
--------
>>> import pyarrow as pa
>>> text, bad = caption_strings(pa.array([b"ok", b"\\xff bad", None], pa.binary()))
>>> text.to_pylist(), bad
(['ok', '\\ufffd bad', None], {'invalid_utf8': 1})
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["caption_strings", "nsfw_flags"]


_FLAG_WORDS = {"NSFW", "TRUE", "1", "YES"}


def _decode_binary(arr: pa.Array) -> tuple[pa.Array, int]:
    try:
        return pc.cast(arr, pa.large_string() if pa.types.is_large_binary(arr.type) else pa.string()), 0
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    out, bad = [], 0
    for v in arr.to_pylist():
        if v is None:
            out.append(None)
            continue
        try:
            out.append(v.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(v.decode("utf-8", errors="replace"))
            bad += 1
    return pa.array(out, pa.string()), bad


def caption_strings(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, dict[str, int]]:
    """Return captions as a string array plus counts of values that needed repair.

    Binary captions are decoded as UTF-8 (invalid bytes become U+FFFD and are
    counted as ``invalid_utf8``); numbers and booleans are cast to text and
    counted as ``non_string``; nested values (lists, structs) become null and
    are counted as ``unusable_type``. Nothing raises.

    Parameters
    ----------
    arr
        The caption column of one batch.

    Returns
    -------
    text : pyarrow.Array
        ``string`` or ``large_string``.
    problems : dict
        Counts by problem (only non-zero entries).

    Examples
    --------
    >>> t, p = caption_strings(pa.array([1, 2]))
    >>> t.to_pylist(), p
    (['1', '2'], {'non_string': 2})
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    problems: dict[str, int] = {}
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr, problems
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        if pa.types.is_fixed_size_binary(t):
            arr = pc.cast(arr, pa.binary())
        out, bad = _decode_binary(arr)
        if bad:
            problems["invalid_utf8"] = bad
        return out, problems
    n_valid = len(arr) - arr.null_count
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string()), problems
    try:
        out = pc.cast(arr, pa.string())
        if n_valid:
            problems["non_string"] = n_valid
        return out, problems
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        if n_valid:
            problems["unusable_type"] = n_valid
        return pa.nulls(len(arr), pa.string()), problems


def nsfw_flags(batch: pa.RecordBatch, *, punsafe_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-row NSFW flag and whether it is known, from ``nsfw`` or ``punsafe``.

    LAION-400M's ``NSFW`` column holds ``"NSFW"``, ``"UNSURE"`` or
    ``"UNLIKELY"`` (flag = ``"NSFW"``); a boolean or numeric column counts as
    flagged when true or ``>= 0.5``. LAION-5B's ``punsafe`` is flagged at
    ``punsafe_threshold``. ``nsfw`` wins when both exist.

    Parameters
    ----------
    batch
        A batch with canonical column names (see :func:`audit.shards.normalize_columns`).
    punsafe_threshold
        Probability at which ``punsafe`` counts as unsafe.

    Returns
    -------
    flag, known : numpy.ndarray of bool
    source : str
        ``"nsfw"``, ``"punsafe"`` or ``""`` (no column).

    Examples
    --------
    >>> b = pa.RecordBatch.from_pydict({"nsfw": ["NSFW", "UNLIKELY", None]})
    >>> f, k, s = nsfw_flags(b)
    >>> f.tolist(), k.tolist(), s
    ([True, False, False], [True, True, False], 'nsfw')
    >>> d = pa.RecordBatch.from_pydict({"nsfw": pa.array(["UNSURE", "NSFW", None]).dictionary_encode()})
    >>> nsfw_flags(d)[0].tolist()
    [False, True, False]
    """
    n = batch.num_rows
    names = batch.schema.names
    for source in ("nsfw", "punsafe"):
        if source not in names:
            continue
        col = batch.column(source)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        known = col.is_valid().to_numpy(zero_copy_only=False)
        codes = None
        if pa.types.is_dictionary(col.type):
            if pa.types.is_string(col.type.value_type) or pa.types.is_large_string(col.type.value_type):
                codes, col = col.indices, col.dictionary
            else:
                col = col.dictionary_decode()
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            # few distinct values ("NSFW", "UNSURE", "UNLIKELY"): decide per value, then look up
            values = col if codes is not None else pc.unique(col)
            is_flag = pa.array([v is not None and v.strip().upper() in _FLAG_WORDS for v in values.to_pylist()])
            idx = codes if codes is not None else pc.index_in(col, value_set=values)
            flag = pc.fill_null(pc.take(is_flag, idx), False)
        elif pa.types.is_boolean(t):
            flag = pc.fill_null(col, False)
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            thr = punsafe_threshold if source == "punsafe" else 0.5
            flag = pc.fill_null(pc.greater_equal(pc.cast(col, pa.float64()), thr), False)
        else:
            continue
        return flag.to_numpy(zero_copy_only=False).astype(bool), known.astype(bool), source
    return np.zeros(n, bool), np.zeros(n, bool), ""
