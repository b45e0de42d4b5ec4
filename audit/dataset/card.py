"""A Hugging Face-style dataset card in Markdown, filled with the audit's measured figures.

Sections follow the Hugging Face dataset card template: Dataset Structure;
Considerations for Using the Data (Social Impact of Dataset, Discussion of
Biases, Other Known Limitations); Personal and Sensitive Information.

Examples
--------
>>> import pandas as pd
>>> md = dataset_card(_example_results(), term_frequencies=pd.DataFrame(columns=["level", "term", "role", "category",
...     "rows", "share"]), cooccurrence=pd.DataFrame(columns=["identity", "concept", "role", "n_both", "npmi"]),
...     per_query=pd.DataFrame(columns=["query", "rows", "nsfw_rate", "nsfw_lo", "nsfw_hi", "toxic_rate",
...     "toxic_lo", "toxic_hi", "unsafe_rate", "unsafe_lo", "unsafe_hi", "nsfw_known", "category"]))
>>> "## Considerations for Using the Data" in md
True
"""

from __future__ import annotations

import html
import math

import pandas as pd

__all__ = ["dataset_card"]


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]()!|~#{}"})


def _md(value) -> str:
    """Inline Markdown text from a value the data or the user chose (paths, lexicon names, notes, terms).

    HTML is escaped and every Markdown-active character is backslash-escaped, so a CommonMark
    renderer shows the text literally: no tags, links, images or code spans.

    Examples
    --------
    >>> _md('<img src=x onerror=alert(1)>')
    '&lt;img src=x onerror=alert\\\\(1\\\\)&gt;'
    >>> _md("[a](javascript:x) `b`|c")
    '\\\\[a\\\\]\\\\(javascript:x\\\\) \\\\`b\\\\`\\\\|c'
    """
    text = html.escape(str(value), quote=True).translate(_MD_SPECIAL)
    return " ".join(text.split())


def _pct(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.{digits}f} %"


def _ci(rate: float, lo: float, hi: float) -> str:
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return "n/a"
    return f"{_pct(rate)} [{_pct(lo)}, {_pct(hi)}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "_(none observed)_\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _example_results() -> dict:
    return {"input": {"root": "x.parquet", "kind": "laion_parquet", "files": 1, "columns_found": ["text"],
                      "missing_columns": {}, "notes": []},
            "captions": {"rows": 0, "null": 0, "empty": 0, "non_null": 0, "duplicate_rows": 0,
                         "duplicate_share": None, "distinct_exact": True, "mean_length_chars": None,
                         "max_length_chars": 0, "very_long_60000_plus": 0, "nonprintable_share": None,
                         "replacement_char_share": None, "mean_ascii_letter_share": None,
                         "mean_stopword_ratio": None, "any_stopword_share": None, "language_sample": "",
                         "problems": {}},
            "lexicons": {"sources": [], "concepts": 0, "surfaces": 0},
            "tool": {"version": "0", "date": ""}}


def _classifier_lines(res: dict | None) -> list[str]:
    """The caption classifier beside the lexicon (``--caption-classifier``), or nothing.

    Examples
    --------
    >>> _classifier_lines(None)
    []
    """
    if not res:
        return []
    a = res["agreement"]
    return ["\nCaption classifier beside the lexicon (unsafe or toxic terms), on bounded random samples "
            f"({res['read_flagged']:,} lexicon-flagged and {res['read_unflagged']:,} unflagged captions read; "
            f"model {_md(res.get('model', ''))}, threshold {res['threshold']}):\n",
            _table(["measure", "value"], [
                ["lexicon rate (captions with text)", _pct(res["lexicon_rate"])],
                ["model rate, stratified estimate [95 % CI]", _ci(res["model_rate"], res["model_lo"], res["model_hi"])],
                ["model positive on lexicon-flagged captions", _ci(res["model_rate_on_flagged"],
                                                                  res["model_on_flagged_lo"], res["model_on_flagged_hi"])],
                ["model positive on unflagged captions", _ci(res["model_rate_on_unflagged"],
                                                            res["model_on_unflagged_lo"], res["model_on_unflagged_hi"])],
                ["agreement on captions read (unweighted)", f"{_pct(a['observed'])}, Cohen's kappa "
                                                          f"{a['kappa']:.2f}" if a["kappa"] == a["kappa"] else
                 f"{_pct(a['observed'])}, kappa n/a"]])]


