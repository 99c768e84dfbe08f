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

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.data.streams import IGNORE, as_streams, chunks


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
    model, ids: Tensor, streams: int = 16, seq_len: int = 256, autocast=nullcontext
) -> Evaluation:
    """The loss of ``model`` on ``ids`` (N,), read as ``streams`` streams in order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    lengths = model.vocab.lengths().to(device)
    x, y = as_streams(ids, streams)
    x, y = x.to(device), y.to(device)
    nats, units, state = 0.0, 0.0, None
    try:
        for xb, yb in chunks(x, y, seq_len):
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
    return Evaluation(nats, ids.numel() - 1, units, model.vocab.unit)


def unigram_entropy(ids: Tensor, vocab) -> float:
    """Entropy of the symbol frequencies of ``ids`` in nats per character (byte): the loss of
    the best model that ignores context, the bar a sequence model must get under."""
    counts = torch.bincount(ids, minlength=len(vocab)).double()
    p = counts[counts > 0] / counts.sum()
    per_token = float(-(p * p.log()).sum())
    return per_token * ids.numel() / float(vocab.lengths()[ids].sum())
