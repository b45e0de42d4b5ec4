"""``a1111:URL[#OPTION=VALUE&...]``: an AUTOMATIC1111 (or Forge / SD.Next) web UI's API as a generator.

One ``POST /sdapi/v1/txt2img`` per image with the sample's ``seed`` (the API takes seeds,
so images are reproducible on the same server and model), ``steps``/``cfg_scale``/
``sampler_name`` from the sampler settings (a ``--sweep`` over them works), and
``width``/``height``/``negative_prompt`` from the options. Retries, timeouts and the
journal are those of :mod:`generator.adapters.http_base`.

Options: ``key_env=NAME`` (``user:password`` in the variable is sent as HTTP basic auth,
as ``--api-auth`` expects; anything else as a bearer token), ``width``, ``height``,
``negative_prompt``, ``concurrency`` (default 1: the web UI runs one job at a time),
``timeout``, ``retries``, ``backoff``.

Examples
--------
>>> from generator.adapters.http_resolve import a1111_generator  # parses ``a1111:URL#OPTIONS``
>>> a = a1111_generator("http://127.0.0.1:7860#width=512&height=512")
>>> a.endpoint, a.config()["width"]
('http://127.0.0.1:7860/sdapi/v1/txt2img', 512)
"""

from __future__ import annotations

import base64
import json
from typing import Any

from audit.errors import UserError
from generator.adapters.base import Settings
from generator.adapters.http_base import Answer, RequestRunner, RunnerAdapter, decode_image, to_images
from generator.adapters.http_client import ApiRefusal, HttpPolicy, Retryable, api_key, post_json

__all__ = ["A1111Adapter"]

_OPTIONS = {"key_env": str, "width": int, "height": int, "negative_prompt": str, "concurrency": int,
            "timeout": float, "retries": int, "backoff": float}


class A1111Adapter(RunnerAdapter):
    """A Stable Diffusion web UI (``--api``) as a generator.

    Parameters
    ----------
    url
        Base URL of the web UI (``http://127.0.0.1:7860``).
    key_env
        Environment variable holding ``user:password`` (basic auth) or a token (None: none sent).
    width, height, negative_prompt
        Request fields (None: the server's defaults).
    steps, guidance
        Defaults for ``steps`` and ``cfg_scale`` (a sweep overrides them).
    concurrency, timeout, retries, backoff
        See :class:`~generator.adapters.http_client.HttpPolicy`.
    """

    kind = "a1111"

    def __init__(self, url: str, *, key_env: str | None = None, width: int | None = None, height: int | None = None,
                 negative_prompt: str | None = None, steps: int | None = None, guidance: float | None = None,
                 concurrency: int = 1, timeout: float = 300.0, retries: int = 5, backoff: float = 1.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"a1111:{url}: not an http(s) URL (fix: e.g. a1111:http://127.0.0.1:7860)")
        self.url = url.rstrip("/")
        self.endpoint = self.url + "/sdapi/v1/txt2img"
        self.key_env, self.width, self.height, self.negative_prompt = key_env, width, height, negative_prompt
        self.steps, self.guidance = steps, guidance
        self.label = f"a1111:{self.url}"
        self.runner = RequestRunner(label=self.label, policy=HttpPolicy(
            concurrency=concurrency, timeout=timeout, retries=retries, backoff=backoff))

    def _headers(self) -> dict[str, str]:
        key = api_key(self.key_env, label=self.label)
        if not key:
            return {}
        if ":" in key:
            return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}
        return {"Authorization": f"Bearer {key}"}

    def _fetch(self, identity: dict, headers: dict[str, str]) -> Answer:
        body = {k: v for k, v in identity.items() if k not in ("api", "endpoint") and v is not None}
        body.update(batch_size=1, n_iter=1)

        def parse(answer: Any) -> Answer:
            images = answer.get("images") if isinstance(answer, dict) else None
            if not isinstance(images, list) or not images:
                raise Retryable("malformed_json", "no images in the answer")
            extra: dict[str, Any] = {}
            info = answer.get("info")
            if isinstance(info, str):
                try:
                    info = json.loads(info)
                except ValueError:
                    info = None
            if isinstance(info, dict) and info.get("seed") is not None:
                extra["seed"] = info["seed"]
            return Answer(decode_image(images[0]), None, extra)

        try:
            return post_json(self.endpoint, body, headers=headers, policy=self.runner.policy, parse=parse,
                             on_fault=self.runner.fault, label=self.label)
        except ApiRefusal as exc:
            fix = {401: "set key_env=NAME with NAME holding user:password of --api-auth",
                   404: "start the web UI with --api, and check the URL",
                   422: "check the options (width, height, sampler name)"}.get(exc.status, "check the request")
            message = "the server refused the credentials" if exc.status in (401, 403) else exc.message[:300]
            raise UserError(f"{self.label}: HTTP {exc.status}: {message} (fix: {fix})") from None

    def generate(self, prompts: list[str], *, seeds: list[int], settings: Settings) -> list:
        """One txt2img request per prompt with its seed; return one marked ``PIL.Image`` per prompt.

        Examples
        --------
        >>> A1111Adapter("http://x").generate(["a"], seeds=[0], settings=Settings(thresholding="static"))
        Traceback (most recent call last):
        ...
        audit.errors.UserError: a1111:http://x: the txt2img API has no thresholding option (fix: drop --sweep thresholding)
        """
        if len(prompts) != len(seeds):
            raise ValueError(f"got {len(prompts)} prompts but {len(seeds)} seeds")
        if settings.thresholding is not None:
            raise UserError(f"{self.label}: the txt2img API has no thresholding option (fix: drop --sweep thresholding)")
        steps = settings.steps if settings.steps is not None else self.steps
        guidance = settings.guidance if settings.guidance is not None else self.guidance
        headers = self._headers()
        identities = [{"api": "a1111", "endpoint": self.endpoint, "prompt": p, "seed": int(s), "steps": steps,
                       "cfg_scale": guidance, "sampler_name": settings.scheduler, "width": self.width,
                       "height": self.height, "negative_prompt": self.negative_prompt}
                      for p, s in zip(prompts, seeds)]
        answers = self.runner.run(identities, lambda ident: self._fetch(ident, headers))
        return to_images(answers, seed_sent=True, placeholder_size=(self.width or 512, self.height or 512))

    def config(self) -> dict[str, Any]:
        """What ``spec.json`` records (the key's variable name, never the key)."""
        return {"kind": self.kind, "url": self.url, "endpoint": self.endpoint, "width": self.width,
                "height": self.height, "negative_prompt": self.negative_prompt, "steps": self.steps,
                "guidance": self.guidance, "seed_sent": True, "key_env": self.key_env}
