"""A stack of recurrent layers unrolled over time, and backpropagation through time, in NumPy.

Forward, layer by layer: h^l_t = cell(h^{l-1}_t, h^l_{t-1}) for t = 1..T, with h^0_t = x_t.

Backward (BPTT), top layer first, t = T..1 in each layer:

    dL/dh_t = (dL/dh_t from the layer above or the output at step t) + (dL/dh_t through h_{t+1})
    (dx_t, dL/dh_{t-1} through this step) = cell.backward(dL/dh_t, ...)

so the gradient reaching step t from the end is multiplied, step after step, by W_hh and the
derivative of the nonlinearity: the product that vanishes or explodes. ``backward`` returns that
gradient for every step (``dh``), for the vanishing-gradient tools.

Parameters are named as in ``rnnlab.Recurrent`` and ``torch.nn.LSTM`` (``weight_ih_l0``, ...).
Memory: the caches keep O(L*T*B*(I + G*H)) numbers for the backward pass.
"""

from __future__ import annotations

import numpy as np

from rnnlab.scratch import cells

KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class Network:
    """``num_layers`` layers of one cell type; inputs (T, B, input_size)."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        seed: int | None = 0,
        dtype=np.float64,
    ) -> None:
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.cell_name = cell
        self.cell = cells.make(cell)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(hidden_size)  # torch's default: uniform(-1/sqrt(H), 1/sqrt(H))
        rows = self.cell.gates * hidden_size
        self.params: dict[str, np.ndarray] = {}
        for layer in range(num_layers):
            shapes = {
                "weight_ih": (rows, input_size if layer == 0 else hidden_size),
                "weight_hh": (rows, hidden_size),
            }
            if bias:
                shapes |= {"bias_ih": (rows,), "bias_hh": (rows,)}
            for kind, shape in shapes.items():
                self.params[f"{kind}_l{layer}"] = rng.uniform(-bound, bound, shape).astype(dtype)

    def layer_params(self, layer: int) -> dict[str, np.ndarray]:
        return {k: self.params[f"{k}_l{layer}"] for k in KINDS if f"{k}_l{layer}" in self.params}

    def zero_state(self, batch: int) -> list[tuple[np.ndarray, ...]]:
        dtype = self.params["weight_hh_l0"].dtype
        zero = np.zeros((batch, self.hidden_size), dtype)
        return [tuple(zero for _ in range(self.cell.state_size))] * self.num_layers

    def forward(self, x: np.ndarray, state=None):
        """x (T, B, I) -> (outputs of the top layer (T, B, H), final state per layer, caches)."""
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"x must be (T, B, {self.input_size}), got {x.shape}")
        state = self.zero_state(x.shape[1]) if state is None else list(state)
        finals, caches = [], []
        for layer in range(self.num_layers):
            p, s, outputs, layer_caches = self.layer_params(layer), state[layer], [], []
            for t in range(x.shape[0]):
                s, cache = self.cell.forward(p, x[t], s)
                outputs.append(s[0])
                layer_caches.append(cache)
            x = np.stack(outputs)
            finals.append(s)
            caches.append(layer_caches)
        return x, finals, caches

    def backward(self, doutputs: np.ndarray, caches, dfinal=None):
        """BPTT. doutputs (T, B, H): dL/d(top-layer output) at each step; dfinal: dL/d(final
        state) per layer, or None. Returns (grads, dx (T, B, I), dstate0 per layer,
        dh per layer: (T, B, H) total dL/dh_t at every step)."""
        grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        dstate0: list = [None] * self.num_layers
        dhs: list = [None] * self.num_layers
        dabove = doutputs
        for layer in reversed(range(self.num_layers)):
            p = self.layer_params(layer)
            layer_grads = {k: np.zeros_like(v) for k, v in p.items()}
            steps = len(caches[layer])
            carried = (
                tuple(np.zeros_like(dabove[0]) for _ in range(self.cell.state_size))
                if dfinal is None
                else tuple(dfinal[layer])
            )
            dx, dh = [None] * steps, np.empty_like(dabove)
            for t in reversed(range(steps)):
                dstate = (dabove[t] + carried[0], *carried[1:])
                dh[t] = dstate[0]
                dx[t], carried = self.cell.backward(p, dstate, caches[layer][t], layer_grads)
            for kind, value in layer_grads.items():
                grads[f"{kind}_l{layer}"] = value
            dstate0[layer], dhs[layer], dabove = carried, dh, np.stack(dx)
        return grads, dabove, dstate0, dhs
