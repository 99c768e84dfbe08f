"""One time step of a stacked recurrent network, with the weights prepared once: for generation.

Sampling feeds each chosen symbol back, so it runs the network one step at a time. A fused
sequence kernel is the wrong tool there (it sets itself up again on every call) and so is the
training graph. :class:`Stepper` keeps the same equations (each cell's
:meth:`~rnnlab.cells.Cell.update`) and does per step only what depends on the step:

    gh_l = W_hh^l h^l_{t-1} + b_hh^l                  (a prepared product, see rnnlab.kernels)
    gi_l = W_ih^l h^{l-1}_t + b_ih^l   for l > 0      (the first layer's gi is the caller's,
                                                       from :meth:`Stepper.input_projection`)
    state^l_t = cell.update(gi_l, gh_l, state^l_{t-1})

For cells whose step depends only on ``gi + gh`` (vanilla RNN, LSTM: ``Cell.additive``) the two
products of a layer above the first are one, ``[W_ih W_hh] [h^{l-1}_t; h^l_{t-1}] + b_ih + b_hh``,
and the first layer's ``b_hh`` moves into its input projection. The products run in
``precision`` (bfloat16 where the hardware multiplies in it natively, as in training); states and
the elementwise gate arithmetic stay float32. Dropout is not applied (this is inference).
Bidirectional networks cannot be stepped and are refused. A stepper is a module (its products
are submodules), so that :mod:`rnnlab.fused` can compile a step of it into one program.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.cells import State
from rnnlab.checks import check_choice
from rnnlab.kernels import PreparedLinear
from rnnlab.recurrent import Recurrent

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class Stepper(nn.Module):
    """Steps ``rnn`` (unidirectional) for ``batch_size`` streams; see the module docstring.

    States are lists of per-layer tuples (``(h,)`` or ``(h, c)``, each (B, H) float32);
    :meth:`from_torch` and :meth:`to_torch` convert from and to the (L, B, H) layout of
    :class:`~rnnlab.Recurrent`. ``prepack``: see :class:`~rnnlab.kernels.PreparedLinear`.
    """

    def __init__(
        self,
        rnn: Recurrent,
        *,
        batch_size: int = 1,
        precision: str = "float32",
        prepack: bool = True,
    ):
        super().__init__()
        if rnn.bidirectional:
            raise ValueError("a bidirectional network reads the whole sequence; it cannot step")
        check_choice("precision", precision, DTYPES)
        self.dtype = dtype = DTYPES[precision]
        self.cell, self.precision = rnn.cell, precision
        self.hidden_size, self.num_layers = rnn.hidden_size, rnn.num_layers
        self.additive = rnn.cell.additive
        groups = rnn.weight_groups()
        first_ih, _, first_bias_ih, first_bias_hh = groups[0]
        first_bias = _sum(first_bias_ih, first_bias_hh) if self.additive else first_bias_ih
        self.register_buffer("first_weight", first_ih.detach().float())
        self.register_buffer("first_bias", None if first_bias is None else first_bias.float())

        def prepared(weight, bias):
            return PreparedLinear(weight, bias, batch_size=batch_size, dtype=dtype, prepack=prepack)

        # per layer: (product of the input from below, product of the layer's own h); the first
        # layer's input product is the caller's; an additive layer above it has one joint product
        self.layers: list[tuple[PreparedLinear | None, PreparedLinear | None]] = []
        for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(groups):
            if layer == 0:
                own = prepared(w_hh, None if self.additive else b_hh)
                self.layers.append((None, own))
            elif self.additive:
                joint = prepared(torch.cat([w_ih, w_hh], dim=1), _sum(b_ih, b_hh))
                self.layers.append((joint, None))
            else:
                self.layers.append((prepared(w_ih, b_ih), prepared(w_hh, b_hh)))
        self.products = nn.ModuleList(p for layer in self.layers for p in layer if p is not None)
        self.kernel = self.layers[0][1].kernel

    def input_projection(self, x: Tensor) -> Tensor:
        """The first layer's ``gi`` for inputs x (N, I), in float32: ``W_ih x + b_ih`` (plus
        ``b_hh`` for additive cells). A caller with few distinct inputs makes it a table."""
        return F.linear(x.float(), self.first_weight, self.first_bias)

    def zero_state(self, batch_size: int, device: torch.device | str = "cpu") -> list[State]:
        shape = (batch_size, self.hidden_size)
        names = self.cell.state_names
        return [tuple(torch.zeros(shape, device=device) for _ in names) for _ in self.layers]

    def from_torch(self, state: Tensor | tuple[Tensor, ...]) -> list[State]:
        """Recurrent's state ``h`` or ``(h, c)``, each (L, B, H), as per-layer float32 tuples."""
        parts = (state,) if torch.is_tensor(state) else tuple(state)
        return [tuple(p[layer].float() for p in parts) for layer in range(self.num_layers)]

    def to_torch(self, state: list[State]) -> Tensor | tuple[Tensor, ...]:
        parts = tuple(torch.stack(p) for p in zip(*state, strict=True))
        return parts[0] if len(parts) == 1 else parts

    def forward(self, gi: Tensor, state: list[State]) -> tuple[Tensor, list[State]]:
        """gi (B, G*H), the first layer's :meth:`input_projection` -> (the top layer's new h
        (B, H) in the compute precision, the new state)."""
        new: list[State] = []
        below = None
        for layer, ((into, own), old) in enumerate(zip(self.layers, state, strict=True)):
            h = old[0].to(self.dtype)
            if layer == 0:
                step = (
                    self.cell.activate(torch.add(gi, own(h)), old)
                    if self.additive
                    else self.cell.update(gi, own(h).float(), old)
                )
            elif self.additive:
                step = self.cell.activate(into(torch.cat([below, h], dim=1)).float(), old)
            else:
                step = self.cell.update(into(below).float(), own(h).float(), old)
            new.append(step)
            below = step[0].to(self.dtype)
        return below, new


def _sum(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None or b is None:
        return a if b is None else b
    return a.detach() + b.detach()
