"""Findings (ranking rule, minimum count, degenerate input), labeler accuracy from cards, glossary coverage,
evidence grids and stored caption examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from audit.report.accuracy import accuracy_table, group_accuracy, load_cards
from audit.report.evidence import CaptionExamples, finding_evidence
from audit.report.findings import finding_lines, format_finding, top_findings, warnings_of
from audit.report.glossary import GLOSSARY, glossary_markdown, metric_names
from audit.report.sections import glossary_table
from audit.results import Options, results_table
from audit.results import columns as C

ROOT = Path(__file__).resolve().parents[1]


def _gaps(rows):
    """A results table of nPMI gap rows ``(concept, estimate, lo, hi, n)``."""
    return pd.DataFrame([{"setting": "default", "slot": "job", "concept": c, "labeler": "world",
                          "attribute": "presentation", "value": "feminine - masculine", "metric": "npmi_gap",
                          "estimate": e, "lo": lo, "hi": hi, "n": n, "total": n, "method": "bootstrap",
                          "corrected": False, "note": ""} for c, e, lo, hi, n in rows], columns=list(C.COLUMNS))


def test_rank_by_the_interval_bound_nearest_zero_with_a_minimum_count():
    t = _gaps([("big-but-noisy", 1.2, 0.02, 1.9, 40), ("certain", 0.5, 0.4, 0.6, 40),
               ("negative", -0.7, -0.9, -0.3, 40), ("crosses-zero", 0.9, -0.1, 1.5, 40),
               ("tiny-sample", 1.5, 1.0, 1.9, 3)])
    f = top_findings(t, k=5, min_n=10)
    assert f.concept.tolist() == ["certain", "negative", "big-but-noisy"]
    assert f["rank"].tolist() == [1, 2, 3]
    assert f.strength.tolist() == pytest.approx([0.4, 0.3, 0.02])
    # the world labeler's shipped card gives the measured accuracy of both groups
    acc = {a["group"]: a for a in f.accuracy.iloc[0]}
    assert set(acc) == {"feminine", "masculine"} and all(0.9 < a["accuracy"] <= 1 and a["n"] > 1000
                                                         for a in acc.values())
    line = format_finding(f.iloc[0])
    assert "+0.50 [+0.40, +0.60]" in line and "n = 40 images" in line and "bootstrap" in line
    fem = acc["feminine"]
    assert f"feminine {100 * fem['accuracy']:.1f}% (n = {fem['n']}" in line and "no answer for 0.0%" in line
    assert top_findings(t, k=5, min_n=2).concept.tolist()[0] == "tiny-sample"  # the threshold is what kept it out


def test_degenerate_labeler_gives_a_stated_warning_not_a_list_of_nans():
    """A labeler that answers 'feminine' for everything: gaps undefined, a warning in words, nothing ranked."""
    rng = np.random.default_rng(0)
    m = pd.DataFrame({"image_id": [f"i{i}" for i in range(120)], "prompt_id": [f"p{i // 4}" for i in range(120)],
                      "job": [["nurse", "ceo", "pilot"][i % 3] for i in range(120)]})
    lab = pd.DataFrame({"image_id": m.image_id, "labeler": "one", "attribute": "presentation", "value": "feminine"})
    t = results_table(m, lab, options=Options(n_resamples=50)).table
    gaps = t[t.metric == "npmi_gap"]
    assert len(gaps) and gaps.estimate.isna().all()
    f = top_findings(t, cards={})
    assert f.empty
    said = " ".join(warnings_of(f))
    assert "answered presentation = feminine for all 120 answered images" in said
    assert "No finding: every nPMI gap is undefined (not observed: masculine" in said
    lines = finding_lines(f)
    assert lines and all(line.startswith("  ! ") for line in lines) and "nan" not in " ".join(lines).lower()
    # and a table with no rows at all says so too
    assert "no nPMI gap rows" in " ".join(warnings_of(top_findings(pd.DataFrame(columns=list(C.COLUMNS)))))
    del rng


def test_a_sweep_finding_shows_its_spread_across_settings():
    t = pd.concat([_gaps([("nurse", 0.5, 0.4, 0.6, 40)]).assign(setting="guidance=1"),
                   _gaps([("nurse", 0.9, 0.8, 1.0, 40)]).assign(setting="guidance=8")], ignore_index=True)
    f = top_findings(t, k=1, cards={})
    assert f.setting.tolist() == ["guidance=8"]
    assert [x["setting"] for x in f.sweep.iloc[0]] == ["guidance=1", "guidance=8"]
    assert "across settings: guidance=1 +0.50 [+0.40, +0.60], guidance=8 +0.90" in format_finding(f.iloc[0])


def test_counterfactual_axes_are_not_ranked_as_associations():
    t = pd.concat([_gaps([("nurse", 0.5, 0.4, 0.6, 40)]),
                   _gaps([("dark-skinned", -1.4, -1.6, -1.2, 40), ("(none)", 0.1, -0.1, 0.3, 40)]).assign(
                       slot="skin_tone", attribute="skin_group", value="light - dark")], ignore_index=True)
    f = top_findings(t, cards={})
    assert f.concept.tolist() == ["nurse"] and "Counterfactual axes (skin_tone)" in f.attrs["notes"][0]


def test_findings_without_intervals_are_not_ranked():
    f = top_findings(_gaps([("a", 0.8, np.nan, np.nan, 50)]), cards={})
    assert f.empty and "have no interval" in warnings_of(f)[0]


def test_labeler_card_accuracy_per_group():
    cards = load_cards(["world", "no-card"])
    assert list(cards) == ["world"]
    card = json.loads((ROOT / "data" / "weights" / "world-labeler" / "card.json").read_text())
    cm = card["augmented"]["confusion"]["presentation"]
    i = cm["classes"].index("masculine")
    want = cm["matrix"][i][i] / sum(cm["matrix"][i])
    assert group_accuracy(cards["world"], "presentation", "masculine") == {
        "accuracy": pytest.approx(want), "n": sum(cm["matrix"][i]), "split": "augmented"}
    skin = accuracy_table(cards, attributes={"skin_group": ["light", "medium", "dark"]})
    assert skin.group.tolist() == ["light", "medium", "dark"] and skin.n.sum() == card["augmented"]["n"]


def test_every_metric_name_has_a_glossary_entry_and_its_doc_anchor_exists():
    names = metric_names()
    missing = sorted(names - set(GLOSSARY))
    assert not missing, f"metric names without a glossary entry: {missing}"
    # every metric-like constant of the results columns module is covered too
    constants = {v for k, v in vars(C).items() if k.isupper() and isinstance(v, str) and re.fullmatch(r"[a-z_]+", v)}
    constants -= {C.ALL, C.FILE.split(".")[0], C.UNSAFE_TRUE, "filtered"}  # not metric names
    assert constants <= set(GLOSSARY), sorted(constants - set(GLOSSARY))
    for name, entry in GLOSSARY.items():
        assert entry.plain and entry.formula, name
        page, _, anchor = entry.doc.partition("#")
        text = (ROOT / page).read_text(encoding="utf-8")
        heads = {re.sub(r"[^a-z0-9 _-]", "", h.lower()).strip().replace(" ", "-")
                 for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
        assert anchor in heads, f"{name}: {entry.doc} has no such heading"
    assert glossary_table(["npmi_gap"]).formula.iloc[0].startswith("nPMI(concept, a)")
    assert glossary_markdown() in (ROOT / "docs" / "report.md").read_text(encoding="utf-8")


def test_evidence_grid_groups_images_by_label_with_prompt_seed_and_link(tmp_path):
    (tmp_path / "run" / "images").mkdir(parents=True)
    rows, labels = [], []
    for i in range(10):
        Image.new("RGB", (64, 64), (20 * i, 0, 0)).save(tmp_path / "run" / "images" / f"{i}.png")
        rows.append({"image_id": str(i), "path": f"images/{i}.png", "prompt": f"a <b>nurse</b> {i}", "seed": i,
                     "setting": "default", "job": "nurse" if i < 8 else "ceo"})
        labels.append({"image_id": str(i), "labeler": "w", "attribute": "presentation",
                       "value": ["feminine", "masculine", "no_face"][i % 3]})
    grid = finding_evidence({"setting": "default", "slot": "job", "concept": "nurse", "labeler": "w",
                             "attribute": "presentation", "groups": ["masculine", "feminine"]},
                            manifest=pd.DataFrame(rows), labels=pd.DataFrame(labels), root=tmp_path / "run",
                            per_group=2, link_from=tmp_path / "run" / "report")
    assert [(g, n, len(items)) for g, n, items in grid.rows] == [
        ("presentation = masculine", 3, 2), ("presentation = feminine", 3, 2),
        ("presentation = no_face (no answer)", 2, 2)]
    html = grid.html(None)
    assert html.count("data:image/jpeg;base64,") == 6 and "&lt;b&gt;nurse&lt;/b&gt;" in html
    assert 'href="../images/' in html and "seed " in html and "presentation: masculine" in html


def test_caption_examples_are_kept_per_tag_and_pair_whatever_the_batching():
    from audit.dataset.lexicon import load_lexicons
    from audit.dataset.textstats import TextAuditor

    texts = [f"a woman nurse number {i}" for i in range(30)] + [f"a man chef {i}" for i in range(30)]
    aud = TextAuditor(load_lexicons())
    whole = aud.count_batch(pa.RecordBatch.from_pydict({"text": texts}))
    parts = aud.count_batch(pa.RecordBatch.from_pydict({"text": texts[:17]}))
    parts += aud.count_batch(pa.RecordBatch.from_pydict({"text": texts[17:]}))
    a, b = whole.examples.frame(whole.labels), parts.examples.frame(parts.labels)
    pd.testing.assert_frame_equal(a.sort_values(["tag", "other", "hash"]).reset_index(drop=True),
                                  b.sort_values(["tag", "other", "hash"]).reset_index(drop=True))
    pair = a[(a.tag == "gender:woman") & (a.other == "profession:nurse")]
    assert len(pair) == 3 and pair.caption.str.contains("woman nurse").all()
    assert (a[a.other == ""].groupby("tag").size() <= 5).all()
    block = CaptionExamples("x", [("insult", 3, ["<script>x</script>"], True)], hide="sensitive")
    html = block.html(None)
    assert "<details>" in html and "&lt;script&gt;" in html and "<script>x" not in html
    assert "(hidden)" in CaptionExamples("x", [("t", 1, ["c"], False)], hide="all").markdown()
