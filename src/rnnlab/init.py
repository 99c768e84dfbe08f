"""Initialisation schemes for recurrent weights, chosen by name.

- ``default``: torch's own, every weight and bias uniform in [-1/sqrt(H), 1/sqrt(H)].
- ``orthogonal``: each gate's H x H block of W_hh a random orthogonal matrix (all its singular
  values are 1, so repeated multiplication neither shrinks nor grows a vector at the start);
  each gate's block of W_ih Glorot-uniform; biases zero.
- ``identity``: the IRNN of Le, Jaitly & Hinton (2015), for vanilla RNNs (meant for ReLU):
  W_hh = I and biases zero, so at the start h_t = relu(h_{t-1} + W_ih x_t) adds its inputs up
  and the gradient passes back through time unchanged; W_ih Glorot-uniform.

``forget_bias`` (LSTM only) then sets the forget gate's total bias b_if + b_hf to the given value;
1.0 (Gers et al. 2000; Jozefowicz et al. 2015) makes the cell remember by default at the start.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnlab.checks import check_choice

SCHEMES = ("default", "orthogonal", "identity")

WeightGroup = tuple[Tensor, Tensor, Tensor | None, Tensor | None]


def check_init(cell: nn.Module, scheme: str, forget_bias: float | None) -> None:
    """Raise ValueError, naming the argument, if the scheme does not fit ``cell`` (a
    :class:`rnnlab.Cell`: its ``identity_init`` and ``forget_gate`` say what fits)."""
    check_choice("init", scheme, SCHEMES)
    if scheme == "identity" and not cell.identity_init:
        raise ValueError(f"init='identity' is for vanilla RNN cells, not {type(cell).__name__}")
    if forget_bias is not None:
        if cell.forget_gate is None:
            raise ValueError(f"forget_bias applies to LSTM cells only, not {type(cell).__name__}")
        if not cell.bias:
            raise ValueError("forget_bias needs bias=True")
        if not math.isfinite(forget_bias):
            raise ValueError(f"forget_bias must be a finite number, got {forget_bias!r}")


@torch.no_grad()
def init_weights_(
    cell: nn.Module,
    groups: list[WeightGroup],
    scheme: str = "default",
    forget_bias: float | None = None,
) -> None:
    """Initialise in place each (weight_ih, weight_hh, bias_ih, bias_hh) group of ``cell``."""
    check_init(cell, scheme, forget_bias)
    hidden = cell.hidden_size
    for weight_ih, weight_hh, bias_ih, bias_hh in groups:
        if scheme == "default":
            bound = 1.0 / math.sqrt(hidden)
            for tensor in (weight_ih, weight_hh, bias_ih, bias_hh):
                if tensor is not None:
                    nn.init.uniform_(tensor, -bound, bound)
        else:
            for block in weight_ih.split(hidden):
                nn.init.xavier_uniform_(block)
            for block in weight_hh.split(hidden):
                if scheme == "orthogonal":
                    nn.init.orthogonal_(block)
                else:
                    block.copy_(torch.eye(hidden, dtype=block.dtype, device=block.device))
            for tensor in (bias_ih, bias_hh):
                if tensor is not None:
                    tensor.zero_()
        if forget_bias is not None:
            forget = slice(cell.forget_gate * hidden, (cell.forget_gate + 1) * hidden)
            bias_ih[forget] = forget_bias
            bias_hh[forget] = 0.0
