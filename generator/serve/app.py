"""The ASGI app of ``imagen-audit serve``: an OpenAI-compatible ``POST /v1/images/generations``.

Request fields: ``prompt`` (required), ``n`` (1..``max_n``), ``size`` (only the model's
``WxH``), ``response_format`` (only ``b64_json``), ``model`` (absent or the served
name), ``seed`` (optional; image ``i`` of the request uses ``seed + i``; without it the
server draws one and returns it). Other OpenAI fields (``quality``, ``style``,
``user``...) are accepted and ignored. Every refusal is a 4xx with an OpenAI-style body
``{"error": {"message", "type", "param", "code"}}``: 400 bad field, 401 missing or wrong
bearer key, 413 body too large, 429 queue full (with ``Retry-After``). ``GET /health``
and ``GET /v1/models`` need no key.

Examples
--------
>>> app = create_app(lambda prompts, seeds: [b"png"] * len(prompts), model="m", size=(64, 64))
>>> sorted(r.path for r in app.routes if r.path.startswith(("/v1", "/health")))
['/health', '/v1/images/generations', '/v1/models']
"""

# no `from __future__ import annotations`: FastAPI reads the handlers' annotations at run time

import base64
import hmac
import json
import secrets
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from generator.serve.batcher import Batcher, Busy

__all__ = ["ServeLimits", "create_app", "builtin_renderer", "MODEL_NAME"]

#: The name ``/v1/models`` lists and ``model`` may carry.
MODEL_NAME = "imagen-world"
_SEED_LIMIT = 2**63


@dataclass(frozen=True)
class ServeLimits:
    """Request limits and batching of the server.

    Parameters
    ----------
    max_n
        Most images per request.
    max_prompt_chars
        Longest prompt in characters.
    max_body_bytes
        Largest request body.
    max_batch
        Most images per model call (concurrent requests are batched up to it).
    batch_wait_ms
        How long a batch waits for the next request to share its model call (at most 4x in all).
    max_queue
        Most images waiting; more gets 429.
    """

    max_n: int = 4
    max_prompt_chars: int = 1000
    max_body_bytes: int = 16384
    max_batch: int = 8
    batch_wait_ms: float = 50.0
    max_queue: int = 64


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None,
           headers: dict[str, str] | None = None):
    from fastapi.responses import JSONResponse

    kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "invalid_request_error")
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}},
                        status_code=status, headers=headers)


class _Invalid(Exception):
    def __init__(self, message: str, param: str | None, code: str = "invalid_value", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.code, self.status = message, param, code, status


def _validate(body: Any, *, limits: ServeLimits, model: str, size: tuple[int, int]) -> tuple[str, int, int | None]:
    if not isinstance(body, dict):
        raise _Invalid("the body must be a JSON object", None)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _Invalid("'prompt' is required and must be a non-empty string", "prompt", "missing_prompt")
    if len(prompt) > limits.max_prompt_chars:
        raise _Invalid(f"'prompt' has {len(prompt)} characters; the limit is {limits.max_prompt_chars}", "prompt",
                       "prompt_too_long")
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limits.max_n:
        raise _Invalid(f"'n' must be an integer from 1 to {limits.max_n}, got {n!r}", "n")
    want = f"{size[0]}x{size[1]}"
    if body.get("size") not in (None, want):
        raise _Invalid(f"'size' {body.get('size')!r} is not supported; this model draws {want}", "size",
                       "unsupported_size")
    if body.get("response_format") not in (None, "b64_json"):
        raise _Invalid(f"'response_format' {body.get('response_format')!r} is not supported; use b64_json",
                       "response_format", "unsupported_response_format")
    if body.get("model") not in (None, model):
        raise _Invalid(f"model {body.get('model')!r} is not served here; this server serves {model!r}", "model",
                       "model_not_found", status=404)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < _SEED_LIMIT - n):
        raise _Invalid(f"'seed' must be an integer from 0 to 2**63 - n, got {seed!r}", "seed")
    return prompt, n, seed


