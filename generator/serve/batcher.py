"""Gather concurrent requests into one model call, with a bounded queue.

Each request is a list of ``(prompt, seed)``; the worker takes the first waiting
request and gathers more until ``max_batch`` images are there, as long as the next one
comes within ``wait_s`` of the previous (at most ``4 * wait_s`` in all), and
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

__all__ = ["Batcher", "Busy", "render_thread"]


def render_thread() -> ThreadPoolExecutor:
    """The one thread a server loads its model on and renders on.

    torch's OpenMP runtime (libgomp) keeps a thread team per thread that starts parallel
    work; a model loaded on the main thread and run on another makes two teams, and then
    libgomp throttles its spin-waits (more threads than cores), which makes every small op
    wait for a wake-up. One thread for both keeps the same threading as an in-process run.

    Examples
    --------
    >>> render_thread().submit(lambda: 1 + 1).result()
    2
    """
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")


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
        How long a batch waits for the next request (at most four times this in all).
    max_queue
        Most images waiting; beyond it :meth:`submit` raises :class:`Busy`.
    executor
        The single-thread executor to render on (default: a new one). Pass the one the model
        was loaded on (:func:`render_thread`), so that loading and every model call share one
        thread and one OpenMP thread team, as in an in-process run.
    """

    def __init__(self, render: Callable[[list[str], list[int]], list], *, max_batch: int = 8, wait_s: float = 0.01,
                 max_queue: int = 64, executor: ThreadPoolExecutor | None = None) -> None:
        self.render, self.max_batch, self.wait_s, self.max_queue = render, max_batch, wait_s, max_queue
        self.waiting = 0
        self.batches: list[int] = []  # images per model call (kept for /health and tests)
        self.render_seconds = 0.0  # wall time inside model calls (for /health)
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._pool = executor if executor is not None else render_thread()

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
            cap = loop.time() + 4 * self.wait_s
            while n < self.max_batch:
                # wait for company: up to wait_s after the latest arrival (requests of one client
                # trickle in on a busy machine), never more than 4 x wait_s in all
                wait = min(self.wait_s, cap - loop.time())
                try:
                    nxt = await asyncio.wait_for(self._queue.get(), max(0.0, wait))
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
            start = loop.time()
            try:
                results = await loop.run_in_executor(self._pool, self.render, prompts, seeds)
                self.batches.append(n)
                self.render_seconds += loop.time() - start
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
