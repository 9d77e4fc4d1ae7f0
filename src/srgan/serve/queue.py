"""One job at a time, with a bounded number waiting: the server's only admission control.

A photo through SRGAN can take all the CPU and a few GB for seconds, so running two at once only
makes both slower and risks running out of memory. Jobs therefore run on one dedicated worker thread,
in arrival order; at most ``queue_size`` may wait behind the running one, and a job arriving when
that many wait is refused at once (the caller answers 503 with ``Retry-After``) rather than piling up
memory and open connections.

A dedicated thread rather than a lock around a shared thread pool: a job cannot be interrupted once
it runs, so if the request awaiting it were cancelled (client gone), a lock would be released while
the job still computes and the next one would start beside it. Here the next job starts only when the
worker is really free, and a slot is given back only when its job has finished.
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """No room: ``retry_after`` is a guess, in whole seconds, of when there will be."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy; retry in {retry_after} s")
        self.retry_after = retry_after


class JobQueue:
    """Run callables one at a time on a worker thread, refusing new ones when ``queue_size`` wait.

    The worker is a daemon thread (not a ThreadPoolExecutor, whose threads are joined at exit) so
    that Ctrl+C stops the server at once instead of waiting for a long inference to finish.
    """

    def __init__(self, queue_size: int) -> None:
        if queue_size < 0:
            raise ValueError(f"queue_size must be 0 or more, got {queue_size}")
        self.queue_size = queue_size
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self._mean_seconds = 1.0  # running mean of job time, for Retry-After
        self._worker = threading.Thread(target=self._work, name="srgan-serve-worker", daemon=True)
        self._worker.start()

    @property
    def admitted(self) -> int:
        """Jobs running or waiting now."""
        with self._lock:
            return self._admitted

    def submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        """Queue ``fn(*args)``; raises :class:`QueueFull` when one runs and ``queue_size`` wait."""
        with self._lock:
            if self._admitted >= self.queue_size + 1:
                raise QueueFull(max(1, math.ceil(self._mean_seconds * self._admitted)))
            self._admitted += 1
        future: Future[T] = Future()
        self._jobs.put((future, fn, args))
        return future

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``submit`` and await the result from the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def close(self) -> None:
        """Stop the worker after the running job; waiting jobs are cancelled."""
        self._jobs.put(None)

    def _work(self) -> None:
        while (item := self._jobs.get()) is not None:
            future, fn, args = item
            try:
                # False when the waiting request was cancelled meanwhile: skip the work.
                if future.set_running_or_notify_cancel():
                    start = time.perf_counter()
                    try:
                        future.set_result(fn(*args))
                    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                        future.set_exception(exc)
                    self._record(time.perf_counter() - start)
            finally:
                # The slot is given back only now, when the job has really finished.
                with self._lock:
                    self._admitted -= 1
        while True:  # closed: cancel whatever still waits
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[0].cancel()
                with self._lock:
                    self._admitted -= 1

    def _record(self, seconds: float) -> None:
        with self._lock:
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds
