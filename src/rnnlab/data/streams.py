"""Truncated backpropagation through time over one continuous stream of ids.

A sequence of N ids is laid out as B rows ("streams") that each hold a contiguous part of it,
``x[b, t]`` being followed by ``y[b, t]`` in the text. A training step reads the next chunk of
T columns of every row, and the hidden state at the end of a chunk is the state (detached) at
the start of the next, as in char-rnn and torch-rnn: gradients flow back at most T steps, context
flows forward through the whole stream. Every one of the N - 1 predictions appears exactly once;
the few target slots past the end of the text are ``IGNORE``.

:class:`Streams` reads the same layout from ids it never copies whole (a memory-mapped token
file): stream b starts at offset b * L, and a chunk is B slices of T + 1 ids. A part of the rows
(``part=(r, R)``: the r-th of R near-equal shares) is what one of R distributed ranks reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.batches import IGNORE, share


def as_streams(ids: Tensor, streams: int) -> tuple[Tensor, Tensor]:
    """(x, y), each (B, ceil((N-1)/B)): B contiguous streams of inputs and next-id targets."""
    if ids.dim() != 1 or ids.numel() < 2:
        raise ValueError("need a sequence of at least 2 ids to predict one from another")
    streams = min(streams, ids.numel() - 1)
    predictions = ids.numel() - 1
    length = math.ceil(predictions / streams)
    pad = streams * length - predictions
    x = torch.cat([ids[:-1], ids.new_zeros(pad)]).view(streams, length)
    y = torch.cat([ids[1:], ids.new_full((pad,), IGNORE)]).view(streams, length)
    return x, y


class Streams:
    """The layout of :func:`as_streams` over ``ids`` (a tensor or a NumPy array, such as a
    memory map), read chunk by chunk: ``chunk(i, T)`` equals ``chunk(*as_streams(ids, B), i, T)``
    restricted to this ``part`` of the rows."""

    def __init__(self, ids, streams: int, part: tuple[int, int] = (0, 1)) -> None:
        if len(ids.shape) != 1 or len(ids) < 2:
            raise ValueError("need a sequence of at least 2 ids to predict one from another")
        self.ids = ids
        self.predictions = len(ids) - 1
        self.streams = min(streams, self.predictions)
        self.length = math.ceil(self.predictions / self.streams)
        if self.streams < part[1]:
            raise ValueError(
                f"{self.streams} streams cannot be shared by {part[1]} processes; "
                "raise --batch-size"
            )
        self.rows = share(self.streams, part)

    def chunk_count(self, seq_len: int) -> int:
        return math.ceil(self.length / seq_len)

    def _spans(self, index: int, seq_len: int, rows) -> tuple[np.ndarray, np.ndarray, int]:
        """Per row, the offset of chunk ``index`` and how many of its ``width`` columns hold a
        prediction."""
        start = index * seq_len
        width = min(seq_len, self.length - start)
        offsets = rows * self.length + start
        return offsets, np.clip(self.predictions - offsets, 0, width), width

    def chunk(self, index: int, seq_len: int) -> tuple[Tensor, Tensor]:
        """(x, y), each (rows, width) int64: chunk ``index`` of this part's streams."""
        offsets, filled, width = self._spans(index, seq_len, self.rows)
        x = np.zeros((len(self.rows), width), dtype=np.int64)
        y = np.full((len(self.rows), width), IGNORE, dtype=np.int64)
        for row, (offset, n) in enumerate(zip(offsets.tolist(), filled.tolist(), strict=True)):
            if n:
                piece = np.asarray(self.ids[offset : offset + n + 1])
                x[row, :n], y[row, :n] = piece[:n], piece[1:]
        return torch.from_numpy(x), torch.from_numpy(y)

    def predicted(self, index: int, seq_len: int) -> int:
        """How many predictions chunk ``index`` holds over all rows (of every part)."""
        return int(self._spans(index, seq_len, np.arange(self.streams))[1].sum())


def chunk(x: Tensor, y: Tensor, index: int, seq_len: int) -> tuple[Tensor, Tensor]:
    """Chunk ``index``: columns [index * seq_len, (index + 1) * seq_len) of every stream."""
    columns = slice(index * seq_len, (index + 1) * seq_len)
    return x[:, columns], y[:, columns]


def chunks(x: Tensor, y: Tensor, seq_len: int) -> Iterator[tuple[Tensor, Tensor]]:
    """All chunks in order (the last one may be shorter)."""
    for index in range(chunk_count(x, seq_len)):
        yield chunk(x, y, index, seq_len)


def chunk_count(x: Tensor, seq_len: int) -> int:
    return math.ceil(x.shape[1] / seq_len)


def detach_state(state):
    """The state with its history cut: the TBPTT boundary between two chunks."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(s.detach() for s in state)
