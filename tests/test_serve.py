"""``imagen-audit serve`` as a real process on 127.0.0.1: the API's contract, and a probe run through
``openai:http://127.0.0.1:PORT`` that equals the in-process built-in run at the same seeds."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.labelers.world import WorldLabeler
from audit.run import run_probe
from generator.api import BUILTIN_DIR
from generator.adapters.http_openai import OpenAIAdapter
from generator.serve.batcher import Batcher, Busy, render_thread

ROOT = Path(__file__).resolve().parents[1]
KEY = "serve-test-key-77"
SUITE = """\
name: serve-mini
templates:
  - {id: photo, text: "a photo of a {profession}"}
slots:
  profession: [nurse, pilot]
samples: 2
seed: 3
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served():
    assert (BUILTIN_DIR / "model_index.json").is_file(), "shipped generator weights missing"
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               SERVE_TEST_KEY=KEY)
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "serve", "--port", str(port), "--threads", "1",
                             "--max-batch", "1", "--max-n", "2", "--max-queue", "8", "--api-key-env",
                             "SERVE_TEST_KEY"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                health = json.loads(r.read())
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"serve did not start: {proc.stdout.read().decode()[-3000:]}")
            time.sleep(0.5)
    yield url, health
    proc.terminate()
    proc.wait(timeout=30)


