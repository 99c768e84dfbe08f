"""Taking turns: the server's model work outside generation (the explorer's reads, games and
gradients, the API's requests other than generate and classify), bounded and fair.

A request that computes with a model is first admitted: at most ``capacity`` at once; one more
is answered at once with 503, ``Retry-After`` and a one-line JSON message, instead of waiting
behind a flood. The admitted requests' work runs in slices (a piece of a text read, or the
whole of a small request) through ``lanes`` lanes, the slices in the order they asked for a
lane: an ``asyncio.Semaphore`` wakes its waiters first come, first served. So a long read asks
again after each piece, and a short request waits for at most one slice of each request ahead
of it, never for a whole read. (Generation runs in its model's batch: :mod:`rnnlab.api.batcher`.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from starlette.concurrency import run_in_threadpool

CAPACITY = 32  # requests admitted at once
RETRY_AFTER = 1  # seconds a refused client is asked to wait
LANES = 4  # slices run at once: two per core of the bench machine (16 were no faster)


class Busy(Exception):
    """The server is full: answered 503 with ``Retry-After``."""


class Turns:
    """Admission (:meth:`admitted`) and the lanes that run the slices (:meth:`run`)."""

    def __init__(self, capacity: int = CAPACITY, lanes: int = LANES) -> None:
        self.capacity, self.active = capacity, 0
        self.lanes = asyncio.Semaphore(lanes)

    def admit(self) -> None:
        """Take one of the ``capacity`` places (give it back with :meth:`leave`), or raise
        :class:`Busy`."""
        if self.active >= self.capacity:
            raise Busy(
                f"the server is busy ({self.capacity} requests in progress); "
                f"try again in {RETRY_AFTER} s"
            )
        self.active += 1

    def leave(self) -> None:
        self.active -= 1

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """A place held for the block."""
        self.admit()
        try:
            yield
        finally:
            self.leave()

    async def run(self, work: Callable, *args):
        """``work(*args)``, one slice, in a worker thread when a lane is free."""
        async with self.lanes:
            return await run_in_threadpool(work, *args)
