"""Validation loss of a language model on a text read in order, state carried.

The ids are laid out as a few long streams (see :mod:`rnnlab.data.streams`) read chunk by chunk
with the state carried, so every symbol but the first is predicted from all the text before it
in its stream. Reported per symbol and per character (per byte at the byte level):

    nats/char = sum_t -log p(s_t | s_<t) / (characters predicted),   bits = nats / ln 2
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.data.streams import IGNORE, Streams


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
    read as ``streams`` streams in order; with ``part`` (r, R), only the r-th share of the
    streams is read (the sums then add up over the R parts)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    lengths = model.vocab.lengths().to(device)
    layout = Streams(ids, streams, part)
    nats, units, state = 0.0, 0.0, None
    try:
        for index in range(layout.chunk_count(seq_len)):
            xb, yb = (t.to(device) for t in layout.chunk(index, seq_len))
            with autocast():
                logits, state = model(xb, state)
            nats += float(
                F.cross_entropy(
                    logits.float().flatten(0, 1), yb.flatten(), ignore_index=IGNORE, reduction="sum"
                )
            )
            units += float(lengths[yb[yb != IGNORE]].sum())
    finally:
        model.train(was_training)
    return Evaluation(nats, len(ids) - 1, units, model.vocab.unit)


def unigram_entropy(ids, vocab) -> float:
    """Entropy of the symbol frequencies of ``ids`` in nats per character (byte): the loss of
    the best model that ignores context, the bar a sequence model must get under."""
    ids = torch.as_tensor(np.asarray(ids), dtype=torch.int64)
    counts = torch.bincount(ids, minlength=len(vocab)).double()
    p = counts[counts > 0] / counts.sum()
    per_token = float(-(p * p.log()).sum())
    return per_token * ids.numel() / float(vocab.lengths()[ids].sum())
