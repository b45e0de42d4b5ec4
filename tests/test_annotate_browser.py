"""The annotation page in a real headless Chromium (Selenium + Debian's chromium-driver), served by the real CLI.

A person labels 30 world renders by clicking and by keys (one key per image),
undoes one answer, the server is killed mid-way and restarted, the page resumes
where it stopped; the saved file and the validation built from it are checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.annotate.store import AnnotationFile
from audit.annotate.validate import load_confusion

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'


def make_run(run_dir: Path, n: int = 40) -> pd.DataFrame:
    """A run directory as the probe runner writes it: PNGs under images/, manifest and labels parquet."""
    from audit.labelers.world import WorldLabeler
    from audit.labelers.world_pool import balanced_attributes
    from audit.run.work import png_bytes, put_image
    from generator.world import render_batch
    from PIL import Image

    rng = np.random.default_rng(0)
    attrs = balanced_attributes(n, rng=rng)
    imgs = render_batch(attrs, rng=rng)
    rows = []
    for i, (img, a) in enumerate(zip(imgs, attrs.itertuples())):
        image_id, rel = put_image(run_dir, png_bytes(Image.fromarray(img)))
        prompt = f"a photo of a {a.profession}" + (f" {HOSTILE}" if i % 2 == 0 else "")
        rows.append({"image_id": image_id, "path": rel, "prompt": prompt, "prompt_id": str(i), "template_id": "t",
                     "seed": i, "sample": 0, "setting": "default", "profession": a.profession,
                     "truth_presentation": a.presentation})
    manifest = pd.DataFrame(rows)
    manifest.drop(columns="truth_presentation").to_parquet(run_dir / "manifest.parquet")
    lab = WorldLabeler.from_pretrained()
    labels = lab.label(list(imgs), image_ids=manifest.image_id.tolist())
    labels.to_parquet(run_dir / "labels.parquet")
    return manifest


def start_server(run_dir: Path, n: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "annotate", str(run_dir), "--n", str(n),
                             "--annotator", "alice", "--attribute", "presentation"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
                            # as from a background job of a script: SIGINT arrives ignored, Ctrl-C must still stop it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert m, line + proc.stdout.read() if proc.poll() is not None else line
    return proc, m.group(0)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    chromium = shutil.which("chromium")
    assert driver_path and chromium, "the browser tests need chromium and chromium-driver (make system-deps)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    yield drv
    drv.quit()


def wait_for(cond, timeout: float = 15.0):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the page")


def progress(drv) -> int:
    return int(drv.find_element("id", "progress").text.split(" / ")[0])


def test_label_by_clicks_and_keys_kill_resume_and_validate(tmp_path, browser):
    run = tmp_path / "run"
    run.mkdir()
    manifest = make_run(run)
    truth = dict(zip(manifest.image_id, manifest.truth_presentation))
    proc, url = start_server(run, n=30)
    file = run / "annotations" / "alice.json"
    items = json.loads(file.read_text())["items"]
    assert len(items) == 30
    choices = json.loads(file.read_text())["choices"]
    assert choices == ["androgynous", "feminine", "masculine"]
    key_of = {c: str(i + 1) for i, c in enumerate(choices)}
    presses = 0
    try:
        drv = browser
        drv.get(url)
        wait_for(lambda: drv.find_element("tag name", "body").get_attribute("data-ready") == "1")
        # hostile prompts are shown as text, never run
        prompts = set()
        for i in range(10):  # the first 10 by clicking the button of the true answer
            wait_for(lambda i=i: progress(drv) == i)
            prompts.add(drv.find_element("id", "prompt").text)
            value = truth[items[i]["image_id"]]
            drv.find_element("id", f"choice-{key_of[value]}").click()
            presses += 1
        wait_for(lambda: progress(drv) == 10)
        assert any(HOSTILE in p for p in prompts), "the hostile prompt should show as plain text"
        assert drv.execute_script("return window.pwned === undefined")
        body = drv.find_element("tag name", "body")
        for i in range(10, 20):  # the next 10 by keys; item 12 gets a wrong answer, undone with 'u'
            value = truth[items[i]["image_id"]]
            if i == 12:
                wrong = next(c for c in choices if c != value)
                body.send_keys(key_of[wrong])
                wait_for(lambda: progress(drv) == 13)
                body.send_keys("u")
                wait_for(lambda: progress(drv) == 12)
            body.send_keys(key_of[value])
            presses += 1
            wait_for(lambda i=i: progress(drv) == i + 1)
        body.send_keys("0")  # item 20: can't tell
        presses += 1
        wait_for(lambda: progress(drv) == 21)
        saved = json.loads(file.read_text())
        assert len(saved["answers"]) == 21
    finally:
        proc.send_signal(signal.SIGKILL)  # the server dies without warning
        proc.wait(timeout=10)
    # every acknowledged answer survived, and the file is whole JSON
    saved = json.loads(file.read_text())
    assert len(saved["answers"]) == 21 and saved["answers"][items[20]["image_id"]]["value"] == "cant_tell"
    assert saved["answers"][items[12]["image_id"]]["value"] == truth[items[12]["image_id"]]
    assert not list((run / "annotations").glob("*.tmp"))
    proc, url = start_server(run, n=30)  # resume: same sample, next unanswered item
    try:
        drv.get(url)
        wait_for(lambda: drv.find_element("tag name", "body").get_attribute("data-ready") == "1")
        assert progress(drv) == 21
        assert json.loads(file.read_text())["items"] == items
        body = drv.find_element("tag name", "body")
        for i in range(21, 30):
            body.send_keys(key_of[truth[items[i]["image_id"]]])
            presses += 1
            wait_for(lambda i=i: progress(drv) == i + 1)
        wait_for(lambda: "All done" in drv.find_element("id", "msg").text)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert presses == 30  # one key press (or click) per image
    saved = json.loads(file.read_text())
    assert len(saved["answers"]) == 30
    for i, it in enumerate(items):
        want = "cant_tell" if i == 20 else truth[it["image_id"]]
        assert saved["answers"][it["image_id"]]["value"] == want

    # a second annotator (simulated, through the same store) who disagrees on 3 images
    other = AnnotationFile.open_or_create(run / "annotations" / "bob.json", create={**{k: saved[k] for k in (
        "annotator", "labeler", "attribute", "concept", "choices", "items")}, "annotator": "bob"})
    for i, it in enumerate(items):
        v = truth[it["image_id"]]
        other.answer(i, v if i >= 3 else next(c for c in choices if c != v))
    out = subprocess.run([sys.executable, "-m", "audit.cli", "validate", str(run)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "Krippendorff's alpha" in out.stdout
    conf = json.loads((run / "validation" / "confusion.json").read_text())
    c = conf["confusion"]["world"]["presentation"]
    # truth = majority: alice alone on item 20 (bob answers it), ties on items 0-2 are left out
    assert c["no_majority"] == 3 and c["n"] == 27
    labels = pd.read_parquet(run / "labels.parquet")
    pred = labels[labels.attribute == "presentation"].set_index("image_id").value
    direct = pd.crosstab(pd.Series([truth[it["image_id"]] for it in items[3:]], name="t"),
                         pd.Series([pred[it["image_id"]] for it in items[3:]], name="p"))
    for t in direct.index:
        for p in direct.columns:
            if p in choices:
                assert c["counts"][choices.index(t)][choices.index(p)] == direct.loc[t, p]
    m = load_confusion(run, labeler="world", attribute="presentation")
    assert list(m.index) == choices and np.allclose(m.sum(1)[m.sum(1) > 0], 1.0)
    alpha = conf["agreement"]["world"]["presentation"]
    assert alpha["annotators"] == 2 and alpha["units_with_2plus"] == 29 and 0.5 < alpha["krippendorff_alpha"] < 1.0
    acc = pd.read_csv(run / "validation" / "accuracy.csv")
    overall = acc[(acc.skin_group == "all")].iloc[0]
    assert overall.n == 27 and overall.lo <= overall.accuracy <= overall.hi
