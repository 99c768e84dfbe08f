"""The residual block that minGRU and minLSTM language models stack (Feng et al. 2024, after
the pre-norm transformer block with the attention replaced by a recurrent layer):

    x = x + dropout(RNN(LayerNorm(x)))
    x = x + dropout(W_2 GELU(W_1 LayerNorm(x)))      W_1: H -> 4H, W_2: 4H -> H

A minimal cell has no W_hh and no nonlinearity between steps, so its layer is linear in time;
the block's normalisation, residual path and feed-forward layer supply the depth between
layers. Any rnnlab cell fits.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.dropout import SequenceDropout
from rnnlab.recurrent import Recurrent

BLOCKS = ("plain", "residual")


class ResidualBlock(nn.Module):
    """One block of width ``size``: a one-layer ``cell`` network and a feed-forward layer, each
    behind a LayerNorm and added back to its input (``locked_dropout``: each branch's dropout
    mask shared over time)."""

    def __init__(
        self,
        cell: str,
        size: int,
        dropout: float = 0.0,
        expansion: int = 4,
        init: str = "default",
        forget_bias: float | None = None,
        locked_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.norm_rnn = nn.LayerNorm(size)
        self.rnn = Recurrent(cell, size, size, batch_first=True, init=init, forget_bias=forget_bias)
        self.norm_ffn = nn.LayerNorm(size)
        self.ffn_in = nn.Linear(size, expansion * size)
        self.ffn_out = nn.Linear(expansion * size, size)
        self.drop = SequenceDropout(dropout, locked_dropout)

    def feed_forward(self, x: Tensor) -> Tensor:
        """The second half of the block: x + dropout(W_2 GELU(W_1 LayerNorm(x)))."""
        return x + self.drop(self.ffn_out(F.gelu(self.ffn_in(self.norm_ffn(x)))))

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, object]:
        """x (B, T, H) -> (B, T, H), and the layer's final state (torch's form, (1, B, H))."""
        y, state = self.rnn(self.norm_rnn(x), state)
        return self.feed_forward(x + self.drop(y)), state
