"""Time-series forecasting: numeric series split in time, a recurrent forecaster (direct or
autoregressive, with intervals), a rolling backtest against classical baselines."""

from rnnlab.tasks.forecast.backtest import BacktestReport, backtest
from rnnlab.tasks.forecast.model import Forecast, Forecaster
from rnnlab.tasks.forecast.predict import (
    evaluate_forecaster,
    model_series,
    plot_forecasts,
    read_series,
    test_part_start,
    write_forecast_csv,
)
from rnnlab.tasks.forecast.training import FORECAST, ForecastSettings, ForecastTrainer, plan

__all__ = [
    "FORECAST",
    "BacktestReport",
    "Forecast",
    "ForecastSettings",
    "ForecastTrainer",
    "Forecaster",
    "backtest",
    "evaluate_forecaster",
    "model_series",
    "plan",
    "plot_forecasts",
    "read_series",
    "test_part_start",
    "write_forecast_csv",
]
