"""What the HTTP generator adapters share: retrying JSON POSTs and the request journal.

:func:`post_json` sends one request with a timeout and retries it with exponential
backoff on 429, 5xx, timeouts, dropped connections and unreadable answers, honouring
``Retry-After``. Each fault is counted by kind. The API key goes only into the request
header: never into errors, logs, the journal or ``spec.json``.

:class:`RequestJournal` commits every answered request as it arrives (image bytes, then
a small JSON record: the record's rename is the commit), under ``requests/`` of the run
directory. A run killed with ``kill -9`` and started again reads the answers back instead
of sending the requests again, so no paid image is lost or bought twice.

Examples
--------
>>> HttpPolicy(timeout=30).timeout
30.0
>>> request_key({"prompt": "a", "seed": 1}) == request_key({"seed": 1, "prompt": "a"})
True
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from audit.errors import UserError
from audit.files import atomic_write_bytes

__all__ = ["HttpPolicy", "Retryable", "ApiRefusal", "post_json", "request_key", "RequestJournal",
           "read_events", "api_key", "parse_options"]


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts, retries and concurrency of an HTTP adapter (none of them changes an image).

    Parameters
    ----------
    timeout
        Seconds to wait for the server (connect and each read).
    retries
        Retries after the first attempt on 429, 5xx, timeouts and unreadable answers.
    backoff
        First wait in seconds; doubles per retry (with jitter), capped at ``max_wait``.
    max_wait
        Longest wait between attempts, also for a server's ``Retry-After``.
    concurrency
        Requests in flight at once.

    Examples
    --------
    >>> HttpPolicy().concurrency
    4
    """

    timeout: float = 120.0
    retries: int = 5
    backoff: float = 1.0
    max_wait: float = 120.0
    concurrency: int = 4

    def __post_init__(self) -> None:
        for name in ("timeout", "backoff", "max_wait"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "retries", int(self.retries))
        object.__setattr__(self, "concurrency", int(self.concurrency))
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0 or self.concurrency < 1:
            raise UserError(f"HTTP options {self}: need timeout > 0, retries >= 0, backoff >= 0, concurrency >= 1 "
                            "(fix: e.g. &timeout=60&retries=5&concurrency=4)")


class Retryable(Exception):
    """A transient failure: ``kind`` is counted, the request is sent again after ``wait`` (or backoff)."""

    def __init__(self, kind: str, detail: str = "", wait: float | None = None) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind, self.detail, self.wait = kind, detail, wait


class ApiRefusal(Exception):
    """A final 4xx answer (other than 429): ``status``, the API's error ``code`` and ``message``."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(f"HTTP {status} {code or ''}: {message}")
        self.status, self.code, self.message = status, code, message


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_fields(raw: bytes) -> tuple[str | None, str]:
    """The ``code`` and ``message`` of an OpenAI-style error body (or the raw text)."""
    text = raw.decode("utf-8", "replace")[:2000]
    try:
        err = json.loads(text)
    except ValueError:
        return None, text.strip()
    if isinstance(err, dict) and isinstance(err.get("error"), dict):
        e = err["error"]
        return (e.get("code") or e.get("type")), str(e.get("message", ""))
    if isinstance(err, dict) and "detail" in err:
        return None, str(err["detail"])
    return None, text.strip()


def _send(url: str, body: dict, headers: dict[str, str], timeout: float) -> Any:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json",
                                              **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read() or b""
        code, message = _error_fields(raw)
        if exc.code == 429 or exc.code >= 500:
            raise Retryable(f"http_{exc.code}", message[:200], _retry_after(exc.headers.get("Retry-After"))) from None
        raise ApiRefusal(exc.code, code, message) from None
    except (TimeoutError, socket.timeout) as exc:
        raise Retryable("timeout", str(exc)) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise Retryable("timeout", str(exc.reason)) from None
        raise Retryable("connection", str(exc.reason)) from None
    except (ConnectionError, OSError) as exc:  # reset mid-answer, incomplete read
        raise Retryable("connection", type(exc).__name__) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise Retryable("malformed_json", f"{len(raw)} bytes that are not JSON") from None


def post_json(url: str, body: dict, *, headers: dict[str, str], policy: HttpPolicy,
              parse: Callable[[Any], Any] = lambda x: x, on_fault: Callable[[str], None] | None = None,
              label: str = "http", sleep: Callable[[float], None] = time.sleep):
    """POST ``body`` as JSON and return ``parse(answer)``, retrying transient failures.

    Parameters
    ----------
    url
        Endpoint.
    body
        JSON body.
    headers
        Extra headers (the key's ``Authorization`` goes here; it appears nowhere else).
    policy
        Timeout, retries, backoff.
    parse
        Turns the decoded JSON into the result; raises :class:`Retryable` for an answer to
        ask again for (e.g. truncated base64).
    on_fault
        Called with the kind of every transient failure (``http_429``, ``http_500``,
        ``timeout``, ``connection``, ``malformed_json``, ``bad_image``...).
    label
        Names the generator in errors.

    Returns
    -------
    object
        What ``parse`` returned.

    Raises
    ------
    ApiRefusal
        On a final 4xx answer other than 429 (the caller decides: content-policy refusal or error).
    audit.errors.UserError
        When every attempt failed (the run can be resumed later; committed images are kept).

    Examples
    --------
    >>> post_json("http://127.0.0.1:9/x", {}, headers={}, policy=HttpPolicy(timeout=1, retries=0))
    Traceback (most recent call last):
    ...
    audit.errors.UserError: http: POST http://127.0.0.1:9/x failed 1 times (last: connection...
    """
    last: Retryable | None = None
    for attempt in range(policy.retries + 1):
        try:
            return parse(_send(url, body, headers, policy.timeout))
        except Retryable as exc:
            last = exc
            if on_fault is not None:
                on_fault(exc.kind)
            if attempt == policy.retries:
                break
            wait = exc.wait if exc.wait is not None else policy.backoff * 2 ** attempt * random.uniform(0.5, 1.0)
            sleep(min(wait, policy.max_wait))
    raise UserError(f"{label}: POST {url} failed {policy.retries + 1} times (last: {last}) (fix: check that the "
                    "server is up and answering, or raise &retries / &timeout; rerun the same command to resume: "
                    "images already received are kept)")


def request_key(identity: dict[str, Any]) -> str:
    """sha256 of a request's identity (canonical JSON); the journal's file name.

    Examples
    --------
    >>> len(request_key({"prompt": "x"}))
    64
    """
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


class RequestJournal:
    """Answered requests of a run, committed one by one (``requests/ab/KEY.json`` + ``.img``).

    Parameters
    ----------
    root
        Folder of the journal (``RUN_DIR/requests``).

    Examples
    --------
    >>> import tempfile
    >>> j = RequestJournal(tempfile.mkdtemp())
    >>> j.put("ab12", b"png", {"filtered": False}); j.get("ab12")[0]
    b'png'
    >>> j.get("cd34") is None
    True
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:  # picklable for Dask workers (a lock is not)
        return {"root": self.root}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["root"])

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.json", folder / f"{key}.img"

    def get(self, key: str) -> tuple[bytes | None, dict] | None:
        """Return ``(image bytes or None, record)`` of a committed request, else None."""
        meta_path, img_path = self._paths(key)
        if not meta_path.is_file():
            return None
        record = json.loads(meta_path.read_text())
        return (img_path.read_bytes() if record.get("has_image") else None), record

    def put(self, key: str, data: bytes | None, record: dict[str, Any]) -> None:
        """Commit one answer: image bytes first, then the record (the record is the commit)."""
        meta_path, img_path = self._paths(key)
        if data is not None:
            atomic_write_bytes(img_path, data)
        atomic_write_bytes(meta_path, json.dumps({**record, "has_image": data is not None}, sort_keys=True,
                                                 default=str).encode())

    def event(self, kind: str, **fields: Any) -> None:
        """Append one line to ``events.jsonl`` (faults and refusals, for the run's counts)."""
        line = json.dumps({"kind": kind, "time": round(time.time(), 3), **fields}, sort_keys=True) + "\n"
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / "events.jsonl", "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())


