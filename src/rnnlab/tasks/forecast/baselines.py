"""The forecasts a forecaster must beat, from the values before each origin o, H steps ahead:

    naive:           ŷ_{o+h} = y_{o-1}
    seasonal naive:  ŷ_{o+h} = y_{o+h-m(⌊h/m⌋+1)}              (season length m)
    ets:             Holt-Winters exponential smoothing (statsmodels): additive damped trend,
                     additive season m
    arima:           ARIMA(p, d, q) (statsmodels), the order chosen by AIC

The statistical models are fitted once on the rows before ``fit_end`` (train and validation),
then run, with those parameters, over the rows up to each origin.
"""

from __future__ import annotations

import warnings

import numpy as np


def naive(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(n, H): the last value before each origin, repeated."""
    return np.repeat(values[origins - 1][:, None], horizon, 1)


def seasonal_naive(values: np.ndarray, origins: np.ndarray, horizon: int, season: int):
    """(n, H): the value one season (or as many as needed) before each step ahead."""
    h = np.arange(horizon)
    return values[origins[:, None] + h - season * (h // season + 1)]


def ets(values: np.ndarray, fit_end: int, origins: np.ndarray, horizon: int, season):
    """(n, H): Holt-Winters forecasts from each origin, parameters fitted on values[:fit_end]."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = "add" if season and fit_end >= 2 * season + 2 else None
    spec = {
        "trend": "add",
        "damped_trend": True,
        "seasonal": seasonal,
        "seasonal_periods": season if seasonal else None,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        fitted = ExponentialSmoothing(
            values[:fit_end], initialization_method="estimated", **spec
        ).fit()
        p = fitted.params
        known = {
            "initial_level": p["initial_level"],
            "initial_trend": p["initial_trend"],
            "initial_seasonal": p["initial_seasons"] if seasonal else None,
        }
        smoothing = {
            "smoothing_level": p["smoothing_level"],
            "smoothing_trend": p["smoothing_trend"],
            "damping_trend": p["damping_trend"],
        }
        if seasonal:
            smoothing["smoothing_seasonal"] = p["smoothing_seasonal"]
        rows = []
        for o in origins:
            model = ExponentialSmoothing(values[:o], initialization_method="known", **known, **spec)
            rows.append(model.fit(optimized=False, **smoothing).forecast(horizon))
    return np.asarray(rows)


def arima(values: np.ndarray, fit_end: int, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(n, H): ARIMA(p, d, q) forecasts from each origin; the order (p <= 3, d <= 1, q <= 2) with
    the lowest AIC and its parameters are fitted on values[:fit_end], then the state-space filter
    is run up to each origin with those parameters."""
    import itertools

    from statsmodels.tsa.arima.model import ARIMA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and start-parameter warnings of the grid
        best = None
        for p, d, q in itertools.product(range(4), range(2), range(3)):
            try:
                trend = "c" if d == 0 else "t"
                fitted = ARIMA(values[:fit_end], order=(p, d, q), trend=trend).fit()
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(fitted.aic) and (best is None or fitted.aic < best.aic):
                best = fitted
        if best is None:
            raise ValueError("no ARIMA order could be fitted")
        rows = [best.apply(values[:o]).forecast(horizon) for o in origins]
    return np.asarray(rows), best.model.order
