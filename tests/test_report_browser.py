"""Both reports (probe run, dataset audit) opened in a real headless Chromium through Selenium.

Checked as an auditor would open them at 1280 px: the console is clean (no
error, no CSP violation), nothing overflows horizontally, the findings are on
screen without scrolling, hostile prompts and captions are shown as text and
never run, and the page stays under 3 MB. Screenshots of both reports are
written to ``build/report-screenshots/`` (or ``$REPORT_SCREENSHOTS``) for a
person to look at.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from audit.dataset.pipeline import run_dataset_audit
from audit.report import report_from_run_dir
from report_runs import PAYLOAD, world_captions, world_run

SHOTS = Path(os.environ.get("REPORT_SCREENSHOTS", Path(__file__).resolve().parents[1] / "build" /
                            "report-screenshots"))
MAX_BYTES = 3 * 1024 * 1024
CAPTIONS = Path("/work/shared/fixtures/laion_captions_1000.parquet")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    run = world_run(tmp / "run")
    probe = report_from_run_dir(run, n_resamples=200, export_png=False)
    if not CAPTIONS.is_file():
        pytest.fail(f"fixture missing: {CAPTIONS} (the shared LAION-style sample of 1,000 URL, TEXT rows)")
    laion = pd.read_parquet(CAPTIONS)[["URL", "TEXT"]].assign(NSFW=None)
    hostile = pd.DataFrame({"URL": ["http://x/1", "http://x/2"], "NSFW": ["UNLIKELY", None],
                            "TEXT": [f"a woman nurse {PAYLOAD}", "</script><script>window.__pwned3=1</script> man"]})
    data = tmp / "captions.parquet"
    pd.concat([world_captions(4000), laion, hostile], ignore_index=True).to_parquet(data)
    run_dataset_audit(data, out_dir=tmp / "audit", progress=False)
    return {"probe": probe, "dataset": tmp / "audit" / "report.html"}


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    assert driver_path, "chromedriver missing (fix: bash scripts/system-deps.sh installs Debian chromium-driver)"
    opts = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--window-size=1280,900", "--disable-background-networking", "--disable-component-update"):
        opts.add_argument(flag)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        opts.binary_location = chromium
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver, page: Path) -> list[dict]:
    driver.get(page.as_uri())
    driver.execute_script("return document.readyState")
    return driver.get_log("browser")


def _screenshot(driver, name: str) -> Path:
    """The top of the page (what an auditor first sees) and the whole page, as PNGs."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}-top.png"))
    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": 1280, "height": min(height, 16000),
                                                "scale": 1}})
    path = SHOTS / f"{name}-full.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


@pytest.mark.parametrize("kind", ["probe", "dataset"])
def test_report_opens_clean_fits_1280_and_shows_findings_first(reports, browser, kind):
    page = reports[kind]
    assert page.stat().st_size < MAX_BYTES, f"{page}: {page.stat().st_size} bytes"
    logs = _open(browser, page)
    bad = [e for e in logs if e["level"] in ("SEVERE", "WARNING")]
    assert not bad, bad
    assert browser.execute_script("return window.innerWidth") == 1280
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"horizontal overflow of {overflow} px"
    findings = browser.execute_script("""
        var s = document.getElementById('findings'); if (!s) return null;
        var first = s.querySelector('li') || s.querySelector('p.warn');
        var r = (first || s).getBoundingClientRect();
        return {top: s.getBoundingClientRect().top, bottom: r.bottom, text: s.innerText, h: window.innerHeight};""")
    assert findings is not None, "no findings section"
    assert findings["top"] < findings["h"] and findings["bottom"] <= findings["h"], findings
    assert "interval" in findings["text"]
    # plotly drew every figure (the nonce CSP let the inlined script run)
    drawn = browser.execute_script("return [document.querySelectorAll('div.figure').length,"
                                   " document.querySelectorAll('div.figure .main-svg').length]")
    assert drawn[0] == 0 or drawn[1] >= drawn[0], drawn
    _screenshot(browser, kind)


@pytest.mark.parametrize("kind", ["probe", "dataset"])
def test_hostile_prompts_and_captions_are_shown_not_run(reports, browser, kind):
    _open(browser, reports[kind])
    state = browser.execute_script("""return {p: window.__pwned || 0, p2: window.__pwned2 || 0,
        p3: window.__pwned3 || 0, injected: document.querySelectorAll('img[src="x"]').length,
        text: document.body.innerText};""")
    assert (state["p"], state["p2"], state["p3"], state["injected"]) == (0, 0, 0, 0)
    html = reports[kind].read_text(encoding="utf-8")
    assert PAYLOAD not in html and "<script>window.__pwned" not in html
    if kind == "probe":
        assert '<img src=x onerror="window.__pwned=1">' in state["text"]  # shown as text, in the evidence


def test_dataset_report_shows_findings_with_counts_and_example_captions(reports, browser):
    _open(browser, reports["dataset"])
    text = browser.execute_script("return document.getElementById('findings').innerText")
    assert "as often as all captions" in text and " of " in text  # ratio, interval and counts
    evidence = browser.execute_script("return document.getElementById('evidence').innerText")
    assert "caption(s)" in evidence and "caption_examples.parquet" in evidence
    stored = pd.read_parquet(reports["dataset"].parent / "caption_examples.parquet")
    assert {"tag", "other", "hash", "caption"} <= set(stored.columns) and (stored.other != "").any()