def read_events(run_dir: str | Path) -> Counter:
    """Count the journal's events of a run by kind (``http_429``, ``timeout``, ``filtered:REASON``...).

    Examples
    --------
    >>> read_events("/nonexistent")
    Counter()
    """
    path = Path(run_dir) / "requests" / "events.jsonl"
    counts: Counter = Counter()
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                counts[json.loads(line)["kind"]] += 1
    return counts


def api_key(env_name: str | None, *, label: str) -> str | None:
    """Read the API key from the environment variable the user named (None when none was named).

    Examples
    --------
    >>> api_key(None, label="x") is None
    True
    >>> api_key("IMAGEN_AUDIT_SURELY_UNSET", label="openai:URL")
    Traceback (most recent call last):
    ...
    audit.errors.UserError: openai:URL: key_env=IMAGEN_AUDIT_SURELY_UNSET but that environment variable is not set ...
    """
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise UserError(f"{label}: key_env={env_name} but that environment variable is not set or empty "
                        f"(fix: export {env_name}=YOUR_KEY before the run)")
    return value


def parse_options(fragment: str, *, allowed: dict[str, type], label: str) -> tuple[str | None, dict[str, Any]]:
    """Split a spec fragment ``MODEL&key=value&...`` into the model and typed options.

    Examples
    --------
    >>> parse_options("dall-e-3&concurrency=2", allowed={"concurrency": int}, label="x")
    ('dall-e-3', {'concurrency': 2})
    >>> parse_options("m&bad=1", allowed={"concurrency": int}, label="openai:U")
    Traceback (most recent call last):
    ...
    audit.errors.UserError: openai:U: unknown option 'bad' (fix: use one of ['concurrency'])
    """
    model, options = None, {}
    for i, part in enumerate(p for p in fragment.split("&") if p):
        key, sep, value = part.partition("=")
        if not sep:
            if i == 0:
                model = part
                continue
            raise UserError(f"{label}: option {part!r} has no value (fix: write KEY=VALUE)")
        key = key.strip()
        if key not in allowed:
            raise UserError(f"{label}: unknown option {key!r} (fix: use one of {sorted(allowed)})")
        kind = allowed[key]
        try:
            options[key] = _BOOLS[value.lower()] if kind is bool else kind(value)
        except (KeyError, ValueError):
            raise UserError(f"{label}: option {key}={value!r} is not a {kind.__name__} "
                            f"(fix: e.g. {key}={'on' if kind is bool else '4'})") from None
    return model, options


_BOOLS = {"1": True, "on": True, "true": True, "yes": True, "0": False, "off": False, "false": False, "no": False}
