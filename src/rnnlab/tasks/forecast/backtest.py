"""Scoring forecasts on the test part against baselines, origin by origin (a rolling backtest).

Every test origin o (see :mod:`rnnlab.tasks.forecast.windows`) is forecast H steps ahead from
the rows before it, by the model and by four baselines:

    naive:           ŷ_{o+h} = y_{o-1}
    seasonal naive:  ŷ_{o+h} = y_{o+h-m(⌊h/m⌋+1)}              (season length m)
    ets:             Holt-Winters exponential smoothing (statsmodels): additive damped trend,
                     additive season m
    arima:           ARIMA(p, d, q) (statsmodels), the order chosen by AIC

The statistical models are fitted once on the rows before the test part (train and validation),
then run, with those parameters, over the rows up to each origin. Each forecaster is scored over
every (origin, step) whose actual value was observed (not filled in):

    MAE = mean |e|,  RMSE = √mean e²,  sMAPE = 200 mean |e| / (|y| + |ŷ|)  (0 where both are 0),
    MASE = MAE / mean_t |y_t - y_{t-m}| over the training part   (m = 1 without a season, or
           when that mean is 0: a training part that repeats its season exactly)

with e = ŷ - y. The model's row adds ``coverage``, the fraction of actual values inside its
intervals.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

METHODS = ("model", "naive", "seasonal naive", "ets", "arima")
METRICS = ("mae", "rmse", "mase", "smape")


def mase_scale(train: np.ndarray, season: int | None) -> float:
    """The in-sample MAE of the (seasonal) naive forecast one season ahead on ``train``; the
    one-step naive MAE when the training part repeats its season exactly (a scale of 0)."""
    for m in (season or 1, 1):
        scale = float(np.abs(train[m:] - train[:-m]).mean())
        if scale > 1e-9 * max(1.0, float(np.abs(train).max())):
            break
    return scale


def scores(actual, forecast, observed, scale: float) -> dict[str, float]:
    """MAE, RMSE, MASE and sMAPE of ``forecast`` against ``actual`` where ``observed``."""
    a, f = actual[observed], forecast[observed]
    error = f - a
    total = np.abs(a) + np.abs(f)
    ratio = np.divide(np.abs(error), total, out=np.zeros_like(total), where=total > 0)
    mae = float(np.abs(error).mean())
    return {
        "mae": mae,
        "rmse": float(np.sqrt((error**2).mean())),
        "mase": mae / scale,
        "smape": float(200 * ratio.mean()),
    }


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


@dataclass
class BacktestReport:
    """Per target, per method (:data:`METHODS`), the scores on the test part."""

    horizon: int
    season: int | None
    origins: int
    level: float
    scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def mase(self, method: str = "model") -> float:
        """The mean MASE of ``method`` over the targets."""
        return float(np.mean([rows[method]["mase"] for rows in self.scores.values()]))

    def format_table(self) -> str:
        lines = []
        for target, rows in self.scores.items():
            lines.append(
                f"{target}: {self.origins} forecasts of {self.horizon} steps on the test part"
            )
            lines.append(
                f"  {'method':<15} {'MAE':>10} {'RMSE':>10} {'MASE':>7} {'sMAPE':>7}  coverage"
            )
            for method, s in rows.items():
                cover = f"{s['coverage']:.1%} of {self.level:.0%}" if "coverage" in s else ""
                lines.append(
                    f"  {method:<15} {s['mae']:>10.4g} {s['rmse']:>10.4g} {s['mase']:>7.3f} "
                    f"{s['smape']:>6.2f}%  {cover}"
                )
        return "\n".join(lines + self.notes)


def backtest(model, split, samples: int = 200, seed: int = 0) -> BacktestReport:
    """Score ``model`` (a :class:`~rnnlab.Forecaster`, which scales its inputs with its own
    statistics) and the baselines on the test part of ``split`` (a
    :class:`~rnnlab.tasks.forecast.windows.SeriesSplit` with the model's window and horizon)."""
    from rnnlab.tasks.forecast.windows import gather

    season, horizon = model.season, split.horizon
    origins = split.origins("test")
    windows = gather(split.series, model.scaling, origins, model.window, horizon)
    point, lower, upper = model.forecast(windows, samples, seed)
    n = len(origins)
    report = BacktestReport(horizon, season, n, model.interval)
    rows = origins[:, None] + np.arange(horizon)
    for j, target in enumerate(split.series.targets):
        values = split.series.values[:, j]
        actual, observed = values[rows], split.series.observed[rows, j]
        scale = mase_scale(values[: split.train_end], season)
        mine = slice(j * n, (j + 1) * n)
        inside = (lower[mine] <= actual) & (actual <= upper[mine])
        table = {"model": {**scores(actual, point[mine], observed, scale)}}
        table["model"]["coverage"] = float(inside[observed].mean())
        table["naive"] = scores(actual, naive(values, origins, horizon), observed, scale)
        if season:
            guess = seasonal_naive(values, origins, horizon, season)
            table["seasonal naive"] = scores(actual, guess, observed, scale)
        try:
            guess = ets(values, split.val_end, origins, horizon, season)
            table["ets"] = scores(actual, guess, observed, scale)
        except (ValueError, np.linalg.LinAlgError) as error:
            report.notes.append(f"{target}: the ETS model could not be fitted ({error})")
        try:
            guess, order = arima(values, split.val_end, origins, horizon)
            table["arima"] = scores(actual, guess, observed, scale)
            report.notes.append(f"{target}: ARIMA{order} (lowest AIC before the test part)")
        except ValueError as error:
            report.notes.append(f"{target}: {error}")
        report.scores[target] = table
    if not season:
        report.notes.append("no season found or given: no seasonal naive baseline")
    return report
