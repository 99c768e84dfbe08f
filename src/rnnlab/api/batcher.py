"""Serving many clients with one model: generation streams that join and leave one running
batch, and small requests gathered into one forward pass.

**Generation.** Each sample a client asks for is a :class:`Stream`. A model's
:class:`GenerationBatcher` runs one loop while it has streams; each turn of the loop:

1. streams waiting for a row (at most ``rows`` run at once) join: they read their primes
   (a recurrent model's primes of one length together, a transformer's one by one);
2. every running stream's next symbol is sampled from its own logits, under its own sampling
   settings, with its own random generator (:func:`rnnlab.generation.sample_rows`);
3. the running streams take one step together: one batched step of a recurrent model, whose
   state per stream is a row of the batch; a transformer's streams (each with its own window
   and cache) step one after another.

Then each stream's symbol goes to its queue, the event loop serves everything else that is
ready (new requests, answers going out), and a stream that is done, or whose client went away,
leaves before the next turn: no work goes on for a client that left. A turn runs on the event
loop itself: on the 2-core bench machine that served 1.6 to 2 times the symbols per second of
a turn in a worker thread (the hop to the thread, and the two threads' contention for the
interpreter, cost more than the overlap gained); the products use the cores torch is given.

The step function is built for ``rows`` rows, and on oneDNN a row's products are then the same
whatever else is in the batch, so a seeded stream writes the same text alone or beside 63
others (the test suite checks it, rather than assuming it). With ``fused``, the step is
compiled in a thread while the batch steps eagerly (:class:`rnnlab.fused.Warming`); the
compiled program for one row computes its products in another order than the one for many,
so a stream alone may then differ from the same stream in a batch in the last bits.

**Gathering.** A :class:`Gatherer` collects the requests that arrive within ``wait`` seconds (or
until ``most`` items) and computes them in one call, e.g. one padded forward of a classifier.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from starlette.concurrency import run_in_threadpool
from torch import Tensor

from rnnlab.api.limits import Limits
from rnnlab.api.turns import RETRY_AFTER, Busy
from rnnlab.fused import Warming
from rnnlab.generation import Sampling, sample_rows
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.next_symbol import NextSymbolModel

ROWS, QUEUE = Limits.rows, Limits.queue  # streams stepped together; more that may wait
END = None  # what a stream's queue holds after its last symbol


@dataclass(eq=False)
class Stream:
    """One sample being generated: what it continues, how it chooses, and where its symbols go:
    ``(index, id, traced)`` for each symbol, then ``(index, END, None)``, into ``symbols``, an
    asyncio queue that the samples of one request share."""

    prime: Tensor  # (T,) ids
    length: int
    sampling: Sampling
    generator: torch.Generator
    symbols: asyncio.Queue = field(default_factory=asyncio.Queue)
    index: int = 0  # which sample of its request
    #: called in the turn with the stream's state after each step; its result goes to the
    #: client beside the symbol (the explorer's view of a state vector)
    trace: Callable[[object], object] | None = None
    made: int = 0
    gone: bool = False  # the client went away, or the stream ended
    logits: Tensor | None = None  # (V,) its next symbol's logits
    state: object = None  # a transformer stream's own state


def seeded(seed: int | None) -> torch.Generator:
    """A generator seeded with ``seed``, or from the operating system's randomness."""
    return torch.Generator().manual_seed(secrets.randbits(63) if seed is None else seed)


def tree(function: Callable, *states):
    """``function`` applied to the tensors at the same place in each of ``states`` (nested
    lists and tuples of tensors, as step functions keep them)."""
    first = states[0]
    if torch.is_tensor(first):
        return function(*states)
    return type(first)(tree(function, *parts) for parts in zip(*states, strict=True))


