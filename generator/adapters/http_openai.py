"""``openai:URL[#MODEL&OPTION=VALUE...]``: any OpenAI-compatible Images API as a generator.

One ``POST /v1/images/generations`` per image (``n=1``, ``response_format=b64_json``),
``concurrency`` at a time, retried on 429/5xx/timeouts/unreadable answers (honouring
``Retry-After``). A content-policy refusal (HTTP 400 with code
``content_policy_violation``, ``moderation_blocked`` or ``content_filter``) is a finding:
the sample gets a black placeholder marked ``filtered`` with the API's code as reason.

Options after the model, ``&``-separated: ``key_env=NAME`` (the API key is read from
that environment variable; it is sent only as the bearer header), ``size=WxH``,
``seed=on`` (send the per-sample seed; the OpenAI API takes none, ``imagen-audit serve``
does), ``concurrency``, ``timeout``, ``retries``, ``backoff``, ``response_format=off``
(for models that reject the field, e.g. ``gpt-image-1``, which always answer base64).

Examples
--------
>>> from generator.adapters.http_resolve import openai_generator  # parses ``openai:URL#MODEL&OPTIONS``
>>> a = openai_generator("http://127.0.0.1:8000#imagen-world&seed=on&concurrency=2")
>>> a.endpoint, a.model, a.config()["seed_sent"]
('http://127.0.0.1:8000/v1/images/generations', 'imagen-world', True)
"""

from __future__ import annotations

from typing import Any

from audit.errors import UserError
from generator.adapters.base import Settings
from generator.adapters.http_base import Answer, RequestRunner, RunnerAdapter, decode_image, to_images
from generator.adapters.http_client import ApiRefusal, HttpPolicy, Retryable, api_key, post_json

__all__ = ["OpenAIAdapter", "endpoint_url", "REFUSAL_CODES", "parse_size"]

#: Error codes of a refusal for content (OpenAI, Azure OpenAI); the sample is recorded as filtered.
REFUSAL_CODES = ("content_policy_violation", "moderation_blocked", "content_filter", "content_policy")

_OPTIONS = {"key_env": str, "size": str, "seed": bool, "concurrency": int, "timeout": float, "retries": int,
            "backoff": float, "response_format": bool}


def endpoint_url(url: str) -> str:
    """The generations endpoint of a base URL.

    Examples
    --------
    >>> endpoint_url("https://api.openai.com/v1")
    'https://api.openai.com/v1/images/generations'
    >>> endpoint_url("http://127.0.0.1:8000/")
    'http://127.0.0.1:8000/v1/images/generations'
    """
    url = url.rstrip("/")
    if url.endswith("/images/generations"):
        return url
    if url.endswith("/v1"):
        return url + "/images/generations"
    return url + "/v1/images/generations"


def parse_size(size: str | None, *, label: str) -> tuple[int, int] | None:
    """``"WxH"`` as ``(W, H)``.

    Examples
    --------
    >>> parse_size("1024x768", label="x")
    (1024, 768)
    """
    if size is None:
        return None
    w, sep, h = size.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise UserError(f"{label}: size={size!r} is not WIDTHxHEIGHT (fix: e.g. size=1024x1024)")
    return int(w), int(h)


