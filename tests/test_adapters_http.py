"""HTTP generator adapters against a fault-injecting OpenAI-compatible server on 127.0.0.1.

The server answers each (prompt, seed) with a solid-colour PNG derived from them. A word in
the prompt picks the fault its first attempt gets: 429 with Retry-After, 500, an answer slower
than the client's timeout, malformed JSON, truncated base64; ``refuse`` prompts always get a
content-policy refusal. Runs complete, count each kind, and a run killed with SIGKILL resumes
without sending a request whose answer it had committed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from audit.errors import UserError
from audit.run import run_probe
from generator.adapters.base import Settings, image_outcome
from generator.adapters.http_client import read_events
from generator.adapters.http_openai import OpenAIAdapter
from audit.registry import make_generator

FAULT_SUITE = """\
name: faults
templates:
  - {id: t, text: "a {kind} photo"}
slots:
  kind: [plain, rate, crash, slow, garble, trunc, refuse]
samples: 2
seed: 0
"""
KEY = "sk-test-SECRET-4242"


def colour(prompt: str, seed) -> tuple[int, int, int]:
    d = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
    return d[0], d[1], d[2]


def png(prompt: str, seed, size=(16, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour(prompt, seed)).save(buf, format="PNG")
    return buf.getvalue()


class FaultServer:
    """OpenAI Images API and A1111 txt2img with injected faults; records every request."""

    def __init__(self, *, delay: float = 0.0, key: str | None = None) -> None:
        self.delay, self.key = delay, key
        self.attempts: Counter = Counter()
        self.log: list[tuple[str, object, int]] = []  # (prompt, seed, status) in arrival order
        self.bodies: list[dict] = []
        self.retry_times: dict = defaultdict(list)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt, seed = body.get("prompt"), body.get("seed")
                if server.key and self.headers.get("Authorization") != f"Bearer {server.key}":
                    given = self.headers.get("Authorization", "")  # echoed, as some APIs do
                    return self._send(401, json.dumps({"error": {"message": f"Incorrect API key provided: {given}",
                                                                 "code": "invalid_api_key"}}).encode())
                with server.lock:
                    server.bodies.append(body)
                    k = (prompt, seed)
                    server.attempts[k] += 1
                    first = server.attempts[k] == 1
                    server.retry_times[k].append(time.monotonic())
                time.sleep(server.delay)
                status, payload, headers = 200, None, {}
                if "refuse" in prompt:
                    status = 400
                    payload = json.dumps({"error": {"message": "Your request was rejected by our safety system",
                                                    "type": "invalid_request_error",
                                                    "code": "content_policy_violation"}}).encode()
                elif first and "rate" in prompt:
                    status, payload, headers = 429, b'{"error": {"message": "slow down"}}', {"Retry-After": "1"}
                elif first and "crash" in prompt:
                    status, payload = 500, b"internal error"
                elif first and "slow" in prompt:
                    time.sleep(1.5)  # past the client's timeout
                elif first and "garble" in prompt:
                    payload = b'{"data": [{"b64_json": "iVBOR'
                if payload is None:
                    b64 = base64.b64encode(png(prompt, seed)).decode()
                    if first and "trunc" in prompt:
                        b64 = b64[: len(b64) // 2]
                    if self.path.startswith("/sdapi"):
                        payload = json.dumps({"images": [b64], "info": json.dumps({"seed": seed})}).encode()
                    else:
                        payload = json.dumps({"created": 0, "data": [{"b64_json": b64}]}).encode()
                with server.lock:
                    server.log.append((prompt, seed, status))
                self._send(status, payload, headers)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FaultServer(key=KEY)
    yield s
    s.close()


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "faults.yaml"
    path.write_text(FAULT_SUITE)
    return path


def _adapter(url: str, **options) -> OpenAIAdapter:
    os.environ["IMAGEN_TEST_KEY"] = KEY
    return OpenAIAdapter(url, model="m", key_env="IMAGEN_TEST_KEY", seed=True, timeout=0.5, retries=3, backoff=0.05,
                         **options)


def test_run_completes_through_every_fault_and_counts_each_kind(server, suite, tmp_path):
    run = run_probe(suite, generator=_adapter(server.url, concurrency=4), out=tmp_path / "run", progress=False,
                    report=False)
    m = run.manifest
    assert len(m) == 14
    events = read_events(run.path)
    # each of the 2 samples of a faulty prompt failed once, then succeeded
    assert {k: events[k] for k in ("http_429", "http_500", "timeout", "malformed_json", "bad_image")} == \
        {"http_429": 2, "http_500": 2, "timeout": 2, "malformed_json": 2, "bad_image": 2}
    assert events["filtered:content_policy_violation"] == 2
    # Retry-After: 1 was honoured (the second attempt came at least ~1 s after the first)
    for (prompt, _), times in server.retry_times.items():
        if "rate" in prompt:
            assert len(times) == 2 and times[1] - times[0] >= 0.95
    # every delivered image is the server's image for that prompt and seed (sent as `seed`)
    for row in m.itertuples():
        with Image.open(run.path / row.path) as im:
            pixel = im.convert("RGB").getpixel((0, 0))
        if row.kind == "refuse":
            assert pixel == (0, 0, 0)
        else:
            assert pixel == colour(row.prompt, row.seed)
    # both refused samples keep their own manifest rows although their placeholders are byte-identical
    refused = m[m.kind == "refuse"]
    assert len(refused) == 2 and refused.image_id.nunique() == 1 and refused.seed.nunique() == 2
    # the key is sent, and never written to the run directory
    assert all(b.get("model") == "m" and b.get("response_format") == "b64_json" for b in server.bodies)
    for path in run.path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert run.spec["generator"]["key_env"] == "IMAGEN_TEST_KEY"


def test_refusal_marks_the_image_and_seed_absence_is_recorded(server):
    adapter = _adapter(server.url, concurrency=1)
    adapter.seed = False  # an API that takes no seed
    images = adapter.generate(["a refuse photo", "a plain photo"], seeds=[1, 2], settings=Settings())
    assert image_outcome(images[0]) == {"filtered": True, "filter_reason": "content_policy_violation",
                                        "seed_sent": False}
    assert image_outcome(images[1]) == {"filtered": False, "filter_reason": None, "seed_sent": False}
    assert all("seed" not in b for b in server.bodies)


def test_wrong_key_is_a_clear_error_without_the_key(server, monkeypatch):
    monkeypatch.setenv("WRONG_KEY", "sk-not-the-one")
    adapter = OpenAIAdapter(server.url, key_env="WRONG_KEY", retries=0)
    with pytest.raises(UserError) as err:
        adapter.generate(["a plain photo"], seeds=[0], settings=Settings())
    assert "HTTP 401" in str(err.value) and "key_env" in str(err.value) and "sk-not-the-one" not in str(err.value)


def test_retries_exhausted_is_a_resumable_error():
    dead = FaultServer()
    url = dead.url
    dead.close()  # nothing listens there any more
    adapter = OpenAIAdapter(url, retries=1, backoff=0.01, timeout=0.5)
    with pytest.raises(UserError, match="failed 2 times .*connection.*rerun the same command to resume"):
        adapter.generate(["x"], seeds=[0], settings=Settings())
    assert adapter.faults["connection"] == 2


def test_spec_strings_resolve_and_refuse_what_the_api_cannot_do():
    a = make_generator("openai:https://api.openai.com/v1#dall-e-3&key_env=OPENAI_API_KEY&size=1024x1024")
    assert a.config() == {"kind": "openai", "url": "https://api.openai.com/v1",
                          "endpoint": "https://api.openai.com/v1/images/generations", "model": "dall-e-3",
                          "size": "1024x1024", "seed_sent": False, "key_env": "OPENAI_API_KEY",
                          "response_format": "b64_json"}
    with pytest.raises(UserError, match="takes no --steps"):
        make_generator("openai:http://h#m", steps=4)
    with pytest.raises(UserError, match="unknown option 'colour'"):
        make_generator("openai:http://h#m&colour=red")
    with pytest.raises(UserError, match="not an http"):
        make_generator("openai:ftp://h")
    with pytest.raises(UserError, match="takes no guidance"):
        make_generator("openai:http://h").generate(["a"], seeds=[0], settings=Settings(guidance=3.0))


def test_a1111_sends_seed_and_sampler_settings(server, tmp_path):
    server.key = None
    adapter = make_generator(f"a1111:{server.url}#width=16&height=16&negative_prompt=blurry", steps=7)
    images = adapter.generate(["a plain photo", "a crash photo"], seeds=[5, 6], settings=Settings(guidance=4.5))
    assert [im.getpixel((0, 0)) for im in images] == [colour("a plain photo", 5), colour("a crash photo", 6)]
    ok = [b for b in server.bodies if b["prompt"] == "a plain photo"][0]
    assert {k: ok[k] for k in ("seed", "steps", "cfg_scale", "width", "height", "negative_prompt", "batch_size")} == \
        {"seed": 5, "steps": 7, "cfg_scale": 4.5, "width": 16, "height": 16, "negative_prompt": "blurry",
         "batch_size": 1}
    assert adapter.faults["http_500"] == 1
    assert image_outcome(images[0])["seed_sent"] is True
    # a sweep over steps reaches the server as two settings
    suite = tmp_path / "plain.yaml"
    suite.write_text(FAULT_SUITE.replace("[plain, rate, crash, slow, garble, trunc, refuse]", "[plain, crash]"))
    run = run_probe(suite, generator=adapter, out=tmp_path / "sweep", samples=1, sweep=["steps=1,2"],
                    progress=False, report=False)
    assert run.results["settings"] == ["steps=1", "steps=2"]
    assert {b["steps"] for b in server.bodies if b["prompt"] == "a plain photo"} == {7, 1, 2}


KILL_SCRIPT = """\
import os, sys
os.environ["IMAGEN_TEST_KEY"] = {key!r}
from audit.run import run_probe
from generator.adapters.http_openai import OpenAIAdapter
a = OpenAIAdapter({url!r}, model="m", key_env="IMAGEN_TEST_KEY", seed=True, timeout=5, retries=3, backoff=0.05,
                  concurrency=2)
