"""Run a recurrent layer one step at a time and keep every state: the raw material of insight.

For each layer l and step t, with x^0_t the input and x^l_t = h^{l-1}_t above it,

    gi = W_ih x^l_t + b_ih,   gh = W_hh h^l_{t-1} + b_hh,
    state^l_t = cell.update(gi, gh, state^l_{t-1})

which is exactly what :class:`~rnnlab.Recurrent` computes (in eval mode: no dropout), but each
per-step state tensor is kept as it is in the autograd graph, so ``torch.autograd.grad`` can
take the gradient of a loss with respect to any h^l_t. Memory: O(L*T*B*(G+S)*H) scalars kept
(both projections and the S state tensors of every step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.cells import State
from rnnlab.recurrent import Recurrent


@dataclass
class Trace:
    """What a run left behind, indexed ``[layer][t]``."""

    #: the state after each step: a tuple (h,) or (h, c) of (B, H) tensors
    states: list[list[State]]
    #: the two projections of each step, (gi, gh), each (B, G*H)
    projections: list[list[tuple[Tensor, Tensor]]]

    def stacked(self, layer: int, which: int = 0) -> Tensor:
        """State tensor ``which`` (0: h, 1: c) of ``layer`` at every step, (T, B, H)."""
        return torch.stack([state[which] for state in self.states[layer]])

    def final(self) -> list[State]:
        """The state of each layer after the last step."""
        return [steps[-1] for steps in self.states]


def stacked_layers(model) -> Recurrent:
    """The recurrent layers of a language model of the plain stacked form, which the insight
    tools read; a model of residual blocks, or a transformer, is a ValueError."""
    if not hasattr(model, "rnn"):
        raise ValueError("this is a transformer; the insight tools read recurrent language models")
    if model.rnn is None:
        raise ValueError(
            "this model is built of residual blocks (--block residual); the insight tools read "
            "language models of plain stacked layers"
        )
    return model.rnn


def layer_states(rnn: Recurrent, state) -> list[State]:
    """torch's state form (``h`` or ``(h, c)``, each (L, B, H)) as one tuple per layer."""
    parts = (state,) if isinstance(state, Tensor) else tuple(state)
    return [tuple(part[layer] for part in parts) for layer in range(rnn.num_layers)]


def trace(rnn: Recurrent, x: Tensor, state: list[State] | None = None) -> Trace:
    """Step ``rnn`` over x (T, B, I), time-major, from ``state`` (one tuple per layer; zeros if
    None). Unidirectional layers only: a reverse direction has no "state so far"."""
    if rnn.bidirectional:
        raise ValueError("tracing needs a unidirectional network")
    if x.dim() != 3 or x.shape[-1] != rnn.input_size:
        raise ValueError(f"x must be (T, B, {rnn.input_size}), got {tuple(x.shape)}")
    cell, groups = rnn.cell, rnn.weight_groups()
    if state is None:
        state = [cell.zero_state(x.shape[1], x) for _ in range(rnn.num_layers)]
    states: list[list[State]] = [[] for _ in groups]
    projections: list[list[tuple[Tensor, Tensor]]] = [[] for _ in groups]
    below = F.linear(x, groups[0][0], groups[0][2])  # layer 0's input projection, all steps
    for t in range(x.shape[0]):
        for layer, (weight_ih, weight_hh, bias_ih, bias_hh) in enumerate(groups):
            previous = states[layer][-1] if states[layer] else state[layer]
            gi = below[t] if layer == 0 else F.linear(states[layer - 1][t][0], weight_ih, bias_ih)
            gh = F.linear(previous[0], weight_hh, bias_hh)
            states[layer].append(cell.update(gi, gh, previous))
            projections[layer].append((gi, gh))
    return Trace(states, projections)