class OpenAIAdapter(RunnerAdapter):
    """A generator behind an OpenAI-compatible Images API.

    Parameters
    ----------
    url
        Base URL (``https://api.openai.com/v1``, ``http://127.0.0.1:8000``) or the full endpoint.
    model
        ``model`` field (omitted when None).
    key_env
        Name of the environment variable holding the API key (None: no key is sent).
    size
        ``size`` field, ``WxH`` (None: the server's default).
    seed
        Send each sample's seed as ``seed`` (only servers that take it, such as
        ``imagen-audit serve``); otherwise images are recorded with ``seed_sent=False``.
    response_format
        Send ``response_format=b64_json``.
    concurrency, timeout, retries, backoff
        See :class:`~generator.adapters.http_client.HttpPolicy`.
    """

    kind = "openai"

    def __init__(self, url: str, *, model: str | None = None, key_env: str | None = None, size: str | None = None,
                 seed: bool = False, response_format: bool = True, concurrency: int = 4, timeout: float = 120.0,
                 retries: int = 5, backoff: float = 1.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"openai:{url}: not an http(s) URL (fix: e.g. openai:https://api.openai.com/v1#dall-e-3)")
        self.url, self.endpoint, self.model = url, endpoint_url(url), model
        self.key_env, self.size, self.seed, self.response_format = key_env, size, bool(seed), bool(response_format)
        self.label = f"openai:{url}"
        self.wh = parse_size(size, label=self.label)
        self.runner = RequestRunner(label=self.label, policy=HttpPolicy(
            concurrency=concurrency, timeout=timeout, retries=retries, backoff=backoff))

    def _headers(self) -> dict[str, str]:
        key = api_key(self.key_env, label=self.label)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _fetch(self, identity: dict, headers: dict[str, str]) -> Answer:
        body: dict[str, Any] = {"prompt": identity["prompt"], "n": 1}
        if self.response_format:
            body["response_format"] = "b64_json"
        for name in ("model", "size"):
            if identity[name] is not None:
                body[name] = identity[name]
        if self.seed:
            body["seed"] = identity["seed"]

        def parse(answer: Any) -> Answer:
            items = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(items, list) or not items or not isinstance(items[0], dict):
                raise Retryable("malformed_json", "no data[0] in the answer")
            item = items[0]
            if "b64_json" not in item and item.get("url"):
                raise UserError(f"{self.label}: the server answered with an image URL, not base64 "
                                "(fix: use a server that honours response_format=b64_json)")
            extra = {k: item[k] for k in ("revised_prompt", "seed") if item.get(k) is not None}
            return Answer(decode_image(item.get("b64_json")), None, extra)

        try:
            return post_json(self.endpoint, body, headers=headers, policy=self.runner.policy, parse=parse,
                             on_fault=self.runner.fault, label=self.label)
        except ApiRefusal as exc:
            if exc.status == 400 and (exc.code in REFUSAL_CODES or "safety system" in exc.message.lower()):
                return Answer(None, exc.code or "content_policy", {"message": exc.message[:500]})
            message = exc.message[:300]
            if exc.status in (401, 403):  # servers may echo (part of) the key: never repeat it
                message = "the server refused the credentials"
            fix = {401: f"set the key: add &key_env=NAME to the generator and export NAME (now: "
                        f"{self.key_env or 'no key_env'})",
                   403: "check the key's permissions for this model",
                   404: "check the URL and the model name"}.get(exc.status, "check the request options")
            raise UserError(f"{self.label}: HTTP {exc.status} {exc.code or ''}: {message} (fix: {fix})") from None

    def generate(self, prompts: list[str], *, seeds: list[int], settings: Settings) -> list:
        """One request per prompt; return one ``PIL.Image`` per prompt, marked (filtered, seed_sent).

        Examples
        --------
        >>> OpenAIAdapter("http://x").generate(["a"], seeds=[0], settings=Settings(steps=4))
        Traceback (most recent call last):
        ...
        audit.errors.UserError: openai:http://x: the Images API takes no steps (fix: drop --steps / --sweep steps)
        """
        if len(prompts) != len(seeds):
            raise ValueError(f"got {len(prompts)} prompts but {len(seeds)} seeds")
        for name, value in settings.to_dict().items():
            if value is not None:
                raise UserError(f"{self.label}: the Images API takes no {name} (fix: drop --{name} / --sweep {name})")
        headers = self._headers()
        identities = [{"api": "openai", "endpoint": self.endpoint, "model": self.model, "size": self.size,
                       "prompt": p, "seed": int(s), "seed_sent": self.seed} for p, s in zip(prompts, seeds)]
        answers = self.runner.run(identities, lambda ident: self._fetch(ident, headers))
        return to_images(answers, seed_sent=self.seed, placeholder_size=self.wh or (64, 64))

    def config(self) -> dict[str, Any]:
        """What ``spec.json`` records: endpoint, model, size, whether seeds are sent, the key's variable name."""
        return {"kind": self.kind, "url": self.url, "endpoint": self.endpoint, "model": self.model,
                "size": self.size, "seed_sent": self.seed, "key_env": self.key_env,
                "response_format": "b64_json" if self.response_format else None}
