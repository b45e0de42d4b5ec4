"""Text side of the dataset audit: lexicons, tagger, counts, tables (checked against direct computations)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.dataset.distinct import DistinctCounter
from audit.dataset.lexicon import load_lexicons
from audit.dataset.results import ALL, caption_summary, cooccurrence, per_query_rates, term_frequencies
from audit.dataset.tagger import Tagger
from audit.dataset.textstats import TextAuditor
from audit.errors import SpecError
from audit.metrics import npmi_array, wilson_interval

FIXTURE = Path("/work/shared/fixtures/laion_captions_1000.parquet")


def real_captions() -> list:
    if not FIXTURE.exists():
        pytest.fail(f"fixture missing: {FIXTURE} (the shared LAION-style sample of 1,000 URL, TEXT rows)")
    return pq.read_table(FIXTURE, columns=["TEXT"]).column("TEXT").to_pylist()


def reference_matches(captions: list, surfaces: tuple[str, ...]) -> set[tuple[int, int]]:
    """Whole-word matches by regular expressions: not preceded/followed by a letter, digit or underscore
    (a stem ``form*`` may be followed by more of its word)."""
    pats = [re.compile(r"(?<!\w)" + re.escape(s[:-1]) if s.endswith("*") and len(s) > 1 else
                       r"(?<!\w)" + re.escape(s) + r"(?!\w)") for s in surfaces]
    out = set()
    for i, c in enumerate(captions):
        low = (c or "").lower()
        for j, p in enumerate(pats):
            if p.search(low):
                out.add((i, j))
    return out


def tagger_matches(tagger: Tagger, captions: list) -> set[tuple[int, int]]:
    rows, ids = tagger.match(pa.array(captions, pa.string()))
    return set(zip(rows.tolist(), ids.tolist()))


def test_tagger_equals_regex_reference_on_real_captions():
    lex = load_lexicons()
    caps = real_captions() * 2  # 2,000 captions: the RE2 prefilter path runs too
    got = tagger_matches(Tagger(lex.surfaces), caps)
    want = reference_matches(caps, lex.surfaces)
    assert got == want
    assert len(want) > 100  # the fixture does contain lexicon words


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(
    ["man", "woman", "women", "nurse", "police officer", "police", "officer", " ", "-", "é", "’s", "x", "ñurse",
     "manñ", "a", ".", "\u00e9man", "日本", "Nurse", "MAN", "_", "²", "Ⅻ"]), max_size=12).map("".join), max_size=20))
def test_tagger_equals_regex_reference_on_generated_text(caps):
    surfaces = ("man", "woman", "women", "nurse", "police officer", "officer")
    assert tagger_matches(Tagger(surfaces), caps) == reference_matches(caps, surfaces)
    many = caps * 60  # >= 1024 captions: the RE2 prefilter runs
    assert tagger_matches(Tagger(surfaces), many) == reference_matches(many, surfaces)


def test_lexicon_merge_extends_and_validates(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("categories:\n  gender:\n    role: identity\n    terms:\n      woman: [gal]\n"
                     "  colour:\n    role: concept\n    terms:\n      red: [red, crimson]\n")
    lex = load_lexicons([extra])
    assert "colour:red" in lex.concepts and "gal" in lex.surfaces
    assert lex.concepts[lex.surface_concepts[lex.surfaces.index("gal")][0]] == "gender:woman"
    only = load_lexicons([extra], include_defaults=False)
    assert set(only.concepts) == {"gender:woman", "colour:red"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories:\n  gender:\n    role: concept\n    terms:\n      x: [y]\n")
    with pytest.raises(SpecError, match="categories.gender.role"):
        load_lexicons([bad])
    bad.write_text("categories:\n  c:\n    role: nope\n    terms: {x: [y]}\n")
    with pytest.raises(SpecError, match="use one of identity"):
        load_lexicons([bad], include_defaults=False)


_ONE_BY_ONE: dict = {}


def sense_matches(captions: list, lex) -> set[tuple[int, int]]:
    """Whole-word regex matches, kept where the sense-aware tagger keeps them caption by caption."""
    tagger = _ONE_BY_ONE.setdefault(id(lex), Tagger.for_lexicon(lex))
    regex = reference_matches(captions, lex.forms)
    kept = set()
    for i, c in enumerate(captions):
        _, ids = tagger.match(pa.array([c], pa.string()))
        kept.update((i, int(s)) for s in ids)
    assert kept <= regex  # the rules only ever drop hits
    return kept


def direct_indicators(captions: list, lex) -> pd.DataFrame:
    """Caption x concept indicator: regular expressions and the sense rules, one caption at a time."""
    pairs = sense_matches(captions, lex)
    ind = np.zeros((len(captions), len(lex.concepts)), bool)
    for i, s in pairs:
        for c in lex.surface_concepts[s]:
            ind[i, c] = True
    return pd.DataFrame(ind, columns=list(lex.concepts))


def test_counts_tables_match_direct_computation_on_real_captions():
    lex = load_lexicons()
    caps = real_captions()
    rng = np.random.default_rng(0)
    nsfw = rng.choice(["NSFW", "UNLIKELY", "UNSURE", None], size=len(caps), p=[0.2, 0.6, 0.1, 0.1])
    aud = TextAuditor(lex)
    counts = aud.empty()
    for lo in range(0, len(caps), 300):  # several batches: counts must add up
        counts += aud.count_batch(pa.RecordBatch.from_pydict(
            {"text": caps[lo:lo + 300], "nsfw": list(nsfw[lo:lo + 300])}))
    ind = direct_indicators(caps, lex)
    roles = np.array(lex.roles)
    unsafe = ind.loc[:, roles == "unsafe"].any(axis=1).to_numpy()
    toxic = ind.loc[:, roles == "toxic"].any(axis=1).to_numpy()
    flag = nsfw == "NSFW"
    known = np.array([v is not None for v in nsfw])

    tf = term_frequencies(counts, lex).query("level == 'concept'").set_index("term")
    assert (tf.loc[list(lex.concepts), "rows"].to_numpy() == ind.sum().to_numpy()).all()

    rates = per_query_rates(counts, lex).set_index("query")
    for q in [c for c, r in zip(lex.concepts, lex.roles) if r == "identity"]:
        m = ind[q].to_numpy()
        assert rates.loc[q, "rows"] == m.sum()
        assert rates.loc[q, "nsfw_known"] == (m & known).sum()
        assert rates.loc[q, "nsfw"] == (m & flag & known).sum()
        assert rates.loc[q, "toxic"] == (m & toxic).sum()
        assert rates.loc[q, "unsafe"] == (m & unsafe).sum()
    woman = rates.loc["gender:woman"]
    lo, hi = wilson_interval(woman.nsfw, woman.nsfw_known)
    assert woman.nsfw_lo == pytest.approx(float(lo)) and woman.nsfw_hi == pytest.approx(float(hi))
    assert rates.loc[ALL, "rows"] == len(caps)

    k = len(lex.concepts)
    m = ind.to_numpy().astype(np.int64)
    assert np.array_equal(counts.pair[:k, :k], m.T @ m)  # every concept pair
    assert np.array_equal(counts.pair[:k, counts.labels.index("flag:any_toxic")], m.T @ toxic.astype(np.int64))

    co = cooccurrence(counts, lex).set_index(["identity", "concept"])
    x, y = ind["gender:woman"].to_numpy(), ind["activity:partying"].to_numpy()
    n = len(caps)
    table = np.array([[(x & y).sum(), (x & ~y).sum()], [(~x & y).sum(), (~x & ~y).sum()]], float)
    assert co.loc[("gender:woman", "activity:partying"), "n_both"] == (x & y).sum()
    if table[0, 0]:  # smoothed with the frame's prior; a pair never seen together is "not observed"
        assert co.loc[("gender:woman", "activity:partying"), "npmi"] == pytest.approx(npmi_array(table, prior=0.5)[0, 0])
    else:
        assert np.isnan(co.loc[("gender:woman", "activity:partying"), "npmi"])
    seen = co[co.n_both > 0]
    assert seen.npmi.notna().all() and co[co.n_both == 0].npmi.isna().all()
    assert co.loc[("gender:woman", "activity:partying"), "n_rows"] == n


def test_batches_with_many_repeats_count_like_direct_computation():
    """Repeated captions take the de-duplicated path (weights); results must not change."""
    lex = load_lexicons()
    caps = real_captions()[:400]
    rng = np.random.default_rng(1)
    rows = rng.integers(0, len(caps), 3000)  # ~87 % repeats
    batch_caps = [caps[i] for i in rows]
    nsfw = rng.choice(["NSFW", "UNLIKELY", None], size=len(rows), p=[0.3, 0.6, 0.1])
    counts = TextAuditor(lex).count_batch(pa.RecordBatch.from_pydict({"text": batch_caps, "nsfw": list(nsfw)}))
    ind = direct_indicators(batch_caps, lex).to_numpy().astype(np.int64)
    k = len(lex.concepts)
    assert np.array_equal(counts.pair[:k, :k], ind.T @ ind)
    flag = ((nsfw == "NSFW")).astype(np.int64)
    assert np.array_equal(counts.pair[:k, counts.labels.index("flag:nsfw")], ind.T @ flag)
    assert np.array_equal(counts.pair[:k, counts.labels.index("flag:all")], ind.sum(axis=0))
    assert caption_summary(counts)["duplicate_rows"] == len(rows) - len(set(batch_caps))


def test_caption_statistics_on_real_captions():
    caps = real_captions()
    lex = load_lexicons()
    counts = TextAuditor(lex).count_batch(pa.RecordBatch.from_pydict({"text": caps}))
    s = caption_summary(counts)
    assert s["rows"] == 1000 and s["null"] == 0
    assert s["duplicate_rows"] == len(caps) - len(set(caps))
    assert s["mean_length_chars"] == pytest.approx(np.mean([len(c) for c in caps]))
    assert s["max_length_chars"] == max(len(c) for c in caps)
    assert 0.5 < s["mean_ascii_letter_share"] < 1.0
    assert 0.0 < s["mean_stopword_ratio"] < 0.5


def test_empty_null_duplicate_long_and_odd_captions():
    lex = load_lexicons()
    long = "lorem " * 12_000 + " a nurse"  # 72,000+ characters
    caps = ["a woman", "a woman", None, "", "   ", long, "tab\there", "bell\x07char"]
    counts = TextAuditor(lex).count_batch(pa.RecordBatch.from_pydict({"text": caps}))
    s = caption_summary(counts)
    assert (s["rows"], s["null"], s["empty"]) == (8, 1, 2)
    assert s["very_long_60000_plus"] == 1 and s["max_length_chars"] == len(long)
    assert counts.rows_with("profession:nurse") == 1  # found at the end of the long caption
    assert s["duplicate_rows"] == 1  # the second "a woman" ("" and "   " differ)
    assert s["nonprintable_share"] == pytest.approx(1 / 7)


def test_binary_and_non_string_captions_are_repaired_and_counted():
    lex = load_lexicons()
    aud = TextAuditor(lex)
    b = aud.count_batch(pa.RecordBatch.from_pydict(
        {"text": pa.array([b"a nurse", b"\xff\xfe woman", None], pa.binary())}))
    assert b.problems == {"invalid_utf8": 1}
    assert b.rows_with("profession:nurse") == 1 and b.rows_with("gender:woman") == 1
    assert caption_summary(b)["replacement_char_share"] == pytest.approx(0.5)
    n = aud.count_batch(pa.RecordBatch.from_pydict({"text": pa.array([1, 2, None])}))
    assert n.problems == {"non_string": 2} and n.n_rows == 3
    nested = aud.count_batch(pa.RecordBatch.from_pydict({"text": pa.array([[1], [2]])}))
    assert nested.problems == {"unusable_type": 2} and caption_summary(nested)["null"] == 2


def test_punsafe_column_sets_the_nsfw_flag():
    lex = load_lexicons()
    c = TextAuditor(lex, punsafe_threshold=0.5).count_batch(pa.RecordBatch.from_pydict(
        {"text": ["a woman", "a woman", "a man"], "punsafe": [0.9, 0.1, None]}))
    r = per_query_rates(c, lex).set_index("query")
    assert r.loc["gender:woman", ["nsfw", "nsfw_known"]].tolist() == [1, 2]
    assert r.loc["gender:man", "nsfw_known"] == 0 and np.isnan(r.loc["gender:man", "nsfw_rate"])


def test_distinct_counter_exact_hll_and_merge():
    rng = np.random.default_rng(0)
    h = rng.integers(0, 2**63, 200_000).astype(np.uint64)
    exact = DistinctCounter()
    exact.add(h[:150_000])
    other = DistinctCounter()
    other.add(h[100_000:])
    assert exact.merge(other).count() == len(np.unique(h))
    small = DistinctCounter(exact_limit=1_000)
    small.add(h)
    small.add(h[:5000])
    n = small.count()
    assert not small.exact
    assert abs(n - 200_000) / 200_000 < 0.02  # p=16: standard error ~0.4 %


def test_large_string_and_dictionary_captions_count_like_plain_strings():
    lex = load_lexicons()
    caps = real_captions() * 2  # >= 1024 rows: the prefilter path
    aud = TextAuditor(lex)
    plain = aud.count_batch(pa.RecordBatch.from_pydict({"text": pa.array(caps, pa.string())}))
    for arr in (pa.array(caps, pa.large_string()), pa.array(caps, pa.string()).dictionary_encode()):
        other = aud.count_batch(pa.RecordBatch.from_pydict({"text": arr}))
        assert np.array_equal(plain.pair, other.pair) and np.array_equal(plain.surface_rows, other.surface_rows)
        assert other.problems == {} and other.distinct.count() == plain.distinct.count()
