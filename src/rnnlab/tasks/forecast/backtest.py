"""Scoring forecasts on the test part against baselines, origin by origin (a rolling backtest).

Every test origin o (see :mod:`rnnlab.tasks.forecast.windows`) is forecast H steps ahead from
the rows before it, by the model and by the four baselines of
:mod:`rnnlab.tasks.forecast.baselines` (naive, seasonal naive, ETS and ARIMA, the last two fitted
on the rows before the test part). Each forecaster is scored over
every (origin, step) whose actual value was observed (not filled in):

    MAE = mean |e|,  RMSE = √mean e²,  sMAPE = 200 mean |e| / (|y| + |ŷ|)  (0 where both are 0),
    MASE = MAE / mean_t |y_t - y_{t-m}| over the training part   (m = 1 without a season, or
           when that mean is 0: a training part that repeats its season exactly)

with e = ŷ - y. The model's row adds ``coverage``, the fraction of actual values inside its
intervals, and for a calibrated model (:mod:`~rnnlab.tasks.forecast.conformal`) the
``uncalibrated coverage`` of the network's own intervals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from rnnlab.tasks.forecast.baselines import arima, ets, naive, seasonal_naive
from rnnlab.tasks.forecast.windows import gather, truth

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
                if "uncalibrated coverage" in s:
                    cover += f" ({s['uncalibrated coverage']:.1%} before calibration)"
                lines.append(
                    f"  {method:<15} {s['mae']:>10.4g} {s['rmse']:>10.4g} {s['mase']:>7.3f} "
                    f"{s['smape']:>6.2f}%  {cover}"
                )
        return "\n".join(lines + self.notes)


def backtest(model, split, samples: int = 200, seed: int = 0) -> BacktestReport:
    """Score ``model`` (a :class:`~rnnlab.Forecaster`, which scales its inputs with its own
    statistics) and the baselines on the test part of ``split`` (a
    :class:`~rnnlab.tasks.forecast.windows.SeriesSplit` with the model's window and horizon)."""
    season, horizon = model.season, split.horizon
    origins = split.origins("test")
    windows = gather(split.series, model.scaling, origins, model.window, horizon)
    point, *network = model.forecast(windows, samples, seed, calibrated=False)
    bounds = {"coverage": model.calibrated(*network, windows)}
    if model.calibration is not None:
        bounds["uncalibrated coverage"] = network
    everything, seen = truth(split.series, windows, horizon)
    report = BacktestReport(horizon, season, len(origins), model.interval)
    for j, target in enumerate(split.series.targets):
        values = split.series.values[:, j]
        mine = windows.series == j
        actual, observed = everything[mine], seen[mine]
        scale = mase_scale(values[: split.train_end], season)
        table = {"model": {**scores(actual, point[mine], observed, scale)}}
        for name, (lower, upper) in bounds.items():
            inside = (lower[mine] <= actual) & (actual <= upper[mine])
            table["model"][name] = float(inside[observed].mean())
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
