"""One time step of each cell, forward and backward, in NumPy.

Shapes: x (B, I), h and c (B, H); weights in torch's layout, W_ih (G*H, I), W_hh (G*H, H),
b_ih and b_hh (G*H,), the G gate blocks stacked in torch's order, so that the weights of
``rnnlab.RNN``/``LSTM``/``GRU`` (and ``torch.nn``'s) copy over unchanged.

``forward(p, x, state) -> (state', cache)`` computes the step and keeps what the backward step
needs; ``backward(p, dstate', cache, grads) -> (dx, dstate)`` takes the gradient of the loss with
respect to the new state, adds this step's parameter gradients into ``grads``, and returns the
gradients with respect to the input and the previous state. A state is a tuple: (h,) or (h, c).
"""

from __future__ import annotations

import numpy as np

from rnnlab.cells import CELLS, GRUCell, LSTMCell, RNNCell
from rnnlab.checks import check_choice


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # = 1 / (1 + exp(-a)), without overflow


def _accumulate(p: dict, grads: dict, da_ih, da_hh, x, h_prev) -> tuple[np.ndarray, np.ndarray]:
    """The gradients of the two affine maps a_ih = x W_ih^T + b_ih, a_hh = h W_hh^T + b_hh:
    dW_ih += da_ih^T x, db_ih += sum_b da_ih (and the same for hh); returns dx, dh."""
    grads["weight_ih"] += da_ih.T @ x
    grads["weight_hh"] += da_hh.T @ h_prev
    if "bias_ih" in p:
        grads["bias_ih"] += da_ih.sum(0)
        grads["bias_hh"] += da_hh.sum(0)
    return da_ih @ p["weight_ih"], da_hh @ p["weight_hh"]


def _affine(p: dict, kind: str, v: np.ndarray) -> np.ndarray:
    out = v @ p[f"weight_{kind}"].T
    return out + p[f"bias_{kind}"] if f"bias_{kind}" in p else out


class RNN:
    """Elman: h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh or relu.

    Backward: da = dh_t * f'(a_t), with tanh' = 1 - h_t^2 and relu' = [a_t > 0];
    dx_t = da W_ih, dh_{t-1} = da W_hh.
    """

    gates, state_size = 1, 1

    def __init__(self, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be tanh or relu, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def forward(self, p, x, state):
        (h_prev,) = state
        a = _affine(p, "ih", x) + _affine(p, "hh", h_prev)
        h = np.tanh(a) if self.nonlinearity == "tanh" else np.maximum(a, 0.0)
        return (h,), (x, h_prev, a, h)

    def backward(self, p, dstate, cache, grads):
        (dh,) = dstate
        x, h_prev, a, h = cache
        da = dh * (1.0 - h * h) if self.nonlinearity == "tanh" else dh * (a > 0)
        dx, dh_prev = _accumulate(p, grads, da, da, x, h_prev)
        return dx, (dh_prev,)


class LSTM:
    """Gates i, f, g, o = sigma, sigma, tanh, sigma of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh);
    c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t).

    Backward: do = dh * tanh(c_t); dc = dc_t + dh * o * (1 - tanh(c_t)^2);
    di = dc * g, df = dc * c_{t-1}, dg = dc * i, dc_{t-1} = dc * f; then through each gate's
    activation: sigma' = s (1 - s), tanh' = 1 - g^2.
    """

    gates, state_size = 4, 2

    def forward(self, p, x, state):
        h_prev, c_prev = state
        a = _affine(p, "ih", x) + _affine(p, "hh", h_prev)
        ai, af, ag, ao = np.split(a, 4, axis=1)
        i, f, g, o = sigmoid(ai), sigmoid(af), np.tanh(ag), sigmoid(ao)
        c = f * c_prev + i * g
        tc = np.tanh(c)
        h = o * tc
        return (h, c), (x, h_prev, c_prev, i, f, g, o, tc)

    def backward(self, p, dstate, cache, grads):
        dh, dc_next = dstate
        x, h_prev, c_prev, i, f, g, o, tc = cache
        do = dh * tc
        dc = dc_next + dh * o * (1.0 - tc * tc)
        di, df, dg = dc * g, dc * c_prev, dc * i
        da = np.concatenate(
            [di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1
        )
        dx, dh_prev = _accumulate(p, grads, da, da, x, h_prev)
        return dx, (dh_prev, dc * f)


class GRU:
    """With gi = W_ih x_t + b_ih and gh = W_hh h_{t-1} + b_hh split into (r, z, n) blocks:
    r = sigma(gi_r + gh_r), z = sigma(gi_z + gh_z), n = tanh(gi_n + r * gh_n),
    h_t = (1 - z) * n + z * h_{t-1}.

    Backward: dn = dh (1 - z), dz = dh (h_{t-1} - n), direct dh_{t-1} = dh z;
    dan = dn (1 - n^2) reaches gi_n as is and gh_n times r; dr = dan * gh_n.
    """

    gates, state_size = 3, 1

    def forward(self, p, x, state):
        (h_prev,) = state
        gi, gh = _affine(p, "ih", x), _affine(p, "hh", h_prev)
        gi_r, gi_z, gi_n = np.split(gi, 3, axis=1)
        gh_r, gh_z, gh_n = np.split(gh, 3, axis=1)
        r, z = sigmoid(gi_r + gh_r), sigmoid(gi_z + gh_z)
        n = np.tanh(gi_n + r * gh_n)
        h = (1 - z) * n + z * h_prev
        return (h,), (x, h_prev, r, z, n, gh_n)

    def backward(self, p, dstate, cache, grads):
        (dh,) = dstate
        x, h_prev, r, z, n, gh_n = cache
        dn, dz = dh * (1 - z), dh * (h_prev - n)
        dan = dn * (1 - n * n)
        dar, daz = dan * gh_n * r * (1 - r), dz * z * (1 - z)
        da_ih = np.concatenate([dar, daz, dan], axis=1)
        da_hh = np.concatenate([dar, daz, dan * r], axis=1)
        dx, dh_prev = _accumulate(p, grads, da_ih, da_hh, x, h_prev)
        return dx, (dh_prev + dh * z,)


def make(name: str):
    """The NumPy twin of the cell rnnlab calls ``name`` (see :data:`rnnlab.cells.CELLS`)."""
    check_choice("cell", name, CELLS)
    torch_cell, options = CELLS[name]
    twins = {RNNCell: RNN, LSTMCell: LSTM, GRUCell: GRU}
    return twins[torch_cell](**options)
