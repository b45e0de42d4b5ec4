"""report_from_run_dir and `imagen-audit report` on a synthetic run dir, checked in a real headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.cli import main as cli_main
from audit.errors import UserError
from audit.metrics import count_pairs, npmi, wide_labels
from audit.report import find_chromium, report_from_run_dir
from audit.report.export import CHROMIUM_FLAGS
from audit.results import Options, read_results, write_run_results

PAYLOAD = "<img src=x onerror=\"document.title='PWNED'\"></script><script>document.title='PWNED2'</script>"
JOBS = ["nurse", "ceo", "chef", "pilot", "teacher", "judge"]
P_FEM = [0.9, 0.2, 0.5, 0.1, 0.7, 0.4]


def make_run_dir(root: Path, *, n_prompts=24, per_prompt=4, payload=None, settings=("guidance=4",), seed=0,
                 resamples=1000) -> Path:
    """A tiny probe run: tiny PNGs, manifest.parquet, labels.parquet, spec.json and its results table."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    jobs = JOBS[:-1] + [payload] if payload else JOBS
    rows, labels = [], []
    for setting in settings:
        for p in range(n_prompts):
            job = jobs[p % len(jobs)]
            pf = P_FEM[p % len(jobs)]
            prompt = f"a photo of a {job}" + (f" {payload}" if payload and p == 0 else "")
            for s in range(per_prompt):
                iid = f"{setting}-{p:03d}-{s}".replace("=", "")
                Image.new("RGB", (24, 24), tuple(int(c) for c in rng.integers(0, 255, 3))).save(root / "images" / f"{iid}.png")
                rows.append(dict(image_id=iid, path=f"images/{iid}.png", prompt=prompt, prompt_id=f"p{p}",
                                 template_id="t0", seed=s, sample=s, setting=setting, profession=job, activity=None))
                pres = rng.choice(["feminine", "masculine", "androgynous"], p=[pf * 0.9, (1 - pf) * 0.9, 0.1])
                tone = int(rng.integers(1, 11))
                grp = "light" if tone <= 3 else "medium" if tone <= 6 else "dark"
                for a, v in (("presentation", pres), ("skin_tone", str(tone)), ("skin_group", grp), ("profession", job)):
                    labels.append(dict(image_id=iid, labeler="world-cnn", attribute=a, value=v, confidence=0.9))
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet")
    pd.DataFrame(labels).to_parquet(root / "labels.parquet")
    suite = {"name": "tiny", "prompts": sorted({r["prompt"] for r in rows}),
             "references": [{"slot": "profession", "attribute": "presentation", "value": "feminine",
                             "source": f"test statistics {payload or ''}", "percent": {"nurse": 90.0, "ceo": 25.0}}]}
    (root / "spec.json").write_text(json.dumps({"format": "imagen-audit-run/1", "suite": suite, "seed": 0}))
    write_run_results(root, options=Options(n_resamples=resamples))
    return root


def _reference():
    return pd.DataFrame(
        [(j, g, 100 * (pf if g == "feminine" else 1 - pf)) for j, pf in zip(JOBS, P_FEM, strict=True)
         for g in ("feminine", "masculine")],
        columns=["profession", "presentation", "n"],
    )


# ----------------------------------------------------------------------------- run dir -> report
def test_report_from_run_dir_matches_direct_metrics(tmp_path):
    run = make_run_dir(tmp_path / "run")
    conf = pd.DataFrame(np.eye(3) * 0.85 + 0.05, index=["androgynous", "feminine", "masculine"],
                        columns=["androgynous", "feminine", "masculine"])
    report = report_from_run_dir(run, references={"presentation": _reference()}, confusions={"presentation": conf},
                                 n_resamples=200, export_png=False)
    assert report == run / "report" / "report.html"
    out = run / "report"
    wide = wide_labels(pd.read_parquet(run / "labels.parquet"), pd.read_parquet(run / "manifest.parquet"))
    direct = npmi(count_pairs(wide, concept="profession", attribute="presentation"), concept="profession",
                  attribute="presentation", prior=0.5)  # the frame's nPMI estimator (Jeffreys smoothing)
    got = pd.read_parquet(out / "tables" / "profession__by-group-presentation.parquet")
    keys = ["profession", "presentation"]
    direct = direct.set_index(keys).sort_index()
    observed = direct.n > 0  # a pair never observed has no nPMI (NaN, "not observed"), not -1
    assert got.set_index(keys).npmi.sort_index()[observed].to_numpy() == pytest.approx(direct.npmi[observed].to_numpy())
    assert got.set_index(keys).npmi.sort_index()[~observed].isna().all()
    assert {"npmi_lo", "npmi_hi", "proportion_ref", "npmi_corrected"} <= set(got.columns)
    # other options than the run's table: the table is computed once more and written beside the report
    assert read_results(out).options.n_resamples == 200 and read_results(run).options.n_resamples == 1000
    results = json.loads((out / "report.json").read_text())
    # no second set of numbers: report.json indexes the report; results.json there is the table's own JSON view
    assert json.loads((out / "results.json").read_text())["format"] == "imagen-audit-results/2"
    assert "headline" not in json.dumps(results["sections"])
    sec = {s["key"]: s for s in results["sections"]}
    assert set(sec) == {"findings", "evidence", "profession", "labelers", "glossary", "spec"}
    amp = pd.read_parquet(out / "tables" / "profession__amplification-presentation.parquet")
    assert set(amp.metric) == {"biasamp_zhao", "biasamp_t_to_a", "biasamp_a_to_t"}
    # the strongest injected skews (nurse 0.9 / pilot 0.1 feminine) rank among the most skewed
    assert {"nurse", "pilot"} & set(sec["profession"]["results"]["presentation"]["most_skewed"][:3])
    # the suite's own reference (% feminine) lands next to the observed shares
    bare = report_from_run_dir(run, out_dir=tmp_path / "bare", n_resamples=20, export_png=False)
    ref = pd.read_parquet(tmp_path / "bare" / "tables" / "profession__by-group-presentation.parquet")
    ref = ref.set_index(["profession", "presentation"]).proportion_ref
    assert ref["nurse", "feminine"] == pytest.approx(0.9) and ref["ceo", "feminine"] == pytest.approx(0.25)
    assert np.isnan(ref["nurse", "masculine"]) and np.isnan(ref["chef", "feminine"])
    assert "Reference for presentation: test statistics" in bare.read_text()
    skin = pd.read_parquet(out / "tables" / "profession__by-group-skin-tone.parquet")
    assert skin.skin_tone.unique().tolist()[:3] == ["1", "2", "3"]  # natural order
    assert "skin_group" in sec["profession"]["results"]
    md = (out / "summary.md").read_text()
    assert "most skewed profession" in md and "BiasAmp" in md


