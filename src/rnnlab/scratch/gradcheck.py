"""Gradient checking: analytic gradients against centred finite differences.

    dL/dp_i ~ (L(p + e_i eps) - L(p - e_i eps)) / (2 eps)          (error O(eps^2))
    relative error = |analytic - numeric| / max(|analytic| + |numeric|, floor)

Run in float64; a correct backward pass gives errors around 1e-7 or below. The floor keeps a
gradient that is zero (up to rounding) from counting as a 100% error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numeric_gradient(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-5):
    """The finite-difference gradient of ``loss()`` with respect to ``array`` (changed in
    place and restored)."""
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = loss()
        flat[i] = saved - eps
        minus = loss()
        flat[i] = saved
        flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def max_relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-6) -> float:
    denominator = np.maximum(np.abs(analytic) + np.abs(numeric), floor)
    return float((np.abs(analytic - numeric) / denominator).max())


def check(
    loss: Callable[[], float], arrays: dict[str, np.ndarray], analytic: dict[str, np.ndarray]
) -> dict[str, float]:
    """Max relative error for each named array between ``analytic`` and finite differences."""
    return {
        name: max_relative_error(analytic[name], numeric_gradient(loss, array))
        for name, array in arrays.items()
    }