def dataset_card(results: dict, *, term_frequencies: pd.DataFrame, cooccurrence: pd.DataFrame,
                 per_query: pd.DataFrame, images: dict | None = None, top: int = 10) -> str:
    """Write the dataset card.

    Parameters
    ----------
    results
        The audit's ``results.json`` content (``input``, ``captions``, ``lexicons``, ``tool``).
    term_frequencies, cooccurrence, per_query
        The audit's tables (see :mod:`audit.dataset.results`).
    images
        Image-side summary, when images were audited.
    top
        Rows per ranking table.

    Returns
    -------
    str
        Markdown.
    """
    inp, cap, lex, tool = results["input"], results["captions"], results["lexicons"], results["tool"]
    n = cap["rows"]
    out = [f"# Dataset Card for {_md(inp['root'])}\n",
           f"_Measured by imagen-audit {tool['version']} on {tool['date']}. Every figure below was computed from "
           "the data by the audit (lexicon tagging of captions, metadata tags); rates carry 95 % Wilson "
           "intervals. Lexicon matching finds words, not meaning: treat the figures as indicators._\n",
           "## Dataset Structure\n",
           f"- Layout detected: {_md(inp['kind'])}; {inp['files']} metadata file(s); **{n:,} rows**.",
           f"- Columns used: {', '.join(_md(c) for c in inp['columns_found']) or 'none'}.",
           ]
    missing = inp.get("missing_columns") or {}
    if missing:
        out.append("- Missing columns (tolerated): " + "; ".join(
            f"{_md(c)} absent in {k} file(s)" for c, k in sorted(missing.items())) + ".")
    for note in inp.get("notes", [])[:10]:
        out.append(f"- Note: {_md(note)}")
    out += ["", "### Data Fields\n",
            f"- Captions: mean length {cap['mean_length_chars'] or 0:.1f} characters, longest "
            f"{cap['max_length_chars']:,}; {cap['very_long_60000_plus']:,} caption(s) of 60,000+ characters.",
            f"- Null captions: {cap['null']:,} ({_pct(cap['null'] / n if n else None)}); empty or whitespace: "
            f"{cap['empty']:,} ({_pct(cap['empty'] / n if n else None)}).",
            f"- Duplicate captions: {cap['duplicate_rows']:,} rows repeat an earlier caption "
            f"({_pct(cap['duplicate_share'])}; {'exact' if cap['distinct_exact'] else 'HyperLogLog estimate'}).",
            ""]
    if images:
        out += ["### Images\n", *[f"- {_md(k.replace('_', ' '))}: {_md(v)}" for k, v in images.get("summary", {}).items()], ""]
    out += ["## Considerations for Using the Data\n", "### Social Impact of Dataset\n"]
    q = per_query.set_index("query") if len(per_query) else None
    if q is not None and "(all captions)" in q.index:
        a = q.loc["(all captions)"]
        out.append(f"Across all captions, {_ci(a.nsfw_rate, a.nsfw_lo, a.nsfw_hi)} of rows with a NSFW tag "
                   f"({int(a.nsfw_known):,} rows tagged) are tagged NSFW; {_ci(a.unsafe_rate, a.unsafe_lo, a.unsafe_hi)}"
                   f" of captions contain an unsafe-content term and {_ci(a.toxic_rate, a.toxic_lo, a.toxic_hi)} a "
                   "toxic term. A model trained on these pairs can learn to produce such content and to attach it "
                   "to the identity groups listed below.\n")
    out.append("### Discussion of Biases\n")
    ident = term_frequencies[(term_frequencies.level == "concept") & (term_frequencies.role == "identity")
                             & (term_frequencies.rows > 0)]
    out.append("Most frequent identity terms in captions:\n")
    out.append(_table(["term", "rows", "share of captions"],
                      [[r.term, f"{int(r.rows):,}", _pct(r.share, 3)] for r in ident.head(top).itertuples()]))
    prof = cooccurrence[(cooccurrence.role == "concept") & (cooccurrence.n_both >= 5)].dropna(subset=["npmi"])
    out.append("\nStrongest identity x concept associations (nPMI, pairs seen in at least 5 captions):\n")
    out.append(_table(["identity", "concept", "captions with both", "nPMI"],
                      [[r.identity, r.concept, f"{int(r.n_both):,}", f"{r.npmi:+.3f}"]
                       for r in prof.sort_values("npmi", ascending=False).head(top).itertuples()]))
    per = per_query[(per_query["query"] != "(all captions)") & (per_query.rows >= 20)]
    for col, what in (("nsfw", "NSFW-tag rate"), ("toxic", "toxic-term rate"), ("unsafe", "unsafe-term rate")):
        ranked = per.dropna(subset=[f"{col}_rate"]).sort_values(f"{col}_rate", ascending=False).head(top)
        out.append(f"\nIdentity query terms with the highest {what} (queries in at least 20 captions):\n")
        out.append(_table(["query", "captions", what + " [95 % CI]"],
                          [[r.query, f"{int(r.rows):,}", _ci(getattr(r, f"{col}_rate"), getattr(r, f"{col}_lo"),
                                                              getattr(r, f"{col}_hi"))] for r in ranked.itertuples()]))
    out += _classifier_lines(results.get("caption_classifier"))
    out += ["\n### Other Known Limitations\n",
            f"- Non-printable control characters in {_pct(cap['nonprintable_share'])} of captions; undecodable "
            f"bytes (U+FFFD) in {_pct(cap['replacement_char_share'])}.",
            f"- Language ({cap['language_sample']}): mean share of ASCII letters "
            f"{_pct(cap['mean_ascii_letter_share'])}; mean English stop-word ratio "
            f"{_pct(cap['mean_stopword_ratio'])}; {_pct(cap['any_stopword_share'])} contain an English stop word.",
            "- Read problems: " + (", ".join(f"{_md(k)}: {v:,}" for k, v in sorted(cap["problems"].items())) or "none") + ".",
            f"- Lexicons used ({lex['concepts']} concepts, {lex['surfaces']} surface forms): "
            + ", ".join(_md(s) for s in lex["sources"]) + ". Words out of context (\"black dress\", \"white "
            "background\") are not identity mentions; the starter ethnicity lexicon therefore uses multi-word forms.",
            "- Identity hits decided by: " + ("the sense rules, then the learned sense model "
                                              f"({_md(lex['sense_model'])})" if lex.get("sense_model")
                                              else "the sense rules (no learned sense model)") + ".",
            "", "## Personal and Sensitive Information\n"]
    sens = ident.groupby("category")["rows"].sum() if len(ident) else pd.Series(dtype=float)
    out.append("Captions mentioning a sensitive category (sum over its terms; a caption may count twice):\n")
    out.append(_table(["category", "term mentions", "per 1,000 captions"],
                      [[c, f"{int(v):,}", f"{1000 * v / n:.2f}" if n else "n/a"] for c, v in sens.items()]))
    out.append("\nCaptions are scraped alt-text and may name real people; URLs point to third-party sites. "
               "This audit does not identify people and stores no caption text in its outputs.\n")
    return "\n".join(out)
