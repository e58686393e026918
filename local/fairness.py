"""Fair serving: each key (a connection) has a queue of its own, and free slots go to the
queues in turn, a few per key at most. Pure asyncio; no aiohttp.

    fair = FairQueue(slots=32, per_key=4, max_jobs=64, max_bytes=1 << 20, log=log)
    fair.submit(conn_id, job, size=len(body))   # False: that key's queue is full, job dropped
    result = await fair.call("$connect", job)   # queued like the others, awaited
    await fair.drained()                        # nothing queued, nothing running

A job is a function of no arguments that returns a coroutine; it starts only when a slot is
free, so whatever it runs on (a thread pool of ``slots`` threads) never queues behind it. One
key's backlog costs another key at most one turn of the round: a key with ``per_key`` jobs
running, or none waiting, is not in the round. A job's exception reaches whoever awaits
``call``; with ``submit`` nobody does, so it is logged: none is ever lost silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

Job = Callable[[], Awaitable[Any]]


@dataclass
class _Lane:
    key: Hashable
    jobs: deque[tuple[Job, int]] = field(default_factory=deque)
    bytes: int = 0  # the sizes of the jobs waiting
    running: int = 0
    in_round: bool = False


class FairQueue:
    def __init__(
        self,
        *,
        slots: int,
        per_key: int,
        max_jobs: int | None = None,
        max_bytes: int | None = None,
        log: logging.Logger,
        on_idle: Callable[[Hashable], None] | None = None,
    ) -> None:
        """``slots`` jobs run at once, at most ``per_key`` of one key; a key holds at most
        ``max_jobs`` waiting jobs of at most ``max_bytes`` in all (None: no bound; a job
        bigger than ``max_bytes`` alone is still taken when its queue is empty).
        ``on_idle(key)`` is called when a key has nothing waiting and nothing running."""
        if slots < 1 or per_key < 1:
            raise ValueError("slots and per_key must be at least 1")
        self.slots, self.per_key = slots, per_key
        self.max_jobs, self.max_bytes = max_jobs, max_bytes
        self._log, self._on_idle = log, on_idle
        self._lanes: dict[Hashable, _Lane] = {}
        self._round: deque[_Lane] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def running(self) -> int:
        return self._running

    def waiting(self, key: Hashable) -> tuple[int, int]:
        """Jobs of ``key`` waiting, and their bytes."""
        lane = self._lanes.get(key)
        return (len(lane.jobs), lane.bytes) if lane else (0, 0)

    def submit(self, key: Hashable, job: Job, size: int = 0) -> bool:
        """Queue ``job`` behind ``key``'s others; False (dropped) if that queue is full."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(key)
        elif self._full(lane, size):
            return False
        lane.jobs.append((job, size))
        lane.bytes += size
        self._idle.clear()
        self._enter_round(lane)
        self._pump()
        return True

    async def call(self, key: Hashable, job: Job) -> Any:
        """``job``'s result (or exception), once it has had its turn; never dropped."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()

        async def run() -> None:
            try:
                result = await job()
            except asyncio.CancelledError:
                future.cancel()
                raise
            except Exception as error:
                if future.done():  # the caller stopped waiting: say what it missed
                    self._log.error("a job of %s failed", key, exc_info=error)
                else:
                    future.set_exception(error)
            else:
                if not future.done():
                    future.set_result(result)

        lane = self._lanes.get(key) or self._lanes.setdefault(key, _Lane(key))
        lane.jobs.append((run, 0))
        self._idle.clear()
        self._enter_round(lane)
        self._pump()
        return await future

    async def drained(self) -> None:
        """Until nothing is waiting or running."""
        await self._idle.wait()

    def _full(self, lane: _Lane, size: int) -> bool:
        if self.max_jobs is not None and len(lane.jobs) >= self.max_jobs:
            return True
        return (
            self.max_bytes is not None and bool(lane.jobs) and (lane.bytes + size > self.max_bytes)
        )

    def _enter_round(self, lane: _Lane) -> None:
        if not lane.in_round and lane.jobs and lane.running < self.per_key:
            lane.in_round = True
            self._round.append(lane)

    def _pump(self) -> None:
        while self._running < self.slots and self._round:
            lane = self._round.popleft()
            lane.in_round = False
            job, size = lane.jobs.popleft()
            lane.bytes -= size
            lane.running += 1
            self._running += 1
            task = asyncio.ensure_future(job())
            self._tasks.add(task)
            task.add_done_callback(lambda done, lane=lane: self._finished(lane, done))
            self._enter_round(lane)  # to the back of the round, if it may run more

    def _finished(self, lane: _Lane, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        lane.running -= 1
        self._running -= 1
        if not task.cancelled() and task.exception() is not None:
            self._log.error("a job of %s failed", lane.key, exc_info=task.exception())
        self._enter_round(lane)
        if not lane.jobs and not lane.running:
            del self._lanes[lane.key]
            if self._on_idle is not None:
                try:
                    self._on_idle(lane.key)
                except Exception:
                    self._log.exception("on_idle failed for %s", lane.key)
        self._pump()
        if not self._lanes:
            self._idle.set()