def create_app(render: Callable[[list[str], list[int]], list[bytes]], *, model: str = MODEL_NAME,
               size: tuple[int, int] = (64, 64), limits: ServeLimits | None = None, api_key: str | None = None,
               info: dict[str, Any] | None = None, executor=None):
    """Build the FastAPI app around ``render``.

    Parameters
    ----------
    render
        ``render(prompts, seeds) -> list of PNG bytes``, called on one worker thread with batches
        of up to ``limits.max_batch`` images.
    model
        Served model name.
    size
        ``(width, height)`` the model draws.
    limits
        :class:`ServeLimits`.
    api_key
        Required bearer key (None: open).
    info
        Extra JSON for ``/health`` (sampler settings, weights).
    executor
        The single-thread executor the model was loaded on (:func:`generator.serve.batcher.render_thread`);
        ``render`` runs there (default: a new thread).

    Returns
    -------
    fastapi.FastAPI
    """
    from fastapi import FastAPI, Request

    limits = limits or ServeLimits()
    batcher = Batcher(render, max_batch=limits.max_batch, wait_s=limits.batch_wait_ms / 1000,
                      max_queue=limits.max_queue, executor=executor)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="imagen-audit serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.batcher = batcher

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": model, "size": f"{size[0]}x{size[1]}", "waiting_images": batcher.waiting,
                "model_calls": len(batcher.batches), "images": sum(batcher.batches),
                "render_seconds": round(batcher.render_seconds, 3), "limits": asdict(limits),
                "auth": api_key is not None, **(info or {})}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "imagen-audit"}]}

    @app.post("/v1/images/generations")
    async def generations(request: Request):
        if api_key is not None:
            given = request.headers.get("authorization", "")
            if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), api_key.encode())):
                return _error(401, "missing or wrong API key: send 'Authorization: Bearer KEY'",
                              code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limits.max_body_bytes):
            return _error(413, f"the body is larger than {limits.max_body_bytes} bytes", code="body_too_large")
        raw = await request.body()
        if len(raw) > limits.max_body_bytes:
            return _error(413, f"the body is larger than {limits.max_body_bytes} bytes", code="body_too_large")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "the body is not valid JSON", code="invalid_json")
        try:
            prompt, n, seed = _validate(body, limits=limits, model=model, size=size)
        except _Invalid as exc:
            return _error(exc.status, exc.message, param=exc.param, code=exc.code)
        if seed is None:
            seed = secrets.randbelow(2**31 - 1)
        seeds = [seed + i for i in range(n)]
        try:
            pngs = await batcher.submit([prompt] * n, seeds)
        except Busy as exc:
            return _error(429, f"the server is busy ({exc}); retry later", code="server_busy",
                          headers={"Retry-After": "1"})
        data = [{"b64_json": base64.b64encode(png).decode(), "seed": s, "revised_prompt": None}
                for png, s in zip(pngs, seeds)]
        return {"created": int(time.time()), "data": data}

    return app


def builtin_renderer(pipeline, settings) -> Callable[[list[str], list[int]], list[bytes]]:
    """``render(prompts, seeds)`` for the built-in cascade: the same images as ``generate`` at those seeds.

    Parameters
    ----------
    pipeline
        A loaded cascade (:func:`generator.api.load_cascade`).
    settings
        :class:`generator.api.SamplerSettings`.
    """
    import io

    from generator.api import generate

    def render(prompts: list[str], seeds: list[int]) -> list[bytes]:
        out = []
        for image in generate(prompts, seeds=seeds, pipeline=pipeline, settings=settings, batch_size=len(prompts)):
            buf = io.BytesIO()
            image.save(buf, format="PNG", compress_level=1)  # fast; the client stores its own encoding
            out.append(buf.getvalue())
        return out

    return render