def test_report_sections_per_setting_and_cluster_options(tmp_path):
    run = make_run_dir(tmp_path / "run", n_prompts=12, settings=("guidance=1", "guidance=4"))
    report_from_run_dir(run, out_dir=tmp_path / "r", cluster=("prompt_id", "seed"), n_resamples=50, export_png=False)
    keys = [s["key"] for s in json.loads((tmp_path / "r" / "report.json").read_text())["sections"]]
    assert keys == ["findings", "evidence", "profession-guidance-1", "profession-guidance-4", "labelers", "glossary",
                    "spec"]


def test_two_labelers_of_one_attribute_get_their_own_sections(tmp_path):
    run = make_run_dir(tmp_path / "run", n_prompts=12, per_prompt=2)
    labels = pd.read_parquet(run / "labels.parquet")
    clip = labels[labels.attribute == "presentation"].assign(labeler="clip", value="masculine")
    pd.concat([labels, clip]).to_parquet(run / "labels.parquet")
    report_from_run_dir(run, n_resamples=20, export_png=False)
    sec = {s["key"]: s for s in json.loads((run / "report" / "report.json").read_text())["sections"]}
    assert {"profession-labeler-clip", "profession-labeler-world-cnn"} <= set(sec)
    # all masculine out of 3 possible values: mean |(0, 1, 0) - 1/3| = 4/9 (not 0: unobserved values count)
    t = read_results(run / "report").table
    mad = t[(t.labeler == "clip") & (t.metric == "mad_from_uniform_mean") & (t.slot == "profession")]
    assert mad.estimate.tolist() == pytest.approx([4 / 9])
    assert "skin_tone" in sec["profession-labeler-world-cnn"]["results"]


def test_a_label_named_like_a_prompt_axis_is_analysed_as_the_label(tmp_path):
    """The counterfactual suite has a ``skin_tone`` prompt axis and the world labeler a ``skin_tone`` label."""
    run = make_run_dir(tmp_path / "run", n_prompts=12, per_prompt=2)
    manifest = pd.read_parquet(run / "manifest.parquet")
    manifest["skin_tone"] = np.array(["dark-skinned", "light-skinned", None])[np.arange(len(manifest)) % 3]  # the axis
    manifest.to_parquet(run / "manifest.parquet")
    report_from_run_dir(run, n_resamples=20, export_png=False)
    sec = {s["key"]: s for s in json.loads((run / "report" / "report.json").read_text())["sections"]}
    labels = pd.read_parquet(run / "labels.parquet")
    tones = labels[labels.attribute == "skin_tone"]
    # the profession section analyses the labelled Monk tones (all images), not the prompt's skin-tone words
    assert sec["profession"]["results"]["skin_tone"]["n_images"] == len(tones)
    assert "skin-tone" in sec  # and the axis gets its own section


def test_run_dir_errors_name_file_and_fix(tmp_path):
    with pytest.raises(UserError, match="not a run directory"):
        report_from_run_dir(tmp_path / "nope")
    run = make_run_dir(tmp_path / "run", n_prompts=6, per_prompt=1)
    (run / "spec.json").write_text("{bad json")
    with pytest.raises(UserError, match=r"spec\.json:1: field \(file\): is not valid JSON .*\(fix: "):
        report_from_run_dir(run)
    (run / "spec.json").write_text("{}")
    (run / "labels.parquet").unlink()
    with pytest.raises(UserError, match=r"labels\.parquet: file not found \(fix: run the labelers"):
        report_from_run_dir(run)
    pd.DataFrame({"image_id": ["a"]}).to_parquet(run / "labels.parquet")
    with pytest.raises(UserError, match=r"labels\.parquet: field\(s\) \['labeler', 'attribute', 'value'\] missing"):
        report_from_run_dir(run)


