"""What a generation request receives from the batch (:mod:`rnnlab.api.batcher`): its streams
share one :class:`Symbols` queue, and :class:`Made` hands their symbols out in pieces, as
Server-Sent Events (``symbol`` events, then ``end`` with the whole answer, or ``error``) or
gathered into one answer."""

from __future__ import annotations

import asyncio
import contextlib
import json

from rnnlab.api import schema as s
from rnnlab.api.batcher import END, Stream
from rnnlab.api.turns import Busy


class Symbols(asyncio.Queue):
    """The queue a request's streams share, which also says when all of them have ended."""

    def __init__(self, samples: int) -> None:
        super().__init__()
        self.left, self.ended = samples, asyncio.Event()

    def put_nowait(self, item) -> None:
        super().put_nowait(item)
        if item[1] is END or isinstance(item[1], Exception):
            self.left -= 1
            if self.left <= 0:
                self.ended.set()


class Made:
    """What a generation request receives from its streams (which share one queue): the
    pieces of text as they come, as Server-Sent Events or gathered into one answer.

    After handing out what was ready it waits ``FLUSH`` seconds (or until the streams end)
    before it looks again, so that under load a client gets one event per sample for the
    symbols made in that time, not one per symbol; the first symbol goes out at once. (On the
    bench machine with 64 clients, 0.05 s served 60% more symbols per second than 0.02 s.)"""

    FLUSH = 0.05

    def __init__(self, model: str, streams: list[Stream], vocab, seconds: float) -> None:
        self.model, self.streams, self.seconds = model, streams, seconds
        self.decoders = [vocab.decoder() for _ in streams]
        self.texts: list[list[str]] = [[] for _ in streams]
        self.counts = [0] * len(streams)

    async def pieces(self):
        """Yield, as they come, lists of (sample, text, symbols, traced): the symbols that were
        waiting together, a sample's run of them as one piece (one per symbol when traced)."""
        queue, ended = self.streams[0].symbols, 0
        deadline = asyncio.get_running_loop().time() + self.seconds
        loop = asyncio.get_running_loop()
        while ended < len(self.streams):
            try:
                if loop.time() > deadline:
                    raise TimeoutError
                async with asyncio.timeout_at(deadline):
                    items = [await queue.get()]
            except TimeoutError:
                raise Busy(f"the request took over {self.seconds:g} s; ask for fewer "
                           "symbols") from None  # fmt: skip
            while not queue.empty():
                items.append(queue.get_nowait())
            pieces: list[list] = []
            for k, symbol, traced in items:
                if isinstance(symbol, Exception):
                    raise symbol
                if symbol is END:
                    ended += 1
                    continue
                text = self.decoders[k](symbol)
                self.texts[k].append(text)
                self.counts[k] += 1
                if pieces and pieces[-1][0] == k and traced is None:
                    pieces[-1][1] += text
                    pieces[-1][2] += 1
                else:
                    pieces.append([k, text, 1, traced])
            yield pieces
            if ended < len(self.streams):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.FLUSH):
                        await queue.ended.wait()

    async def events(self):
        """The SSE events: ``symbol`` {sample, text, symbols[, values]} as symbols come, then
        ``end`` with the whole answer, or ``error`` past the time limit."""
        try:
            async for pieces in self.pieces():
                for k, text, count, traced in pieces:
                    event = {"sample": k, "text": text, "symbols": count}
                    if traced is not None:
                        event["values"] = traced
                    yield {"event": "symbol", "data": json.dumps(event, ensure_ascii=False)}
            yield {"event": "end", "data": s.GenerateAnswer(**self.answer()).model_dump_json()}
        except (Busy, ValueError) as error:
            yield {"event": "error", "data": json.dumps({"error": str(error)})}
        finally:  # the end, or the client went away (the generator is closed)
            self.close()

    def answer(self) -> dict:
        samples = [{"text": "".join(t), "symbols": n} for t, n in zip(self.texts, self.counts,
                                                                      strict=True)]  # fmt: skip
        return {"model": self.model, "samples": samples}

    def close(self) -> None:
        """No more work for these streams: the batcher drops them before its next turn."""
        for stream in self.streams:
            stream.gone = True
