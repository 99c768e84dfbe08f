"""Validation loss of a language model on a text read in order.

A recurrent model reads the ids as a few long streams (see :mod:`rnnlab.data.streams`) chunk by
chunk with the state carried, so every symbol but the first is predicted from all the text
before it in its stream. A model with a bounded ``context`` (the transformer) reads them through
a sliding window that keeps half its context when it moves on
(:func:`~rnnlab.tasks.language.transformer.window_starts`), so every symbol but those of the
first window is predicted from at least ``context // 2`` symbols before it. Reported per symbol
and per character (per byte at the byte level):

    nats/char = sum_t -log p(s_t | s_<t) / (characters predicted),   bits = nats / ln 2
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.data.batches import share_bounds
from rnnlab.data.streams import IGNORE, Streams
from rnnlab.modes import evaluating
from rnnlab.tasks.language.transformer import kept, window_starts

WINDOW_BATCH = 64  # windows scored at once


@dataclass(frozen=True)
class Evaluation:
    nats: float  # total negative log-likelihood
    tokens: int  # symbols predicted
    units: float  # characters (bytes) they stand for
    unit: str  # "char" or "byte"

    @property
    def per_token(self) -> float:
        return self.nats / self.tokens

    @property
    def per_unit(self) -> float:
        """nats per character (byte): comparable across levels."""
        return self.nats / self.units

    @property
    def bits_per_unit(self) -> float:
        return self.per_unit / math.log(2)


@torch.no_grad()
def evaluate(
    model,
    ids,
    streams: int = 16,
    seq_len: int = 256,
    autocast=nullcontext,
    part: tuple[int, int] = (0, 1),
) -> Evaluation:
    """The loss of ``model`` on ``ids`` (N,: a tensor or a NumPy array such as a memory map),
    read as ``streams`` streams in order, or through a sliding window for a model with a
    ``context``; with ``part`` (r, R), only the r-th share of the streams (windows) is read
    (the sums then add up over the R parts)."""
    device = next(model.parameters()).device
    lengths = model.vocab.lengths().to(device)
    if model.context is not None:
        batches = _windows(ids, model.context, part)
    else:
        batches = _stream_chunks(Streams(ids, streams, part), seq_len)
    nats, units, state = 0.0, 0.0, None
    with evaluating(model, no_grad=False):
        for xb, yb in batches:
            xb, yb = xb.to(device), yb.to(device)
            with autocast():
                logits, state = model(xb, state)
            nats += float(
                F.cross_entropy(
                    logits.float().flatten(0, 1), yb.flatten(), ignore_index=IGNORE, reduction="sum"
                )
            )
            units += float(lengths[yb[yb != IGNORE]].sum())
    return Evaluation(nats, len(ids) - 1, units, model.vocab.unit)


def _stream_chunks(layout: Streams, seq_len: int):
    """(inputs, targets) of each chunk of the streams, in order (the state carries over)."""
    for index in range(layout.chunk_count(seq_len)):
        yield layout.chunk(index, seq_len)


def _windows(ids, context: int, part: tuple[int, int], batch: int = WINDOW_BATCH):
    """(inputs, targets), ``batch`` windows at a time, of the r-th share of the sliding windows
    (see :func:`~rnnlab.tasks.language.transformer.window_starts`): each (b, context), the
    targets a window does not score (the first ``kept`` of all but the first window, and any
    past the end) set to IGNORE."""
    starts = window_starts(len(ids), context)
    bounds = share_bounds(len(starts), part)
    mine = starts[bounds.start : bounds.stop]
    keep = kept(context)
    for first in range(0, len(mine), batch):
        rows = mine[first : first + batch]
        x = np.zeros((len(rows), context), dtype=np.int64)
        y = np.full((len(rows), context), IGNORE, dtype=np.int64)
        for row, start in enumerate(rows):
            piece = np.asarray(ids[start : start + context + 1])
            x[row, : len(piece) - 1], y[row, : len(piece) - 1] = piece[:-1], piece[1:]
            if start > 0:
                y[row, :keep] = IGNORE
        yield torch.from_numpy(x), torch.from_numpy(y)


def unigram_entropy(ids, vocab) -> float:
    """Entropy of the symbol frequencies of ``ids`` in nats per character (byte): the loss of
    the best model that ignores context, the bar a sequence model must get under."""
    ids = torch.as_tensor(np.asarray(ids), dtype=torch.int64)
    counts = torch.bincount(ids, minlength=len(vocab)).double()
    p = counts[counts > 0] / counts.sum()
    per_token = float(-(p * p.log()).sum())
    return per_token * ids.numel() / float(vocab.lengths()[ids].sum())
