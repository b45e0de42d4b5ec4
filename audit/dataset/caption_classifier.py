"""Optional model-based caption classifier, reported beside the lexicon with their agreement.

A lexicon counts words; a text classifier (any local ``transformers``
sequence-classification model the user names: a toxicity, offensive-language
or NSFW-text model) reads the whole caption. :func:`compare_with_lexicon` runs
the model on the captions the lexicon tagged plus a random sample of the
others (so its cost stays bounded), and returns both rates with the 2x2 table
of agreement and Cohen's kappa. Nothing is downloaded: the model is a local
folder (``save_pretrained`` layout, safetensors weights).

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

__all__ = ["CaptionClassifier", "agreement", "compare_with_lexicon", "POSITIVE_WORDS"]

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


def compare_with_lexicon(captions: Sequence[str | None], lexicon_flag: np.ndarray, classifier: CaptionClassifier,
                         *, sample: int = 1000, threshold: float = 0.5, seed: int = 0) -> dict:
    """Run the classifier on the lexicon-flagged captions plus a random sample of the others.

    Parameters
    ----------
    captions, lexicon_flag
        Captions and whether the lexicon flags each (e.g. any unsafe or toxic term).
    classifier
        A :class:`CaptionClassifier`.
    sample
        Captions drawn (without replacement, by ``seed``) from the unflagged ones.
    threshold
        P(positive) at or above which the model flags a caption.

    Returns
    -------
    dict
        ``lexicon_rate`` (over all captions), ``model_rate`` (estimated over all
        captions: flagged part plus the sample scaled to the unflagged part),
        ``read`` (captions the model read), ``unreadable`` (empty captions,
        counted apart), and :func:`agreement` on the captions read, with the
        unflagged sample weighted as drawn (unweighted table).
    """
    flag = np.asarray(lexicon_flag, bool)
    n = len(captions)
    rng = np.random.default_rng(seed)
    rest = np.flatnonzero(~flag)
    drawn = np.sort(rng.choice(rest, size=min(sample, rest.size), replace=False)) if rest.size else rest
    read = np.r_[np.flatnonzero(flag), drawn]
    p = classifier.predict([captions[i] for i in read])
    ok = ~np.isnan(p)
    model = p >= threshold
    n_flag = int(flag.sum())
    on_flag = model[: n_flag][ok[: n_flag]]
    on_rest = model[n_flag:][ok[n_flag:]]
    rate = ((on_flag.sum() + (on_rest.mean() * rest.size if on_rest.size else 0.0)) / n) if n else float("nan")
    return {"lexicon_rate": n_flag / n if n else float("nan"), "model_rate": float(rate), "read": int(ok.sum()),
            "unreadable": int((~ok).sum()), "threshold": threshold,
            **agreement(flag[read][ok], model[ok])}