run_probe({suite!r}, generator=a, out={out!r}, samples=3, shard_images=6, progress=False, report=False)
print("finished")
"""


def _journal(out: Path) -> set:
    keys = set()
    for rec in (out / "requests").glob("*/*.json"):
        ident = json.loads(rec.read_text())["identity"]
        keys.add((ident["prompt"], ident["seed"]))
    return keys


def test_sigkill_mid_run_resumes_without_repeating_a_committed_request(suite, tmp_path):
    server = FaultServer(delay=0.15, key=KEY)
    try:
        out = tmp_path / "killed"
        script = tmp_path / "run.py"
        script.write_text(KILL_SCRIPT.format(key=KEY, url=server.url, suite=str(suite), out=str(out)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get(
            "PYTHONPATH", "")]))
        proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while len(_journal(out)) < 8 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
        committed = _journal(out)
        assert 8 <= len(committed) < 21 and not (out / "results.json").exists()
        before = len(server.log)

        finish = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
        assert finish.returncode == 0 and "finished" in finish.stdout, finish.stderr[-2000:]
        resumed = {(p, s) for p, s, _ in server.log[before:]}
        assert not resumed & committed  # no committed request was sent again
        assert len(_journal(out)) == 21  # 7 prompts x 3 samples, each answered once in the journal
        import pandas as pd

        m = pd.read_parquet(out / "manifest.parquet")
        assert len(m) == 21
        for row in m.itertuples():
            if row.kind != "refuse":
                with Image.open(out / row.path) as im:
                    assert im.convert("RGB").getpixel((0, 0)) == colour(row.prompt, row.seed)
    finally:
        server.close()


def test_constructors_take_the_generator_table_options():
    from generator.adapters.http_resolve import REMOTE_GENERATORS

    # the CLI passes device/dtype/allow_download to every generator; they are ignored here
    a = REMOTE_GENERATORS["openai"]("http://h#m", device="cpu", dtype="float32", allow_download=False, width=32,
                                    height=16)
    assert a.config()["size"] == "32x16"
    with pytest.raises(UserError, match="size is '8x8' in the generator string and '32x16'"):
        REMOTE_GENERATORS["openai"]("http://h#m&size=8x8", width=32, height=16)
    with pytest.raises(UserError, match="takes no --negative-prompt"):
        REMOTE_GENERATORS["openai"]("http://h", negative_prompt="blurry")
    b = REMOTE_GENERATORS["a1111"]("http://h:7860", device="cpu", steps=20, guidance=7.0, width=512, height=768,
                                   negative_prompt="blurry")
    assert {k: b.config()[k] for k in ("steps", "guidance", "width", "height", "negative_prompt")} == \
        {"steps": 20, "guidance": 7.0, "width": 512, "height": 768, "negative_prompt": "blurry"}


def test_adapters_pickle_for_dask_workers_after_a_run_bound_them(server, tmp_path):
    import pickle

    adapter = _adapter(server.url, concurrency=2)
    adapter.bind_run(tmp_path)
    first = adapter.generate(["a plain photo"], seeds=[9], settings=Settings())
    copy = pickle.loads(pickle.dumps(adapter))
    n = len(server.log)
    again = copy.generate(["a plain photo"], seeds=[9], settings=Settings())  # read back from the journal
    assert len(server.log) == n and again[0].tobytes() == first[0].tobytes()
