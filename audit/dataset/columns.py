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


def _number_flags(col: pa.Array, *, threshold: float, source: str, problems: dict[str, int]
                  ) -> tuple[pa.Array, pa.Array]:
    """Flag and known-mask of a numeric NSFW / punsafe column; NaN and out-of-range values are unknown."""
    x = pc.cast(col, pa.float64())
    valid = x.is_valid()
    finite = pc.and_kleene(valid, pc.is_finite(x))
    nan = int(pc.sum(pc.and_(valid, pc.invert(pc.fill_null(pc.is_finite(x), True)))).as_py() or 0)
    in_range = pc.fill_null(pc.and_(pc.greater_equal(x, 0.0), pc.less_equal(x, 1.0)), False) \
        if source == "punsafe" else pc.fill_null(finite, False)
    out_of_range = int(pc.sum(pc.and_(pc.fill_null(finite, False), pc.invert(in_range))).as_py() or 0)
    if nan:
        problems[f"{source}_not_finite"] = problems.get(f"{source}_not_finite", 0) + nan
    if out_of_range:
        problems[f"{source}_out_of_range"] = problems.get(f"{source}_out_of_range", 0) + out_of_range
    known = pc.fill_null(pc.and_(pc.fill_null(finite, False), in_range), False)
    flag = pc.and_(known, pc.fill_null(pc.greater_equal(x, threshold), False))
    return flag, known


def _string_numbers(col: pa.Array) -> pa.Array | None:
    """Parse a string column of numbers (``"0.9"``); ``None`` when any non-null value is not a number."""
    try:
        return pc.cast(pc.utf8_trim_whitespace(col), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def nsfw_flags(batch: pa.RecordBatch, *, punsafe_threshold: float = 0.5, problems: dict[str, int] | None = None
               ) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-row NSFW flag and whether it is known, from ``nsfw`` or ``punsafe``.

    LAION-400M's ``NSFW`` column holds ``"NSFW"``, ``"UNSURE"`` or
    ``"UNLIKELY"`` (flag = ``"NSFW"``); a boolean or numeric column counts as
    flagged when true or ``>= 0.5``. LAION-5B's ``punsafe`` is flagged at
    ``punsafe_threshold``. ``nsfw`` wins when both exist.

    Nothing is silently taken as "not unsafe": a ``punsafe`` that is NaN or
    infinite, outside [0, 1], or text that is not a number is *unknown* (not
    counted in ``flag:nsfw_known``) and counted in ``problems``
    (``punsafe_not_finite``, ``punsafe_out_of_range``, ``punsafe_not_a_number``);
    numbers written as text (``"0.9"``) are parsed and counted as
    ``punsafe_as_text``; a column of an unusable type (binary, list, struct)
    makes every non-null row unknown, counted as ``nsfw_unusable_type``.

    Parameters
    ----------
    batch
        A batch with canonical column names (see :func:`audit.shards.normalize_columns`).
    punsafe_threshold
        Probability at which ``punsafe`` counts as unsafe.
    problems
        Optional dict that receives counts of values that were not usable, by reason.

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
    >>> p = {}
    >>> f, k, _ = nsfw_flags(pa.RecordBatch.from_pydict({"punsafe": [0.9, float("nan"), 2.0, 0.1]}), problems=p)
    >>> f.tolist(), k.tolist(), p
    ([True, False, False, False], [True, False, False, True], {'punsafe_not_finite': 1, 'punsafe_out_of_range': 1})
    """
    n = batch.num_rows
    problems = problems if problems is not None else {}
    names = batch.schema.names
    for source in ("nsfw", "punsafe"):
        if source not in names:
            continue
        col = batch.column(source)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        known = col.is_valid()
        codes = None
        if pa.types.is_dictionary(col.type):
            if pa.types.is_string(col.type.value_type) or pa.types.is_large_string(col.type.value_type):
                codes, col = col.indices, col.dictionary
            else:
                col = col.dictionary_decode()
        t = col.type
        if pa.types.is_null(t):
            flag = pa.array(np.zeros(n, bool))
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            values = col if codes is not None else pc.unique(col)
            numbers = _string_numbers(values) if source == "punsafe" else None
            if source == "punsafe" and codes is not None:
                col = col.take(codes)  # punsafe as text: decide per row
                codes, values = None, pc.unique(col)
                numbers = _string_numbers(values)
            if numbers is not None:
                k = len(col) - col.null_count
                if k:
                    problems["punsafe_as_text"] = problems.get("punsafe_as_text", 0) + k
                flag, known = _number_flags(_string_numbers(col), threshold=punsafe_threshold, source=source,
                                            problems=problems)
            elif source == "punsafe":  # text that is not all numbers: nothing is known
                k = len(col) - col.null_count
                if k:
                    problems["punsafe_not_a_number"] = problems.get("punsafe_not_a_number", 0) + k
                flag = pa.array(np.zeros(n, bool))
                known = pa.array(np.zeros(n, bool))
            else:
                # few distinct values ("NSFW", "UNSURE", "UNLIKELY"): decide per value, then look up
                is_flag = pa.array([v is not None and v.strip().upper() in _FLAG_WORDS for v in values.to_pylist()],
                                   pa.bool_())
                idx = codes if codes is not None else pc.index_in(col, value_set=values)
                flag = pc.fill_null(pc.take(is_flag, idx), False) if len(values) else pa.array(np.zeros(n, bool))
        elif pa.types.is_boolean(t):
            flag = pc.fill_null(col, False)
        elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            thr = punsafe_threshold if source == "punsafe" else 0.5
            flag, known = _number_flags(col, threshold=thr, source=source, problems=problems)
        else:
            k = len(col) - col.null_count
            if k:
                problems["nsfw_unusable_type"] = problems.get("nsfw_unusable_type", 0) + k
            flag = pa.array(np.zeros(n, bool))
            known = pa.array(np.zeros(n, bool))
        flag_np = np.asarray(flag.to_numpy(zero_copy_only=False), bool)
        known_np = np.asarray(known.to_numpy(zero_copy_only=False), bool)
        return flag_np & known_np, known_np, source
    return np.zeros(n, bool), np.zeros(n, bool), ""