class GenerationBatcher:
    """The running batch of one language model; see the module docstring."""

    def __init__(
        self,
        model: NextSymbolModel,
        rows: int = ROWS,
        queue: int = QUEUE,
        precision: str = "auto",
        fused: bool = False,
    ) -> None:
        self.model, self.rows, self.queue = model, rows, queue
        # a recurrent model's states are rows of one batch; a transformer's windows differ
        self.joinable = isinstance(model, LanguageModel)
        self.step = model.step_function(batch_size=rows, precision=precision)
        if fused and self.joinable:  # eager until the compiled step is ready
            self.step = Warming(self.step, model.step_function(rows, precision, fused=True))
        self.waiting: deque[Stream] = deque()
        self.running: list[Stream] = []
        self.state, self.logits = None, None  # the running streams' rows, in their order
        self.task: asyncio.Task | None = None
        self.steps = 0  # turns taken, and the most streams in one (for tests and benchmarks)
        self.widest = 0

    @property
    def streams(self) -> int:
        """Streams waiting or running, their clients still there."""
        return sum(not s.gone for s in (*self.waiting, *self.running))

    def start(self, streams: Sequence[Stream]) -> None:
        """Take ``streams`` in (all of them), or raise Busy if more than ``rows`` running and
        ``queue`` waiting streams would be in."""
        held = self.streams
        if held + len(streams) > self.rows + self.queue:
            raise Busy(
                f"the server is busy ({held} samples in progress or waiting for this model); "
                f"try again in {RETRY_AFTER} s"
            )
        self.waiting.extend(streams)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        """The batch's loop: a turn, its symbols to their queues, the event loop's other work
        (requests, answers), the next turn; until no stream is left."""
        while True:
            staying = [s for s in self.running if not s.gone]
            joining = []
            while self.waiting and len(staying) + len(joining) < self.rows:
                stream = self.waiting.popleft()
                if not stream.gone:
                    joining.append(stream)
            if not staying and not joining:
                self.running, self.state, self.logits = [], None, None
                return
            try:
                made = self._turn(staying, joining)
            except Exception as error:  # the streams' requests fail with it; the loop goes on
                made = [(stream, error, None) for stream in (*staying, *joining)]
                for stream in (*staying, *joining):
                    stream.gone = True
                self.running, self.state, self.logits = [], None, None
            for stream, symbol, traced in made:
                stream.symbols.put_nowait((stream.index, symbol, traced))
                if stream.made == stream.length and not isinstance(symbol, Exception):
                    stream.symbols.put_nowait((stream.index, END, None))
            await asyncio.sleep(0)

    @torch.no_grad()
    def _turn(self, staying: list[Stream], joining: list[Stream]) -> list[tuple]:
        """One turn: the joiners read their primes (a recurrent model's primes of one length
        together), every stream's symbol is sampled, and the streams that go on take one step.
        Returns (stream, symbol id, traced) for each stream; a stream that made its last
        symbol is marked gone."""
        groups: dict[int, list[Stream]] = {}
        for stream in joining:
            key = len(stream.prime) if self.joinable else id(stream)
            groups.setdefault(key, []).append(stream)
        for group in groups.values():
            logits, state = self.step(torch.stack([s.prime for s in group]), None)
            for row, stream in enumerate(group):
                stream.state = tree(lambda t, r=row: t[r : r + 1], state)
                stream.logits = logits[row, -1]
        self._arrange(staying, joining)
        order = self.running
        logits = self.logits if self.joinable else torch.stack([s.logits for s in order])
        ids = sample_rows(logits.float(), [s.sampling for s in order], [s.generator for s in order])
        # the rows that step: those that go on, and a traced one after its last symbol too
        on = [r for r, s in enumerate(order) if s.made + 1 < s.length or s.trace is not None]
        traced: list = [None] * len(order)
        if self.joinable and on:
            if len(on) < len(order):  # the others have ended: their rows leave now
                self.state = _rows(self.state, torch.tensor(on))
                self.running = [order[r] for r in on]
            step_logits, self.state = self.step(ids[on].view(-1, 1), self.state)
            self.logits = step_logits[:, -1]
            for row, r in enumerate(on):
                if order[r].trace is not None:
                    traced[r] = order[r].trace(tree(lambda t, i=row: t[i : i + 1], self.state))
        elif not self.joinable:
            for r in on:
                stream = order[r]
                step_logits, stream.state = self.step(ids[r].view(1, 1), stream.state)
                stream.logits = step_logits[0, -1]
                if stream.trace is not None:
                    traced[r] = stream.trace(stream.state)
        self.steps += 1
        self.widest = max(self.widest, len(order))
        for stream in order:
            stream.made += 1
            if stream.made == stream.length:
                stream.gone = True
        return list(zip(order, ids.tolist(), traced, strict=True))

    def _arrange(self, staying: list[Stream], joining: list[Stream]) -> None:
        """Make the running streams ``staying + joining``, with their rows of the batched state
        and logits in that order."""
        if self.joinable and (staying != self.running or joining):
            row_of = {id(s): r for r, s in enumerate(self.running)}
            rows = [row_of[id(s)] for s in staying]
            states = [s.state for s in joining]
            logits = [s.logits.view(1, -1) for s in joining]
            if rows:
                whole = len(rows) == len(self.running)
                index = torch.tensor(rows)
                states.insert(0, self.state if whole else _rows(self.state, index))
                logits.insert(0, self.logits if whole else self.logits[index])
            self.state = tree(lambda *t: torch.cat(t), *states)
            self.logits = torch.cat(logits)
            for stream in joining:
                stream.state = stream.logits = None
        self.running = staying + joining


def _rows(state, index: Tensor):
    return tree(lambda t: t.index_select(0, index), state)


class Gatherer:
    """``await gatherer(items)`` returns ``work(all items gathered)`` for this request's items:
    requests that arrive within ``wait`` seconds of the first are computed in one call (in a
    worker thread), up to ``most`` items."""

    def __init__(self, work: Callable[[list], list], wait: float = 0.005, most: int = 256):
        self.work, self.wait, self.most = work, wait, most
        self.pending: list[tuple[list, asyncio.Future]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.held = 0  # items gathered or being computed
        self.calls = 0  # calls of work (for tests)

    async def __call__(self, items: list) -> list:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((items, future))
        self.held += len(items)
        if sum(len(i) for i, _ in self.pending) >= self.most:
            self._flush()
        elif self.timer is None:
            self.timer = loop.call_later(self.wait, self._flush)
        return await future

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        if batch:
            asyncio.get_running_loop().create_task(self._compute(batch))

    async def _compute(self, batch: list[tuple[list, asyncio.Future]]) -> None:
        items = [item for part, _ in batch for item in part]
        try:
            self.calls += 1
            results = await run_in_threadpool(self.work, items)
        except Exception as error:  # every request of the batch gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        finally:
            self.held -= len(items)
        start = 0
        for part, future in batch:
            if not future.done():  # its client may have gone
                future.set_result(results[start : start + len(part)])
            start += len(part)
