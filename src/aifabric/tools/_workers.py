"""Long-lived worker threads that run a guard's sync tool, so that the caller can stop waiting at the timeout.

A call hands its job to an idle worker through one queue and waits on a lock the worker releases when the job
ends: two thread wake-ups a call, without the futures, conditions and weak references of a
``ThreadPoolExecutor``. A worker idle for :data:`IDLE_S` seconds ends, so a guard left unclosed holds no thread
for long. A job still queued when its caller gives up never runs; one already running is left to end in the
background, its result dropped.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Final

IDLE_S: Final = 30.0
"""Seconds an idle worker waits for a job before it ends."""


class Job:
    """One call of ``fn`` with keyword ``kwargs``; :attr:`done` is released, and ``notify`` called, when it ends."""

    __slots__ = ("_after", "_ended", "_lock", "claim", "done", "error", "fn", "kwargs", "notify", "result")

    def __init__(self, fn: Callable[..., Any], kwargs: dict[str, Any], notify: Callable[[Job], Any] | None) -> None:
        self.fn = fn
        self.kwargs = kwargs
        self.notify = notify
        self.result: Any = None
        self.error: BaseException | None = None
        self.claim = threading.Lock()  # taken by the worker that runs the job, or by a caller that withdraws it
        self.done = threading.Lock()
        self.done.acquire()
        self._lock = threading.Lock()
        self._ended = False
        self._after: list[Callable[[], Any]] = []

    def after(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` once the job has ended: now, if it has."""
        with self._lock:
            if not self._ended:
                self._after.append(callback)
                return
        callback()

    def _end(self) -> None:
        with self._lock:
            self._ended = True
            callbacks, self._after = self._after, []
        for callback in callbacks:
            callback()

    def withdraw(self) -> bool:
        """Stop the job from running; False where it has already begun."""
        return self.claim.acquire(blocking=False)

    def outcome(self) -> Any:
        """The job's result, or raise what it raised."""
        if self.error is not None:
            raise self.error
        return self.result


class Workers:
    """Up to ``limit`` daemon threads, started when needed, that run :class:`Job` s in the order they come."""

    __slots__ = ("_count", "_idle", "_jobs", "_limit", "_lock", "_name")

    def __init__(self, limit: int, name: str) -> None:
        self._limit = limit
        self._name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # workers waiting for a job less the jobs and stop marks queued: below 0 is a backlog
        self._count = 0

    @property
    def count(self) -> int:
        """How many worker threads are alive."""
        return self._count

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any], notify: Callable[[Job], Any] | None = None) -> Job:
        """Queue a call of ``fn(**kwargs)``, starting a worker where none is idle and the limit allows."""
        job = Job(fn, kwargs, notify)
        with self._lock:
            self._idle -= 1
            if self._idle < 0 and self._count < self._limit:
                self._count += 1
                self._idle += 1  # the new worker waits on this queue from now on
                name = f"{self._name}-{self._count}"
                threading.Thread(target=self._work, args=(self._jobs,), name=name, daemon=True).start()
            self._jobs.put(job)  # under the lock, so that an idle worker never ends with a job left unclaimed
        return job

    def _work(self, jobs: queue.SimpleQueue[Job | None]) -> None:
        """Run the jobs of one generation's queue: until a stop mark, or :data:`IDLE_S` idle."""
        while True:
            try:
                job = jobs.get(timeout=IDLE_S)
            except queue.Empty:
                with self._lock:
                    if jobs is self._jobs and jobs.empty():  # no caller has counted on this worker
                        self._idle -= 1
                        self._count -= 1
                        return
                continue
            if job is None:
                return
            if job.claim.acquire(blocking=False):
                try:
                    job.result = job.fn(**job.kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller, who maps it to an error class
                    job.error = exc
            with self._lock:
                if jobs is self._jobs:  # after close(), an old worker no longer counts
                    self._idle += 1
            job._end()
            job.done.release()
            if job.notify is not None:
                with contextlib.suppress(RuntimeError):  # the caller's event loop has closed: nobody waits
                    job.notify(job)

    def close(self) -> None:
        """Let every worker end once the jobs queued before this call have run; a later job starts new ones.

        The workers of before keep their own queue, so a job submitted after ``close`` never waits behind one of
        theirs, not even one that hangs.
        """
        with self._lock:
            old, self._jobs = self._jobs, queue.SimpleQueue()
            for _ in range(self._count):
                old.put(None)  # a stop mark, claimed like a job by a worker that then ends
            self._idle = 0
            self._count = 0