def test_cli_report_rebuilds(tmp_path, capsys):
    run = make_run_dir(tmp_path / "run", n_prompts=12, per_prompt=2)
    ref = tmp_path / "ref.csv"
    _reference().to_csv(ref, index=False)
    conf = tmp_path / "conf.csv"
    pd.DataFrame(np.eye(3) * 0.9 + 0.1 / 3, index=["androgynous", "feminine", "masculine"],
                 columns=["androgynous", "feminine", "masculine"]).to_csv(conf)
    code = cli_main(["report", str(run), "--out", str(tmp_path / "o"), "--resamples", "50", "--png", "no",
                     "--reference", f"presentation={ref}", "--confusion", f"presentation={conf}"])
    assert code == 0 and (tmp_path / "o" / "report.html").exists()
    assert capsys.readouterr().out.strip() == str(tmp_path / "o" / "report.html")
    by_group = pd.read_parquet(tmp_path / "o" / "tables" / "profession__by-group-presentation.parquet")
    assert "npmi_corrected" in by_group and by_group.proportion_ref.notna().any()
    assert cli_main(["report", str(run), "--reference", "presentation"]) == 2
    assert "expected ATTRIBUTE=FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli_main(["report", "--help"])
    assert exc.value.code == 0 and "imagen-audit report runs/professions" in capsys.readouterr().out


# ----------------------------------------------------------------------------- real browser
def _load_in_chromium(page: Path) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium; return the DOM after load and the console messages."""
    browser = find_chromium()
    assert browser is not None, "the browser tests need chromium (make system-deps)"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


class _Elements(HTMLParser):
    """Every element of a document with its attributes (attribute text stays text)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def _title(dom: str) -> str:
    return re.search(r"<title>(.*?)</title>", dom, re.S).group(1)


@pytest.mark.browser
def test_browser_check_detects_errors_and_script_effects(tmp_path):
    """The checks below can fail: a page that errors and runs a payload is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><head><title>t</title></head><body><img src=x onerror=\"document.title='PWNED'\">"
                   "<script>console.error('boom'); undefinedFn();</script></body></html>")
    dom, console = _load_in_chromium(bad)
    assert _title(dom) == "PWNED"
    assert [a for t, a in _Elements(dom).elements if t == "img"] == [{"src": "x", "onerror": "document.title='PWNED'"}]
    assert any("boom" in c for c in console) and any("undefinedFn" in c for c in console)


@pytest.mark.browser
def test_report_renders_in_chromium_and_payload_does_not_run(tmp_path):
    run = make_run_dir(tmp_path / "run", payload=PAYLOAD)
    report = report_from_run_dir(run, n_resamples=100, export_png=False)
    n_figs = len(json.loads((run / "report" / "report.json").read_text())["figures"])
    dom, console = _load_in_chromium(report)
    assert console == [], console
    assert _title(dom) == "imagen-audit report: tiny"
    # every figure was drawn by the embedded plotly.js
    assert n_figs >= 4
    assert dom.count('class="figure js-plotly-plot"') == n_figs
    assert dom.count('class="main-svg"') >= n_figs and dom.count("plot-container") >= n_figs
    # the payload is shown as text and created no element
    assert "&lt;img src=x onerror=" in dom
    elements = _Elements(dom).elements
    assert not [a for _, a in elements if any(k.startswith("on") for k in a)]  # no event-handler attribute anywhere
    assert all(a.get("src", "").startswith("data:image/jpeg;base64,") for t, a in elements if t == "img")
    scripts = [a for t, a in elements if t == "script"]
    assert len(scripts) == 2 + n_figs  # ours: plotly.js, the renderer, one JSON payload per figure
    assert sum(a.get("type") == "application/json" for a in scripts) == n_figs
    assert "PWNED" not in _title(dom)
    assert dom.count("data:image/jpeg;base64,") >= 6  # thumbnails embedded


def test_report_of_a_run_whose_paired_prompts_share_an_image(tmp_path):
    """Counterfactual prompts share seeds; a generator that ignores the words stores one image for both."""
    run = make_run_dir(tmp_path / "run", n_prompts=12, per_prompt=2, resamples=20)
    manifest = pd.read_parquet(run / "manifest.parquet")
    twin = manifest.assign(prompt_id=manifest.prompt_id + "-cf", prompt=manifest.prompt + " (dark-skinned)")
    pd.concat([manifest, twin], ignore_index=True).to_parquet(run / "manifest.parquet")
    write_run_results(run, options=Options(n_resamples=20))
    report = report_from_run_dir(run, n_resamples=20, export_png=False)
    assert report.is_file()
    t = read_results(run).table
    share = t[(t.metric == "proportion") & (t.slot == "*") & (t.attribute == "presentation")]
    assert share.total.iloc[0] == 2 * len(manifest)  # every manifest row counts, as in the run's counts