def _post(url: str, body, *, key: str | None = KEY, raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url + "/v1/images/generations", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_health_and_api_contract(served):
    url, health = served
    assert health["status"] == "ok" and health["size"] == "64x64" and health["auth"] is True
    assert health["sampler"]["guidance"] == 7.0 and health["threads"] == 1  # --threads 1, applied on the model's thread
    status, ok = _post(url, {"prompt": "a photo of a nurse", "n": 2, "seed": 11, "response_format": "b64_json",
                             "model": "imagen-world", "quality": "standard", "size": "64x64"})
    assert status == 200 and [d["seed"] for d in ok["data"]] == [11, 12]
    images = [Image.open(io.BytesIO(base64.b64decode(d["b64_json"]))) for d in ok["data"]]
    assert all(im.size == (64, 64) for im in images)
    assert images[0].tobytes() != images[1].tobytes()
    _, one = _post(url, {"prompt": "a photo of a nurse", "seed": 11})
    _, again = _post(url, {"prompt": "a photo of a nurse", "seed": 11})
    assert again["data"][0]["b64_json"] == one["data"][0]["b64_json"]  # the seed reproduces the image
    # drawn in a batch of 2 rather than 1, the same seed gives the same picture up to float rounding
    single = np.asarray(Image.open(io.BytesIO(base64.b64decode(one["data"][0]["b64_json"]))), dtype=int)
    assert np.abs(single - np.asarray(images[0], dtype=int)).max() <= 2
    _, unseeded = _post(url, {"prompt": "a photo of a nurse"})
    assert isinstance(unseeded["data"][0]["seed"], int)  # a drawn seed is returned

    cases = [
        ({"prompt": "x"}, None, None, 401, "invalid_api_key"),
        ({"prompt": "x"}, "wrong", None, 401, "invalid_api_key"),
        ({"n": 1}, KEY, None, 400, "missing_prompt"),
        ({"prompt": "x", "n": 3}, KEY, None, 400, "invalid_value"),
        ({"prompt": "x", "n": True}, KEY, None, 400, "invalid_value"),
        ({"prompt": "x", "size": "1024x1024"}, KEY, None, 400, "unsupported_size"),
        ({"prompt": "x", "response_format": "url"}, KEY, None, 400, "unsupported_response_format"),
        ({"prompt": "x", "model": "dall-e-3"}, KEY, None, 404, "model_not_found"),
        ({"prompt": "x", "seed": -1}, KEY, None, 400, "invalid_value"),
        ({"prompt": "x" * 1001}, KEY, None, 400, "prompt_too_long"),
        (None, KEY, b"{not json", 400, "invalid_json"),
        (None, KEY, b"x" * 20000, 413, "body_too_large"),
    ]
    for body, key, raw, want_status, want_code in cases:
        status, err = _post(url, body, key=key, raw=raw)
        assert (status, err["error"]["code"]) == (want_status, want_code), (body, err)
        assert err["error"]["message"]


def test_probe_run_through_serve_equals_the_builtin_run(served, tmp_path, monkeypatch):
    url, _ = served
    suite = tmp_path / "mini.yaml"
    suite.write_text(SUITE)
    labeler = WorldLabeler.from_pretrained()
    common = dict(labelers=[labeler], out=None, batch_size=1, threads=1, progress=False, report=False)
    local = run_probe(suite, generator="builtin", **{**common, "out": tmp_path / "local"})
    monkeypatch.setenv("MY_SERVE_KEY", KEY)
    remote = run_probe(suite, generator=f"openai:{url}#imagen-world&seed=on&key_env=MY_SERVE_KEY&concurrency=2",
                       **{**common, "out": tmp_path / "remote"})
    cols = ["prompt", "seed", "image_id"]
    assert len(local.manifest) == 4 and local.manifest.image_id.nunique() == 4
    pd.testing.assert_frame_equal(local.manifest[cols], remote.manifest[cols])  # the same images, byte for byte
    pd.testing.assert_frame_equal(local.labels, remote.labels)
    pd.testing.assert_frame_equal(local.counts, remote.counts)
    assert remote.spec["generator"]["kind"] == "openai" and remote.spec["generator"]["seed_sent"] is True
    assert KEY not in (remote.path / "spec.json").read_text()
    with urllib.request.urlopen(url + "/health", timeout=10) as r:
        health = json.loads(r.read())
    assert health["model_calls"] >= 4 and health["render_seconds"] > 0


def test_batcher_gathers_concurrent_requests_and_refuses_when_full():
    calls = []

    def render(prompts, seeds):
        calls.append(list(zip(prompts, seeds)))
        time.sleep(0.05)
        return [f"{p}/{s}" for p, s in zip(prompts, seeds)]

    async def main():
        b = Batcher(render, max_batch=4, wait_s=0.05, max_queue=6)
        b.start()
        jobs = [b.submit([f"p{i}"], [i]) for i in range(5)] + [b.submit(["q", "q"], [7, 8])]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        await b.stop()
        return results

    results = asyncio.run(main())
    assert results[:5] == [[f"p{i}/{i}"] for i in range(5)]
    assert isinstance(results[5], Busy)  # 5 + 2 images > max_queue 6
    assert [len(c) for c in calls] == [4, 1]  # concurrent requests shared one model call, up to max_batch


def test_batcher_keeps_gathering_requests_that_trickle_in():
    calls = []

    def render(prompts, seeds):
        calls.append(len(prompts))
        return list(prompts)

    async def main():
        b = Batcher(render, max_batch=8, wait_s=0.1, max_queue=16)
        b.start()
        jobs = []
        for i in range(4):  # 4 requests 60 ms apart: each within wait_s of the last, 180 ms in all (cap 400 ms)
            jobs.append(asyncio.ensure_future(b.submit([f"p{i}"], [i])))
            await asyncio.sleep(0.06)
        out = await asyncio.gather(*jobs)
        await b.stop()
        return out

    assert asyncio.run(main()) == [[f"p{i}"] for i in range(4)]
    assert calls == [4]  # one model call, although the last came 180 ms after the first


def test_batcher_renders_on_the_thread_the_model_was_loaded_on():
    import threading

    worker = render_thread()
    loaded_on = worker.submit(threading.get_ident).result()  # as `serve` loads the model
    seen = []

    def render(prompts, seeds):
        seen.append(threading.get_ident())
        return [b"png"] * len(prompts)

    async def main():
        b = Batcher(render, max_batch=2, wait_s=0.01, executor=worker)
        b.start()
        out = await asyncio.gather(b.submit(["a"], [1]), b.submit(["b"], [2]), b.submit(["c"], [3]))
        await b.stop()
        return out

    assert asyncio.run(main()) == [[b"png"]] * 3
    assert seen and set(seen) == {loaded_on} != {threading.get_ident()}  # one thread: one OpenMP team


def test_serve_refuses_an_unset_key_variable_before_loading(monkeypatch, capsys):
    from audit.cli import main

    monkeypatch.delenv("SERVE_TEST_UNSET", raising=False)
    assert main(["serve", "--api-key-env", "SERVE_TEST_UNSET"]) == 2
    assert "export SERVE_TEST_UNSET=" in capsys.readouterr().err
    assert main(["serve", "--max-batch", "0"]) == 2
