"""The output layer: scores, softmax and cross-entropy, forward and backward.

    y_t = h_t W_hy^T + b_y,    p_t = softmax(y_t),    L = -(1/N) sum_t log p_t[target_t]
    dL/dy_t = (p_t - onehot(target_t)) / N,   dW_hy = sum_t dy_t^T h_t,   dh_t = dy_t W_hy

Negative targets (padding past the end of a text) count for nothing: N counts the others.
"""

from __future__ import annotations

import numpy as np


def softmax(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_cross_entropy(y: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of scores y (..., V) against integer targets (...), and dL/dy.

    log p is computed as y - max(y) - log sum exp(y - max(y)), finite wherever y is; scores
    that are already infinite give a non-finite loss quietly, for the trainer to refuse."""
    with np.errstate(over="ignore", invalid="ignore"):
        shifted = y - y.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    p = np.exp(log_p)
    flat_p, flat_t = p.reshape(-1, p.shape[-1]), targets.reshape(-1)
    flat_log_p = log_p.reshape(flat_p.shape)
    rows = np.flatnonzero(flat_t >= 0)
    n = max(1, rows.size)
    loss = -flat_log_p[rows, flat_t[rows]].sum() / n
    dy = np.zeros_like(flat_p)
    dy[rows] = flat_p[rows]
    dy[rows, flat_t[rows]] -= 1.0
    return float(loss), (dy / n).reshape(p.shape)


def linear_forward(p: dict, h: np.ndarray) -> np.ndarray:
    """y = h W^T + b for h (..., H)."""
    return h @ p["weight"].T + p["bias"]


def linear_backward(p: dict, h: np.ndarray, dy: np.ndarray, grads: dict) -> np.ndarray:
    """Adds dW = dy^T h and db = sum dy into grads; returns dh = dy W."""
    flat_h, flat_dy = h.reshape(-1, h.shape[-1]), dy.reshape(-1, dy.shape[-1])
    grads["weight"] += flat_dy.T @ flat_h
    grads["bias"] += flat_dy.sum(0)
    return dy @ p["weight"]
