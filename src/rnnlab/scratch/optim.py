"""Gradient-norm clipping and the SGD, Adagrad and Adam updates, on dicts of NumPy arrays.

The formulas (and defaults) are torch.optim's, so the tests can hold them to it:

    clip:     g <- g * min(1, max_norm / (||g||_2 + 1e-6)),  ||g|| over all parameters together
    SGD:      p <- p - lr g
    Adagrad:  s <- s + g^2;  p <- p - lr g / (sqrt(s) + eps)
    Adam:     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
              p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
"""

from __future__ import annotations

import numpy as np


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so that their joint L2 norm is at most ``max_norm``;
    returns the norm before clipping."""
    norm = float(np.sqrt(sum(float((g * g).sum()) for g in grads.values())))
    scale = min(1.0, max_norm / (norm + 1e-6))
    if scale < 1.0:
        for g in grads.values():
            g *= scale
    return norm


class SGD:
    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def step(self, params: dict, grads: dict) -> None:
        for k, g in grads.items():
            params[k] -= self.lr * g


class Adagrad:
    def __init__(self, lr: float = 0.01, eps: float = 1e-10) -> None:
        self.lr, self.eps, self.sums = lr, eps, {}

    def step(self, params: dict, grads: dict) -> None:
        for k, g in grads.items():
            s = self.sums.setdefault(k, np.zeros_like(g))
            s += g * g
            params[k] -= self.lr * g / (np.sqrt(s) + self.eps)


class Adam:
    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.t, self.m, self.v = 0, {}, {}

    def step(self, params: dict, grads: dict) -> None:
        self.t += 1
        for k, g in grads.items():
            m = self.m.setdefault(k, np.zeros_like(g))
            v = self.v.setdefault(k, np.zeros_like(g))
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            m_hat, v_hat = m / (1 - self.b1**self.t), v / (1 - self.b2**self.t)
            params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "adam": Adam}
