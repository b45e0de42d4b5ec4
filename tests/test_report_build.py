"""build_report and its blocks: files written, escaping, strict JSON, parquet tables, image grids."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.report import (
    Chart,
    Code,
    GridItem,
    ImageGrid,
    ReportSection,
    Table,
    Text,
    build_report,
    export_pngs,
    find_chromium,
    script_json,
)
from audit.report.figures import bars_with_intervals, gap_bars, npmi_heatmap

PAYLOAD = "<img src=x onerror=\"document.title='PWNED'\"></script><script>document.title='PWNED2'</script>"


def _sections(tmp_path):
    img = tmp_path / "a.png"
    Image.new("RGB", (32, 20), (200, 10, 10)).save(img)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    idx = pd.MultiIndex.from_tuples([(PAYLOAD, "feminine"), (PAYLOAD, "masculine"), ("ceo", "feminine"),
                                     ("ceo", "masculine")], names=["profession", "presentation"])
    bg = pd.DataFrame({"npmi": [0.2, -0.3, -0.5, 0.4], "proportion": [0.6, 0.4, 0.2, 0.8],
                       "proportion_lo": [0.5, 0.3, 0.1, 0.7], "proportion_hi": [0.7, 0.5, 0.3, 0.9],
                       "proportion_ref": [0.5, 0.5, 0.3, 0.7]}, index=idx)
    gaps = pd.DataFrame({"profession": [PAYLOAD, "ceo"], "gap": [0.5, -0.9], "lo": [0.1, -1.2], "hi": [0.8, -0.4]})
    table = pd.DataFrame({"prompt": [PAYLOAD, "a ceo"], "value": [np.nan, 1.5]})
    return [
        ReportSection(
            f"Probe {PAYLOAD}",
            [
                Text(PAYLOAD),
                Text("caveat " + PAYLOAD, kind="caveat"),
                Chart("heat", npmi_heatmap(bg, concept="profession", attribute="presentation", title=PAYLOAD)),
                Chart("bars", bars_with_intervals(bg, concept="profession", attribute="presentation")),
                Chart("gaps", gap_bars(gaps, concept="profession")),
                Table("rows", table, caption=PAYLOAD),
                ImageGrid("grid", [GridItem(img, PAYLOAD), GridItem(tmp_path / "broken.png", "x"),
                                   GridItem(tmp_path / "missing.png", "y")]),
            ],
            results={"score": float("nan"), "n": np.int64(3), "worst": PAYLOAD},
            summary=[f"worst {PAYLOAD}"],
            key="probe",
        )
    ]


def test_build_report_writes_every_artifact_and_escapes(tmp_path):
    out = tmp_path / "out"
    report = build_report(_sections(tmp_path), spec={"prompts": [PAYLOAD]}, out_dir=out, title=PAYLOAD,
                          export_png=False)
    html = report.read_text()
    assert PAYLOAD not in html and "<img src=x" not in html and "PWNED2'</script>" not in html
    assert "&lt;img src=x onerror=&quot;document.title=&#x27;PWNED&#x27;&quot;&gt;" in html  # shown, not run
    # plotly.js embedded exactly once, nothing loaded from the network
    from audit.report.build import plotly_js

    js = plotly_js()[0]
    assert html.count(js) == 1 and html.count("* plotly.js") == 1
    rest = html.replace(js, "")
    assert "cdn.plot.ly" not in rest and "src=\"http" not in rest and "<script src" not in rest
    # one JSON payload per figure, with no raw '<' inside
    for i in (1, 2, 3):
        start = html.index(f'id="fig-{i}-data">') + len(f'id="fig-{i}-data">')
        payload = html[start : html.index("</script>", start)]
        assert "<" not in payload and json.loads(payload)["data"]
    assert html.count('data:image/jpeg;base64,') == 1 and "2 image(s) could not be read" in html
    results = json.loads((out / "report.json").read_text())  # strict JSON: NaN became null
    assert results["sections"][0]["results"] == {"score": None, "n": 3, "worst": PAYLOAD}
    assert results["spec"] == {"prompts": [PAYLOAD]} and results["png_export"]["method"] is None
    assert results["figures"] == ["probe__heat", "probe__bars", "probe__gaps"]
    rows = pd.read_parquet(out / "tables" / "probe__rows.parquet")
    assert rows.prompt.tolist() == [PAYLOAD, "a ceo"] and np.isnan(rows.value[0])
    md = (out / "summary.md").read_text()
    assert PAYLOAD not in md and "&lt;img src=x" in md and "## Run spec" in md
    assert not list(out.glob(".*tmp*")) and not list((out / "tables").glob(".*"))


def test_script_json_cannot_close_the_script_element():
    text = script_json({"a": PAYLOAD, "b": "\u2028&"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": PAYLOAD, "b": "\u2028&"}


def test_blocks_markdown_and_code():
    assert "&lt;img" in Text(PAYLOAD).markdown() and Text("x", kind="caveat").markdown().startswith("> **Caveat")
    md = Table("t", pd.DataFrame({"a|b": ["x|y"]})).markdown()
    assert "a\\|b" in md and "x\\|y" in md
    assert "```" in Code("spec", "{}").markdown()


@pytest.mark.browser
def test_png_export_writes_pngs_with_the_available_method(tmp_path):
    assert find_chromium() is not None, "the browser tests need chromium (make system-deps)"
    idx = pd.MultiIndex.from_tuples([("ceo", "f"), ("ceo", "m")], names=["job", "g"])
    fig = npmi_heatmap(pd.DataFrame({"npmi": [-0.5, 0.4]}, index=idx), concept="job", attribute="g")
    res = export_pngs([("heat", fig), ("heat2", fig.to_dict())], tmp_path)
    assert res["method"] in ("kaleido", "chromium") and res["written"] == ["heat.png", "heat2.png"], res
    with Image.open(tmp_path / "heat.png") as im:
        assert im.format == "PNG" and im.size[0] >= 400
        assert len(set(im.convert("RGB").getdata())) > 20  # something was drawn


@pytest.mark.browser
def test_png_export_chromium_fallback(tmp_path):
    from audit.report.export import _chromium

    idx = pd.MultiIndex.from_tuples([("ceo", "f")], names=["job", "g"])
    fig = npmi_heatmap(pd.DataFrame({"npmi": [0.3]}, index=idx), concept="job", attribute="g")
    _chromium([fig], [tmp_path / "c.png"], browser=find_chromium(), timeout=60)
    with Image.open(tmp_path / "c.png") as im:
        assert im.size == (900, 500) and len(set(im.convert("RGB").getdata())) > 20


def test_results_section_leaves_out_non_answers_and_counts_them():
    from audit.report import results_section
    from audit.results import Options, results_table

    rng = np.random.default_rng(0)
    manifest = pd.DataFrame({"image_id": [f"i{i}" for i in range(60)], "prompt_id": np.arange(60) // 3,
                             "job": rng.choice(["a", "b"], 60)})
    labels = pd.DataFrame({"image_id": manifest.image_id, "labeler": "w", "attribute": "presentation",
                           "value": rng.choice(["feminine", "masculine", "no_face"], 60)})
    table = results_table(manifest, labels, options=Options(n_resamples=50)).table
    sec = results_section(table, setting="default", slot="job", labelers=["w"])
    res = sec.results["presentation"]
    assert res["n_non_answer"] == int((labels.value == "no_face").sum())
    assert res["n_images"] == int((labels.value != "no_face").sum())
    by_group = next(b for b in sec.blocks if isinstance(b, Table) and b.name == "by-group-presentation").frame
    assert set(by_group.presentation) == {"feminine", "masculine", "androgynous"}  # the declared vocabulary
    # the section's table holds the results table's numbers
    shares = table[(table.metric == "proportion") & (table.slot == "job")].set_index(["concept", "value"]).estimate
    assert by_group.set_index(["job", "presentation"]).proportion.sort_index().tolist() == \
        pytest.approx(shares.sort_index().tolist())
