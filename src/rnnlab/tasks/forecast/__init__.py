"""Time-series forecasting: numeric series split in time, a recurrent forecaster (direct or
autoregressive, with intervals), a rolling backtest against classical baselines."""

from rnnlab.tasks.forecast.backtest import BacktestReport, backtest
from rnnlab.tasks.forecast.model import Forecast, Forecaster
from rnnlab.tasks.forecast.training import ForecastSettings, ForecastTrainer, plan

__all__ = [
    "BacktestReport",
    "Forecast",
    "ForecastSettings",
    "ForecastTrainer",
    "Forecaster",
    "backtest",
    "plan",
]
