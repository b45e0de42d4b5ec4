"""Fast text of the ITA labels table: probabilities as JSON and ITA degrees as ``"%.1f"``, column-wise.

Formatting each float in Python dominated the labeler's time on large
batches; these build the strings from byte tables and fall back to Python's
own formatting wherever rounding is within error of a tie, so the text is
exactly what ``"{:.6f}"`` / ``"%.1f"`` would give.

Examples
--------
>>> _probs_json(["a", "b"], np.array([[0.25, 0.75]])).tolist()
['{"a": 0.250000, "b": 0.750000}']
>>> _tenths(np.array([12.34, -0.04])).tolist()
['12.3', '-0.0']
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def _probs_json(names: list[str], p: np.ndarray) -> np.ndarray:
    """One JSON object string per row of ``p`` (``{"name": prob, ...}``, each prob as ``"{:.6f}"`` formats it).

    Probabilities in [0, 9.999999) are 8 characters each, so the text of the
    whole batch is one byte array filled column-wise from a row template
    (20x faster than formatting each float); other values go through
    ``str.format``.
    """
    p = np.asarray(p, dtype=np.float64)
    chars = _fixed6(p)
    if chars is None or len(p) == 0:
        fmt = "{{" + ", ".join(f'"{k}": {{:.6f}}' for k in names) + "}}\n"
        text = (fmt * len(p)).format(*p.ravel().tolist())  # one format call for the whole batch
    else:
        pieces = [f'{{"{names[0]}": '.encode()] + [f', "{k}": '.encode() for k in names[1:]] + [b"}\n"]
        template = np.frombuffer(b"".join(piece + b"01234567" for piece in pieces)[:-8], dtype=np.uint8)
        at = np.cumsum([len(piece) + 8 for piece in pieces[:-1]]) - 8  # where each value starts
        rows = np.empty((len(p), len(template)), np.uint8)
        rows[:] = template
        rows[:, (at[:, None] + np.arange(8)).ravel()] = chars.reshape(len(p), -1)
        text = rows.tobytes().decode()
    out = np.empty(len(p), dtype=object)
    out[:] = text.split("\n")[:-1]
    return out


def _tenths(x: np.ndarray) -> np.ndarray:
    """``"%.1f" % v`` of each value of ``x`` (object array), from a table of the strings of -180.0 .. 180.0.

    ``rint(10 v)`` is the correctly rounded figure unless ``10 v`` lies within
    rounding error of a half; those values, negative zeros and values
    outside the table are formatted by Python.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # inf and nan go to Python
        y = x * 10.0
        q = np.rint(y)
        python = ~(np.abs(q) <= 1800) | (np.abs(y - np.floor(y) - 0.5) < 1e-9) | ((q == 0) & np.signbit(x))
    out = _TENTHS.take(np.where(python, 0, q).astype(np.int64) + 1800)
    for i in np.flatnonzero(python):
        out[i] = "%.1f" % x[i]
    return out


_TENTHS = np.array(["%.1f" % (k / 10) for k in range(-1800, 1801)], dtype=object)
_DIGITS3 = np.array([list(f"{i:03d}".encode()) for i in range(1000)], dtype=np.uint8)  # "000" .. "999"


def _fixed6(p: np.ndarray) -> np.ndarray | None:
    """ASCII ``"d.dddddd"`` ``(..., 8)`` of values in [0, 9.999999), as ``"{:.6f}".format``; None for others.

    ``rint(p * 1e6)`` is the correctly rounded figure unless ``p * 1e6`` lies
    within rounding error of a half (a tie, such as 1 / 128); those few
    values are formatted by Python.
    """
    if p.size and not (np.isfinite(p).all() and (p >= 0).all() and (p < 9.999999).all() and not np.signbit(p).any()):
        return None
    y = p * 1e6
    units, micro = np.divmod(np.rint(y).astype(np.int64), 1000000)
    chars = np.empty(p.shape + (8,), np.uint8)
    chars[..., 0] = units + ord("0")
    chars[..., 1] = ord(".")
    chars[..., 2:5] = _DIGITS3.take(micro // 1000, axis=0)
    chars[..., 5:] = _DIGITS3.take(micro % 1000, axis=0)
    near_tie = np.abs(y - np.floor(y) - 0.5) < 1e-8  # the error of p * 1e6 is below 2e-9
    for i in zip(*np.nonzero(near_tie)):
        chars[i] = np.frombuffer(f"{p[i]:.6f}".encode(), dtype=np.uint8)
    return chars
