"""Optional model-based caption classifier, reported beside the lexicon with their agreement.

A lexicon counts words; a text classifier (any local ``transformers``
sequence-classification model the user names: a toxicity, offensive-language
or NSFW-text model) reads the whole caption.
:func:`audit.dataset.classify.classifier_pass` runs the model on bounded
samples of the captions the lexicon flagged and of the others, and reports both
rates with :func:`agreement` (the 2x2 table and Cohen's kappa). Nothing is
downloaded: the model is a local folder (``save_pretrained`` layout,
safetensors weights).

Examples
--------
>>> agreement(np.array([True, True, False, False]), np.array([True, False, False, False]))["kappa"]
0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audit.errors import UserError

__all__ = ["CaptionClassifier", "agreement", "POSITIVE_WORDS"]

#: Label names that count as "positive" (toxic / sexual) when the user names none.
POSITIVE_WORDS = ("toxic", "offensive", "hate", "abusive", "insult", "obscene", "sexual", "nsfw", "porn",
                  "explicit", "unsafe", "label_1")


class CaptionClassifier:
    """A local ``transformers`` text classifier giving P(positive) per caption.

    Parameters
    ----------
    model
        Folder of a sequence-classification model and its tokenizer.
    positive_labels
        Label names (``config.id2label`` values) whose probabilities add up to
        P(positive); default: those containing a word of :data:`POSITIVE_WORDS`.
    batch_size, max_length, device
        Inference settings.

    Raises
    ------
    audit.errors.UserError
        The folder is missing, is not a classifier, or no label is positive.
    """

    def __init__(self, model: str | Path, *, positive_labels: Sequence[str] | None = None, batch_size: int = 64,
                 max_length: int = 128, device: str = "cpu") -> None:
        path = Path(model)
        if not path.is_dir():
            raise UserError(f"{path}: caption classifier folder not found (fix: pass a local folder saved with "
                            "save_pretrained; nothing is downloaded)")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).to(device)
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not a text classifier ({exc}) (fix: pass a sequence-classification "
                            "model folder with its tokenizer)") from None
        self.model.eval()
        labels = {int(i): str(n) for i, n in self.model.config.id2label.items()}
        if positive_labels is None:
            pos = [i for i, n in labels.items() if any(w in n.lower() for w in POSITIVE_WORDS)]
        else:
            pos = [i for i, n in labels.items() if n in set(positive_labels)]
        if not pos:
            raise UserError(f"{path}: no positive label among {sorted(labels.values())} (fix: name them with "
                            "positive_labels)")
        self.labels, self.positive = labels, pos
        self.batch_size, self.max_length, self.device = batch_size, max_length, device
        self._torch = torch

    def predict(self, captions: Sequence[str | None]) -> np.ndarray:
        """P(positive) for each caption (float array; an empty or null caption gives NaN: nothing to read).

        Examples
        --------
        >>> CaptionClassifier("/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        audit.errors.UserError: /nonexistent: caption classifier folder not found ...
        """
        out = np.full(len(captions), np.nan)
        idx = [i for i, c in enumerate(captions) if c and c.strip()]
        with self._torch.inference_mode():
            for lo in range(0, len(idx), self.batch_size):
                part = idx[lo:lo + self.batch_size]
                enc = self.tokenizer([captions[i] for i in part], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
                prob = self.model(**enc).logits.float().softmax(-1)[:, self.positive].sum(-1)
                out[part] = prob.cpu().numpy()
        return out


def agreement(lexicon: np.ndarray, model: np.ndarray) -> dict:
    """2x2 agreement of two boolean flags with Cohen's kappa.

    Returns
    -------
    dict
        ``n, both, lexicon_only, model_only, neither, observed, kappa`` (kappa NaN when undefined).
    """
    a, b = np.asarray(lexicon, bool), np.asarray(model, bool)
    n = int(a.size)
    both, lo, mo = int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum())
    neither = n - both - lo - mo
    obs = (both + neither) / n if n else float("nan")
    exp = ((a.mean() * b.mean()) + ((1 - a.mean()) * (1 - b.mean()))) if n else float("nan")
    kappa = float((obs - exp) / (1 - exp)) if n and exp < 1 else float("nan")
    return {"n": n, "both": both, "lexicon_only": lo, "model_only": mo, "neither": neither,
            "observed": float(obs), "kappa": kappa}
