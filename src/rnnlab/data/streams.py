"""Truncated backpropagation through time over one continuous stream of ids.

A sequence of N ids is laid out as B rows ("streams") that each hold a contiguous part of it,
``x[b, t]`` being followed by ``y[b, t]`` in the text. A training step reads the next chunk of
T columns of every row, and the hidden state at the end of a chunk is the state (detached) at
the start of the next, as in char-rnn and torch-rnn: gradients flow back at most T steps, context
flows forward through the whole stream. Every one of the N - 1 predictions appears exactly once;
the few target slots past the end of the text are ``IGNORE``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from rnnlab.data.batches import IGNORE


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
