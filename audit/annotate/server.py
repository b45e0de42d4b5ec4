"""The annotation page: a stdlib HTTP server on 127.0.0.1 for one annotator.

Routes: ``GET /`` (the page), ``GET /api/state``, ``GET /img/<index>`` (the
image of sample item ``index``; paths never come from the client), ``POST
/api/answer`` (``{"index": i, "value": v}``), ``POST /api/undo``. Prompts and
captions are hostile input: the page writes them with ``textContent`` only,
and the few server-side strings are HTML-escaped.

Keys: ``1``..``9`` pick a choice, ``0`` (or ``c``) "can't tell", ``u`` (or
Backspace) undo. One key press per image.

Examples
--------
>>> srv = make_server(None, port=0)  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from audit.annotate.store import CANT_TELL, AnnotationFile
from audit.errors import UserError

__all__ = ["make_server", "page_html"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>annotate: __TITLE__</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:48em}
#img{width:256px;height:256px;image-rendering:pixelated;border:1px solid #888;display:block;margin:1em 0}
button{font-size:1.1em;margin:.2em;padding:.4em .8em}
#prompt{color:#333;white-space:pre-wrap} .key{font-family:monospace;color:#666}
</style></head><body>
<h1>Label <span id="attr">__ATTRIBUTE__</span></h1>
<p>Annotator <b>__ANNOTATOR__</b>. Press a number key (or click) for each image; <span class="key">0</span> or
<span class="key">c</span> = can't tell; <span class="key">u</span> or Backspace = undo.</p>
<div id="progress" role="status"></div>
<img id="img" alt="image to label">
<p>Prompt: <span id="prompt"></span></p>
<div id="buttons"></div>
<p id="msg"></p>
<script>
"use strict";
let S = null;
async function call(path, body) {
  const r = await fetch(path, body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"},
                                                         body: JSON.stringify(body)});
  const j = await r.json();
  if (!r.ok) { document.getElementById("msg").textContent = j.error || "error"; return null; }
  return j;
}
function render() {
  const total = S.total, i = S.next;
  document.getElementById("progress").textContent = S.done + " / " + total + " labelled";
  const img = document.getElementById("img"), p = document.getElementById("prompt");
  if (i >= total) {
    img.style.display = "none"; p.textContent = "";
    document.getElementById("msg").textContent = "All done: thank you. Answers are saved.";
    return;
  }
  img.style.display = "block"; img.src = "/img/" + i; img.dataset.index = String(i);
  p.textContent = S.items[i].prompt;  // hostile text: never innerHTML
  document.getElementById("msg").textContent = "";
}
function buttons() {
  const box = document.getElementById("buttons");
  const all = S.choices.concat(["__CANT__"]);
  all.forEach((c, k) => {
    const b = document.createElement("button");
    const key = c === "__CANT__" ? "0" : String(k + 1);
    b.textContent = key + " " + (c === "__CANT__" ? "can't tell" : c);
    b.dataset.value = c; b.id = "choice-" + key;
    b.addEventListener("click", () => pick(c));
    box.appendChild(b);
  });
  const u = document.createElement("button"); u.textContent = "u undo"; u.id = "undo";
  u.addEventListener("click", undo); box.appendChild(u);
}
async function pick(value) {
  if (S.next >= S.total) return;
  const s = await call("/api/answer", {index: S.next, value: value});
  if (s) { S = s; render(); }
}
async function undo() { const s = await call("/api/undo", {}); if (s) { S = s; render(); } }
document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "u" || e.key === "Backspace") { e.preventDefault(); undo(); return; }
  if (e.key === "0" || e.key === "c") { pick("__CANT__"); return; }
  const k = parseInt(e.key, 10);
  if (k >= 1 && k <= S.choices.length) pick(S.choices[k - 1]);
});
(async () => { S = await call("/api/state"); buttons(); render(); document.body.dataset.ready = "1"; })();
</script></body></html>
"""


def page_html(*, attribute: str, annotator: str) -> str:
    """The page, with its server-side strings HTML-escaped.

    Examples
    --------
    >>> "<b>" in page_html(attribute="<b>x</b>", annotator="a")
    True
    >>> "&lt;b&gt;x" in page_html(attribute="<b>x</b>", annotator="a")
    True
    """
    return (_PAGE.replace("__TITLE__", html.escape(attribute)).replace("__ATTRIBUTE__", html.escape(attribute))
            .replace("__ANNOTATOR__", html.escape(annotator)).replace("__CANT__", CANT_TELL))


def make_server(store: AnnotationFile, *, root: str | Path, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for ``store``'s sample, images read below ``root`` (the run directory)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise UserError(f"host {host!r}: the annotation page serves only this machine (fix: use 127.0.0.1)")
    root = Path(root).resolve()
    page = page_html(attribute=store.data["attribute"], annotator=store.data["annotator"]).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj) -> None:
            self._send(code, json.dumps(obj).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path in ("/", "/index.html"):
                return self._send(200, page, "text/html; charset=utf-8")
            if self.path == "/api/state":
                return self._json(200, store.state())
            if self.path.startswith("/img/"):
                try:
                    item = store.data["items"][int(self.path[5:])]
                except (ValueError, IndexError):
                    return self._json(404, {"error": "no such image"})
                path = (root / item["path"]).resolve()
                if root not in path.parents or not path.is_file():
                    return self._json(404, {"error": "image missing"})
                return self._send(200, path.read_bytes(), "image/png")
            return self._json(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path == "/api/answer":
                    store.answer(int(body["index"]), str(body["value"]))
                elif self.path == "/api/undo":
                    store.undo()
                else:
                    return self._json(404, {"error": "not found"})
            except (UserError, ValueError, KeyError, TypeError) as exc:
                return self._json(400, {"error": str(exc)})
            return self._json(200, store.state())

    return ThreadingHTTPServer((host, port), Handler)
