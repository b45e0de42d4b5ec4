"""Send one request per image, concurrently, committing each answer to the run's journal.

:class:`RequestRunner` is what the HTTP adapters (``openai:``, ``a1111:``) have in
common: a bounded thread pool, the journal under ``RUN_DIR/requests`` (attached by
:meth:`RequestRunner.bind_run`, which the shard runner calls) and the fault counts.
An adapter supplies the request identity and a ``fetch`` function that performs it.

Examples
--------
>>> r = RequestRunner(label="x", policy=HttpPolicy(concurrency=2))
>>> r.run([{"prompt": "a"}], lambda ident: Answer(None, "content_policy_violation"))[0].filter_reason
'content_policy_violation'
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.adapters.http_client import HttpPolicy, RequestJournal, Retryable, request_key
from generator.adapters.base import mark, placeholder

__all__ = ["Answer", "RequestRunner", "RunnerAdapter", "decode_image", "to_images"]


@dataclass
class Answer:
    """One request's outcome: the image bytes, or ``None`` with the reason it was withheld."""

    data: bytes | None
    filter_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def decode_image(b64: Any) -> bytes:
    """Decode a base64 image and check that it opens as a complete image; else :class:`Retryable`.

    Examples
    --------
    >>> decode_image("bm90IGFuIGltYWdl")
    Traceback (most recent call last):
    ...
    generator.adapters.http_client.Retryable: bad_image: ...
    """
    from PIL import Image

    if not isinstance(b64, str) or not b64:
        raise Retryable("bad_image", "no base64 image in the answer")
    if b64.startswith("data:"):
        b64 = b64.partition(",")[2]
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Retryable("bad_image", f"base64: {exc}") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # a truncated PNG fails here
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
        raise Retryable("bad_image", f"{type(exc).__name__}: {exc}") from None
    return data


class RequestRunner:
    """Concurrent requests with a per-run journal and fault counts.

    Parameters
    ----------
    label
        Names the generator in errors and events (never contains the key).
    policy
        Timeouts, retries, concurrency.
    """

    def __init__(self, *, label: str, policy: HttpPolicy) -> None:
        self.label, self.policy = label, policy
        self.journal: RequestJournal | None = None
        self.faults: Counter = Counter()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def bind_run(self, run_dir: str | Path) -> None:
        """Journal answers under ``run_dir/requests`` (called by the shard runner before generating)."""
        root = Path(run_dir) / "requests"
        if self.journal is None or self.journal.root != root:
            self.journal = RequestJournal(root)

    def fault(self, kind: str) -> None:
        """Count one transient failure (and append it to the journal's events)."""
        with self._lock:
            self.faults[kind] += 1
        if self.journal is not None:
            self.journal.event(kind, generator=self.label)

    def _one(self, identity: dict, fetch: Callable[[dict], Answer]) -> Answer:
        key = request_key(identity)
        if self.journal is not None:
            hit = self.journal.get(key)
            if hit is not None:
                data, record = hit
                return Answer(data, record.get("filter_reason"), record.get("extra", {}))
        answer = fetch(identity)
        if self.journal is not None:
            self.journal.put(key, answer.data, {"identity": identity, "filter_reason": answer.filter_reason,
                                                "extra": answer.extra})
            if answer.data is None:
                self.journal.event(f"filtered:{answer.filter_reason}", generator=self.label)
        return answer

    def run(self, identities: Sequence[dict], fetch: Callable[[dict], Answer]) -> list[Answer]:
        """Answer every request (journal first), ``policy.concurrency`` at a time, in input order."""
        if len(identities) <= 1 or self.policy.concurrency == 1:
            return [self._one(i, fetch) for i in identities]
        with ThreadPoolExecutor(max_workers=min(self.policy.concurrency, len(identities))) as pool:
            return list(pool.map(lambda i: self._one(i, fetch), identities))


class RunnerAdapter:
    """What an HTTP adapter hands to its :class:`RequestRunner` (held as ``self.runner``).

    The one owner of the delegation the shard runner and the tests use: ``bind_run`` (commit
    answers under ``RUN_DIR/requests``) and ``faults`` (transient failures by kind).

    Examples
    --------
    >>> class A(RunnerAdapter):
    ...     runner = RequestRunner(label="x", policy=HttpPolicy())
    >>> A().faults
    Counter()
    """

    runner: RequestRunner

    def bind_run(self, run_dir: str | Path) -> None:
        """Commit answers to ``run_dir/requests`` (called by the shard runner)."""
        self.runner.bind_run(run_dir)

    @property
    def faults(self) -> Counter:
        """Transient failures seen by this process, by kind."""
        return self.runner.faults


def to_images(answers: Sequence[Answer], *, seed_sent: bool, placeholder_size: tuple[int, int]) -> list:
    """Open the answers as RGB ``PIL`` images, marked (see :mod:`generator.adapters.base`).

    Examples
    --------
    >>> ims = to_images([Answer(None, "content_filter")], seed_sent=False, placeholder_size=(8, 8))
    >>> ims[0].size, ims[0].info["filtered"]
    ((8, 8), True)
    """
    from PIL import Image

    images = []
    for a in answers:
        if a.data is None:
            images.append(placeholder(placeholder_size, reason=a.filter_reason or "refused", seed_sent=seed_sent))
            continue
        with Image.open(io.BytesIO(a.data)) as im:
            images.append(mark(im.convert("RGB"), seed_sent=seed_sent))
    return images
