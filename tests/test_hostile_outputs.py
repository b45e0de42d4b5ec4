"""Network policy of the CLI and of PNG export: offline unless asked, and Chromium never on the network."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from audit.report.export import CHROMIUM_FLAGS, no_network_prefix

ROOT = Path(__file__).resolve().parents[1]


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server hook
        _Recorder.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *a):
        pass


@pytest.fixture
def hub():
    """A local stand-in for the Hugging Face Hub that records every request (real HTTP on 127.0.0.1)."""
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _label(tmp_path, hub, *extra):
    img = tmp_path / "imgs"
    img.mkdir(exist_ok=True)
    Image.new("RGB", (8, 8)).save(img / "a.png")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    env.update(PYTHONPATH=str(ROOT), HF_ENDPOINT=hub, HF_HOME=str(tmp_path / "hf"), NO_PROXY="127.0.0.1")
    return subprocess.run([sys.executable, "-m", "audit.cli", "label", str(img), "--labeler", "clip",
                           "--clip-model", "someone/not-a-model", "--out", str(tmp_path / "l.parquet"), *extra],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)


def test_allow_download_is_honoured_and_offline_is_the_default(tmp_path, hub):
    r = _label(tmp_path, hub)
    assert r.returncode == 2 and "--allow-download" in r.stderr and not _Recorder.hits, (r.stderr[-800:], _Recorder.hits)
    r = _label(tmp_path, hub, "--allow-download")
    assert r.returncode != 0  # the stand-in hub has no such model
    assert any("not-a-model" in h for h in _Recorder.hits), (r.stderr[-800:], _Recorder.hits)


def test_chromium_runs_without_network():
    prefix = no_network_prefix()
    assert any(f.startswith("--host-resolver-rules=MAP * ~NOTFOUND") for f in CHROMIUM_FLAGS)
    if not prefix:
        pytest.skip("unshare -rn is not permitted here; the Chromium flags alone keep it offline")
    out = subprocess.run([*prefix, sys.executable, "-c", "import socket; print(sorted(n for _, n in socket.if_nameindex()))"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "['lo']", out  # a fresh network namespace: loopback only, nothing outside
    # that Chromium still renders inside it: tests/test_report_build.py::test_png_export_chromium_fallback
