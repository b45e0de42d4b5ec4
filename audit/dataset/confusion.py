"""Confusion matrices for the image side of the dataset audit: from a file, from paired labels, on a labeler.

A labeler-error correction is only as good as its matrix, and a matrix only holds on
images like the ones it was measured on (same codec, same kind of generator). These
helpers let an audit use a matrix measured on such images (``dataset audit
--confusion FILE``) instead of the labeler's card, and say which one it used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["load_confusion_file", "confusion_counts_table", "WithConfusion"]


def confusion_counts_table(truth: pd.Series, predicted: pd.Series, *, classes=None) -> dict:
    """Validation counts ``{"classes", "matrix"}`` (rows true, columns predicted) from paired labels.

    The format of :func:`load_confusion_file` (and of the world labeler card's
    ``confusion`` entries). Pairs whose prediction is not one of ``classes``
    (non-answers such as ``no_face``) are left out.

    Examples
    --------
    >>> confusion_counts_table(pd.Series(["f", "f", "m"]), pd.Series(["f", "m", "m"]))
    {'classes': ['f', 'm'], 'matrix': [[1, 1], [0, 1]]}
    """
    t, p = truth.astype(str).to_numpy(), predicted.astype(str).to_numpy()
    classes = sorted(set(t)) if classes is None else [str(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for a, b in zip(t, p):
        if a in index and b in index:
            m[index[a], index[b]] += 1
    return {"classes": classes, "matrix": m.tolist()}


def load_confusion_file(path) -> dict[str, pd.DataFrame]:
    """Confusion matrices per attribute from a JSON file: ``{attribute: {"classes": [...], "matrix": [[...]]}}``.

    ``matrix[i][j]`` counts validation images of true class ``classes[i]`` labelled
    ``classes[j]``: measured on images like the ones audited (same codec, same
    kind of generator), so the correction matches the labeler's errors on them.
    Counts (not shares) let corrected intervals carry the matrix's own sampling
    uncertainty. An optional top-level ``"source"`` string says where they come from.

    Examples
    --------
    >>> import json, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "c.json")
    >>> _ = open(f, "w").write(json.dumps({"presentation": {"classes": ["f", "m"], "matrix": [[9, 1], [0, 10]]}}))
    >>> load_confusion_file(f)["presentation"].loc["f", "m"]
    np.float64(1.0)
    """
    import json

    from audit.errors import UserError

    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the confusion file ({exc}) (fix: a JSON object "
                        '{"ATTRIBUTE": {"classes": [...], "matrix": [[counts]]}})') from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: the confusion file must hold a JSON object (fix: "
                        '{"ATTRIBUTE": {"classes": [...], "matrix": [[counts]]}})')
    out = {}
    for attr, entry in raw.items():
        if attr == "source":
            continue
        classes = entry.get("classes") if isinstance(entry, dict) else None
        matrix = entry.get("matrix") if isinstance(entry, dict) else None
        try:
            m = np.asarray(matrix, dtype=float)
        except (TypeError, ValueError):
            m = np.zeros((0, 0))
        if not isinstance(classes, list) or m.shape != (len(classes), len(classes)) or not len(classes):
            raise UserError(f"{path}: field {attr!r} needs 'classes' (a list of K values) and 'matrix' (K x K "
                            "counts, rows true, columns predicted) (fix: correct that entry)")
        if (m < 0).any() or not np.isfinite(m).all() or (m.sum(axis=1) <= 0).any():
            raise UserError(f"{path}: field {attr!r}: every matrix row needs non-negative counts with a positive "
                            "sum (fix: correct the matrix, or leave out classes never validated)")
        names = [str(c) for c in classes]
        out[str(attr)] = pd.DataFrame(m, index=names, columns=names)
    return out


class WithConfusion:
    """A labeler whose confusion matrices come from a file (:func:`load_confusion_file`), not its own card.

    Everything else (``label``, ``name``, ...) is the wrapped labeler's. Attributes
    the file lacks fall back to the labeler's own matrices.

    Examples
    --------
    >>> class L:
    ...     name = "toy"
    ...     def confusion(self, attribute):
    ...         return None
    >>> w = WithConfusion(L(), {"g": pd.DataFrame([[9, 1], [0, 10]], index=["f", "m"], columns=["f", "m"])},
    ...                   source="val.json")
    >>> w.name, int(w.confusion_counts("g").loc["f", "f"]), w.confusion_source("g")
    ('toy', 9, 'file val.json (10 + 10 validation images)')
    """

    def __init__(self, labeler, matrices: dict[str, pd.DataFrame], *, source: str) -> None:
        self._labeler, self._matrices, self._source = labeler, dict(matrices), str(source)

    def __getattr__(self, name):
        if name.startswith("_"):  # not delegated (and safe while unpickling, before _labeler exists)
            raise AttributeError(name)
        return getattr(self._labeler, name)

    def confusion_counts(self, attribute: str):
        """The file's counts for ``attribute``, else the wrapped labeler's."""
        if attribute in self._matrices:
            return self._matrices[attribute]
        own = getattr(self._labeler, "confusion_counts", None)
        return own(attribute) if own is not None else None

    def confusion(self, attribute: str):
        """Row-normalised :meth:`confusion_counts`."""
        if attribute in self._matrices:
            m = self._matrices[attribute]
            return m.div(m.sum(axis=1), axis=0)
        own = getattr(self._labeler, "confusion", None)
        return own(attribute) if own is not None else None

    def confusion_source(self, attribute: str) -> str:
        """Where the matrix for ``attribute`` comes from (written beside the corrected shares)."""
        if attribute in self._matrices:
            rows = self._matrices[attribute].sum(axis=1).astype(int)
            return f"file {self._source} ({' + '.join(str(int(r)) for r in rows)} validation images)"
        from audit.dataset.results import confusion_source

        own = self.confusion_counts(attribute)
        own = self.confusion(attribute) if own is None else own
        return confusion_source(self._labeler, attribute, own) if own is not None else "no matrix"
