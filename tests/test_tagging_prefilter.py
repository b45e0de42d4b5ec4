"""The tagger's counts do not depend on batch size: the RE2 prefilter is a true superset (issue 19)."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.dataset.lexicon import load_lexicons, normalise_forms
from audit.dataset.tagger import Tagger
from audit.dataset.textstats import TextAuditor

PIECES = ["café", "CAFÉ", "dr.", "Dr. ", "GİRL", "girl", "İ", "man", "woman", "Women's", " ", "-", ".", "é", "_",
          "ß", "SS", "K", "\u212a", "ǅ", "日本", "x", "’s", "\u0130stanbul", "ﬁ", "fi", "Σ", "ς"]
FORMS = ["café", "dr.", "gi̇rl", "girl", "man", "women", "k", "ss", "fi", "σ", "ǆ", "i̇stanbul", "-", "."]


def by_chunks(tagger: Tagger, caps: list[str], size: int) -> set[tuple[int, int]]:
    out = set()
    for lo in range(0, len(caps), size):
        rows, ids = tagger.match(pa.array(caps[lo:lo + size], pa.string()))
        out.update((lo + int(r), int(i)) for r, i in zip(rows, ids))
    return out


def regex_reference(caps: list[str], forms: list[str]) -> set[tuple[int, int]]:
    """Whole-word matches on Arrow-lower-cased text (the tagger's definition of a word boundary)."""
    low = pc.utf8_lower(pa.array(caps, pa.string())).to_pylist()
    out = set()
    for j, f in enumerate(forms):
        pat = re.compile((r"(?<!\w)" if re.match(r"\w", f) else "") + re.escape(f) + (r"(?!\w)" if re.search(r"\w$", f) else ""))
        out.update((i, j) for i, c in enumerate(low) if pat.search(c or ""))
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=8).map("".join), min_size=1, max_size=12),
       st.lists(st.sampled_from(FORMS), min_size=1, max_size=6, unique=True),
       st.integers(min_value=1, max_value=1500))
def test_batch_size_never_changes_the_matches(caps, forms, size):
    forms = list(dict.fromkeys(normalise_forms(forms)))
    tagger = Tagger(forms)
    many = caps * (2100 // len(caps) + 1)  # above 1,024 rows: the prefilter path runs
    whole = by_chunks(tagger, many, len(many))
    assert whole == by_chunks(tagger, many, size)
    one_by_one = by_chunks(tagger, caps, 1)  # many repeats caps: expand the single-caption matches
    assert whole == {(k * len(caps) + i, s) for i, s in one_by_one for k in range(len(many) // len(caps) + 1)
                     if k * len(caps) + i < len(many)}
    assert one_by_one == regex_reference(caps, forms)


def test_issue_19_user_lexicon_counts_do_not_depend_on_batch_size(tmp_path):
    """café, dr. and GİRL: 333 hits with 999 rows, 0 with 2,001 before the fix."""
    lex_file = tmp_path / "user.yaml"
    lex_file.write_text("categories:\n  place:\n    role: concept\n    terms:\n      cafe: [café]\n"
                        "  title:\n    role: concept\n    terms:\n      doctor: [dr.]\n"
                        "  kid:\n    role: concept\n    terms:\n      girl: [GİRL]\n", encoding="utf-8")
    lex = load_lexicons([lex_file], include_defaults=False)
    assert "girl" in lex.surfaces  # forms are lower-cased as captions are (Arrow), not by str.lower
    caps = ["Dr. Smith at the CAFÉ", "a GİRL", "nothing here"] * 1000
    aud = TextAuditor(lex)
    totals = []
    for size in (999, 1000, 2001, 3000):
        counts = aud.empty()
        for lo in range(0, len(caps), size):
            counts += aud.count_batch(pa.RecordBatch.from_pydict({"text": caps[lo:lo + size]}))
        totals.append([counts.rows_with(c) for c in ("place:cafe", "title:doctor", "kid:girl")])
    assert totals == [[1000, 1000, 1000]] * 4


def test_prefilter_pattern_takes_boundaries_only_at_ascii_word_edges():
    from audit.dataset.tagger import _prefilter_pattern

    pat = _prefilter_pattern(["dr.", "-x", "café"])
    assert r"\bdr\." in pat and r"-x\b" in pat and "caf" not in pat
    assert _prefilter_pattern(["日本"]) is None
    t = Tagger(["日本"])
    caps = ["東京 日本 x"] * 1100
    assert np.array_equal(t.match(pa.array(caps))[0], np.arange(1100))


SENSE_PIECES = ["Women's", "women", "jacket", "young", "Japanese", "artist", "female", "bird", "Baby", "shower",
                "Truong", "Son", "the", "with", "a", "http://x.org/", "girl", "in", "dress", "for", "Kids", " ", " ",
                ", ", "-", "İ", "café", "Mens", "t-shirt", "caught", "Prince", "and", "Epiphanny", "old", "couple"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(SENSE_PIECES), max_size=10).map(" ".join), min_size=1, max_size=15),
       st.integers(min_value=1, max_value=1200))
def test_sense_rules_do_not_depend_on_batch_size(caps, size):
    """The sense rules read each caption on its own: any batching gives the same hits."""
    tagger = Tagger.for_lexicon(load_lexicons())
    many = caps * (1100 // len(caps) + 1)
    whole = by_chunks(tagger, many, len(many))
    assert whole == by_chunks(tagger, many, size)
    assert whole == by_chunks(tagger, many[:len(caps)], 1) | {(i, s) for i, s in whole if i >= len(caps)}


def test_prefilter_lets_through_non_ascii_letters_that_case_fold_to_ascii():
    """KELVIN SIGN lower-cases to "k": under RE2's case folding a plain [^\\x00-\\x7f] would drop it
    (found by the property test above); the non-ASCII class is case-sensitive."""
    tagger = Tagger(["k"])
    many = ["\u212a", "a K", "none"] * 700  # above 1,024 rows: the prefilter path runs
    rows = tagger.match(pa.array(many))[0]
    assert rows.tolist() == [i for i in range(len(many)) if i % 3 != 2]
    assert tagger.match(pa.array(many[:3]))[0].tolist() == [0, 1]
