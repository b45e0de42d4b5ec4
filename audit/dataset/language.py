"""Is a caption English? A fast, vectorised guess so rates can say what they cover.

The lexicons are English: a rate over all captions silently treats a German or
Thai caption as "no identity term". :func:`english_mask` flags the captions
that are probably not English, so an audit can state its non-English share and
that its lexicon rates cover English captions only.

Rule (two RE2 scans and one byte count per caption, no model):

- a caption whose letters are mostly non-ASCII characters (Cyrillic, CJK,
  Thai, Arabic, ...; at least 30 % of its letters) is not English;
- otherwise it is not English when it has more function words of other
  Latin-script languages (Spanish, French, German, Portuguese, Italian, Dutch,
  Swedish, Polish, Indonesian; a list that avoids words English also uses,
  e.g. "de", "die", "do", "no", "van") than English stop words.

Captions with neither kind of word (product names, keyword lists) count as
English: on the labelled fixture the rule finds about half of the non-English
captions at high precision (``benchmarks/caption_tagging.py`` prints it), so
the stated share is a lower bound.

Examples
--------
>>> import pyarrow as pa
>>> english_mask(pa.array(["a woman with a dog", "Roos en Lieke in de bus met de kat",
...                        "Обои snow, cars", "Chaussures pour femme avec lacets", None])).tolist()
[True, True, False, False, True]
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["english_mask", "FOREIGN_WORDS"]

#: Function words (and a few frequent shop words) of other Latin-script languages,
#: chosen not to be English words too.
FOREIGN_WORDS = (
    # es / pt
    "el", "los", "las", "del", "y", "con", "para", "por", "una", "uma", "os", "dos", "em", "com", "não", "são",
    "más", "muy", "sin", "pero", "cuando", "donde", "esta", "este", "sobre", "nueva", "nuevo", "venta",
    "mujer", "hombre", "niña", "niño", "zapatillas", "vestido", "camiseta", "cocina", "recetas", "familia",
    # fr
    "les", "des", "du", "et", "avec", "pour", "une", "sur", "dans", "aux", "sont", "est", "nous", "vous",
    "cette", "ces", "qui", "pas", "chez", "où", "très", "femme", "homme", "fille", "chaussures", "coque",
    "bague", "cartes", "robe",
    # de
    "der", "das", "und", "mit", "für", "von", "zu", "ein", "eine", "dem", "im", "ist", "auf", "nicht", "sind",
    "zum", "zur", "bei", "nach", "aus", "über", "oder", "wir", "sie", "ich", "damen", "herren", "kinder",
    "zoll", "fuß", "aufkleber",
    # it
    "il", "della", "delle", "degli", "gli", "alla", "sono", "per", "che", "nel", "immagine", "titolata",
    # nl / sv / pl / id
    "het", "een", "voor", "niet", "wit", "blauw", "och", "är", "på", "för", "att", "nieuwjaar", "londen",
    "bäst", "dla", "jest", "się", "untuk", "dari", "tidak", "dengan",
)


def _alternation(words) -> str:
    """Whole-word alternation; ``\\b`` (ASCII in RE2) only at ASCII letter edges."""
    def one(w: str) -> str:
        return (r"\b" if w[0].isascii() else "") + re.escape(w) + (r"\b" if w[-1].isascii() else "")
    return "(?:" + "|".join(one(w) for w in sorted(set(words), key=len, reverse=True)) + ")"


_FOREIGN_RE = _alternation(FOREIGN_WORDS)
_ENGLISH_RE: str | None = None


def english_mask(captions: pa.Array) -> np.ndarray:
    """``True`` where a caption is probably English (or has no letters); see the module docstring.

    Parameters
    ----------
    captions
        String array (nulls count as English: there is nothing to miss).

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> english_mask(pa.array(["Expresiones regulares en Tkinter con el teclado"])).tolist()
    [False]
    """
    global _ENGLISH_RE
    if _ENGLISH_RE is None:
        from audit.dataset.lexicon import load_stopwords

        _ENGLISH_RE = _alternation(w for w in load_stopwords() if w not in FOREIGN_WORDS)
    text = captions.fill_null("") if captions.null_count else captions
    n = len(text)
    if not n:
        return np.zeros(0, bool)
    from audit.dataset.tagger import string_buffer

    data, offsets = string_buffer(text)
    lead = (data >= 0xC0).astype(np.int64)  # one per non-ASCII character
    ascii_letter = (((data | 0x20) >= ord("a")) & ((data | 0x20) <= ord("z"))).astype(np.int64)
    starts = offsets[:-1]
    nonempty = offsets[1:] > starts
    non_ascii = np.zeros(n, np.int64)
    letters = np.zeros(n, np.int64)
    if data.size:
        idx = starts[nonempty]
        non_ascii[nonempty] = np.add.reduceat(lead, idx)
        letters[nonempty] = np.add.reduceat(ascii_letter, idx)
    script = non_ascii >= 0.3 * np.maximum(non_ascii + letters, 1)
    low = pc.utf8_lower(text)
    foreign = pc.count_substring_regex(low, _FOREIGN_RE).to_numpy(zero_copy_only=False)
    english = pc.count_substring_regex(low, _ENGLISH_RE).to_numpy(zero_copy_only=False)
    return ~(script & (non_ascii > 0) | (foreign > english))
