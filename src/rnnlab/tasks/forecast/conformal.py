"""Calibrating a forecaster's intervals on the validation part: split conformal prediction.

A network's interval [l, u] at level L says what it learned on the training windows, where it
fits best; on new data it holds less than L (57.9% of a 90% interval on the airline
passengers). Conformalized quantile regression (Romano, Patterson and Candès 2019) corrects it
with the n forecasts of windows the network never trained on, the validation part's, scaled
locally (Lei et al. 2018) by each window's own spread d (the standard deviation of the values
it reads, at least s_j / 10), so that a series whose swings grow widens its intervals with them:

    e_i = max(l_i - y_i, y_i - u_i) / d_i         for every validation (origin, step) i
    q   = max(0, the ⌈(n + 1) L⌉-th smallest e_i)  (one q per target series)
    calibrated interval: [l - q d, u + q d]

If the validation values are exchangeable with the future ones, the calibrated interval holds
at least L of them. It only ever widens: an interval that held more than L of the validation
values is kept as the network made it, because a validation part calmer than what follows
(the sunspots' last cycles, the strongest on record) would otherwise narrow it further. With
fewer than L / (1 - L) scores (9 for 90%) the rank exceeds n, and the largest score stands in.
"""

from __future__ import annotations

import math

import numpy as np


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ⌈(n + 1) level⌉-th smallest of the n ``scores`` (the largest when n is too small)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    if not len(ordered):
        raise ValueError("no validation forecasts to calibrate the intervals on")
    rank = min(len(ordered), math.ceil((len(ordered) + 1) * level))
    return float(ordered[rank - 1])


def widen(lower, upper, q, deviation) -> tuple[np.ndarray, np.ndarray]:
    """(n, H) bounds moved out by q d (``q`` and ``deviation`` (n,), one per forecast)."""
    move = (np.asarray(q) * deviation)[:, None]
    return lower - move, upper + move


def calibrate_intervals(lower, upper, actual, observed, deviation, series, level) -> list[float]:
    """q of each target series (index ``series`` (n,) of each forecast), from the bounds
    (n, H) of forecasts of windows the model did not train on, the ``actual`` values (n, H)
    where ``observed``, and each window's ``deviation`` (n,); see the module docstring."""
    scores = np.maximum(lower - actual, actual - upper) / deviation[:, None]
    return [
        max(0.0, conformal_quantile(scores[series == j][observed[series == j]], level))
        for j in range(int(series.max()) + 1)
    ]
