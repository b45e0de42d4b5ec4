"""Gather concurrent requests into one model call, with a bounded queue.

Each request is a list of ``(prompt, seed)``; the worker takes the first waiting
request, waits up to ``wait_s`` for more until ``max_batch`` images are gathered, and
renders them in one call on a single worker thread (so one model call runs at a time:
bounded concurrency). When more than ``max_queue`` images wait, :meth:`Batcher.submit`
refuses with :class:`Busy` (the server answers 429 with ``Retry-After``).

Examples
--------
>>> import asyncio
>>> async def demo():
...     b = Batcher(lambda p, s: [f"{x}:{y}".encode() for x, y in zip(p, s)], max_batch=4, wait_s=0.01, max_queue=8)
...     b.start()
...     out = await asyncio.gather(b.submit(["a"], [1]), b.submit(["b", "c"], [2, 3]))
...     await b.stop()
...     return out, b.batches
>>> asyncio.run(demo())
([[b'a:1'], [b'b:2', b'c:3']], [3])
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["Batcher", "Busy"]


class Busy(Exception):
    """The queue is full; retry after a while."""


class Batcher:
    """Dynamic batching of render requests.

    Parameters
    ----------
    render
        ``render(prompts, seeds) -> list`` (one result per prompt); runs on a worker thread.
    max_batch
        Most images per model call (a single request with more images runs alone).
    wait_s
        How long the first request of a batch waits for company.
    max_queue
        Most images waiting; beyond it :meth:`submit` raises :class:`Busy`.
    """

    def __init__(self, render: Callable[[list[str], list[int]], list], *, max_batch: int = 8, wait_s: float = 0.01,
                 max_queue: int = 64) -> None:
        self.render, self.max_batch, self.wait_s, self.max_queue = render, max_batch, wait_s, max_queue
        self.waiting = 0
        self.batches: list[int] = []  # images per model call (kept for /health and tests)
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")

    def start(self) -> None:
        """Start the worker task on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Cancel the worker and release the thread."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=False)

    async def submit(self, prompts: list[str], seeds: list[int]) -> list:
        """Queue one request and wait for its results.

        Raises
        ------
        Busy
            When the queue holds ``max_queue`` images already.
        """
        if self.waiting + len(prompts) > self.max_queue:
            raise Busy(f"{self.waiting} images are waiting (limit {self.max_queue})")
        future = asyncio.get_running_loop().create_future()
        self.waiting += len(prompts)
        self._queue.put_nowait((list(prompts), list(seeds), future))
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        carry = None
        while True:
            first = carry if carry is not None else await self._queue.get()
            carry = None
            items, n = [first], len(first[0])
            deadline = loop.time() + self.wait_s
            while n < self.max_batch:
                try:
                    nxt = await asyncio.wait_for(self._queue.get(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    break
                if n + len(nxt[0]) > self.max_batch:
                    carry = nxt
                    break
                items.append(nxt)
                n += len(nxt[0])
            prompts = [p for it in items for p in it[0]]
            seeds = [s for it in items for s in it[1]]
            self.waiting -= n
            try:
                results = await loop.run_in_executor(self._pool, self.render, prompts, seeds)
                self.batches.append(n)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for it in items:
                    if not it[2].done():
                        it[2].set_exception(exc)
                continue
            start = 0
            for it in items:
                k = len(it[0])
                if not it[2].done():
                    it[2].set_result(results[start:start + k])
                start += k
