"""Dropout for sequences: one mask for every time step (locked), and dropout of whole symbols.

Locked (variational) dropout (Gal & Ghahramani 2016, as AWD-LSTM uses it): for a sequence x of
B rows, T steps and D features, one mask per row and feature, the same at every step:

    y[b, t, d] = m[b, d] x[b, t, d],    m[b, d] = Bernoulli(1 - p) / (1 - p)

so a unit dropped for a stream stays dropped for the whole chunk (a fresh mask per forward
pass). Plain dropout draws a new mask at every step instead.

Embedding dropout (Gal & Ghahramani 2016; AWD-LSTM's ``dropoute``) drops whole symbols: one
factor per vocabulary entry, k[v] = Bernoulli(1 - p) / (1 - p), drawn per forward pass, scales
the input of every position by its symbol's factor,

    y[b, t] = k[s[b, t]] x[b, t]

so a dropped character is missing everywhere in the batch, as if that row of the embedding
were zero. Both are the identity in eval mode and at p = 0.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def _keep(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """Bernoulli(1 - p) / (1 - p) of ``shape``, in ``like``'s dtype and device."""
    return like.new_empty(shape).bernoulli_(1.0 - p).div_(1.0 - p)


def locked_dropout(x: Tensor, p: float, training: bool = True, time_dim: int = 1) -> Tensor:
    """``x`` with one dropout mask shared along ``time_dim`` (see the module docstring)."""
    if not training or p == 0.0:
        return x
    shape = list(x.shape)
    shape[time_dim] = 1
    return x * _keep(tuple(shape), p, x)


def symbol_dropout(x: Tensor, ids: Tensor, vocab_size: int, p: float, training: bool) -> Tensor:
    """``x`` (..., D), the inputs of symbols ``ids`` (...), with whole symbols dropped: every
    position of a dropped symbol zeroed, the rest scaled by 1 / (1 - p)."""
    if not training or p == 0.0:
        return x
    return x * _keep((vocab_size,), p, x)[ids].unsqueeze(-1)


def sequence_dropout(
    x: Tensor, p: float, locked: bool, training: bool = True, time_dim: int = 1
) -> Tensor:
    """Dropout of rate ``p``: with ``locked`` one mask for every step (:func:`locked_dropout`),
    else a mask per element."""
    if locked:
        return locked_dropout(x, p, training, time_dim)
    return F.dropout(x, p, training)


class SequenceDropout(nn.Module):
    """:func:`sequence_dropout` as a module, in training mode only, on sequences whose steps run
    along ``time_dim``."""

    def __init__(self, p: float = 0.0, locked: bool = False, time_dim: int = 1) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {p!r}")
        self.p, self.locked, self.time_dim = float(p), bool(locked), time_dim

    def forward(self, x: Tensor) -> Tensor:
        return sequence_dropout(x, self.p, self.locked, self.training, self.time_dim)

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", locked=True" if self.locked else "")
