# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # 12. Forecasting: a series in, the next steps out, with intervals
#
# A time series is a sequence like any other, read one step at a time. The forecaster reads a
# **window** of the last W values and outputs the next H at once (the "direct" strategy), each
# as a mean and a spread, so that every forecast comes with an **interval**: where the value
# should fall with 90% probability.
#
# The series is the weekly CO2 concentration measured at Mauna Loa from 1958 (shipped with
# statsmodels, so nothing is downloaded): a rising trend with a yearly cycle. The rows are split
# in time, never shuffled: training, then 10% validation, then the last 20% as the test part,
# which the model never sees while it trains.

# %%
import os
import shutil

import matplotlib.pyplot as plt
import numpy as np

from rnnlab import Forecaster
from rnnlab.tasks.forecast import ForecastSettings, ForecastTrainer, plan
from rnnlab.tasks.forecast.series import load_dataset

QUICK = os.environ.get("RNNLAB_QUICK") == "1"  # the test suite's small setting

series = load_dataset("co2")
print(f"{len(series)} weeks, {series.time[0]} to {series.time[-1]}")
settings, split = plan(series, ForecastSettings(horizon=52, epochs=3 if QUICK else None))
print(f"season {settings.season} weeks; window {settings.window}; horizon {settings.horizon}")

shutil.rmtree("runs/co2", ignore_errors=True)
result = ForecastTrainer(split, settings, out="runs/co2", progress=False).fit()

# %% [markdown]
# At the end the model forecast the test part from every origin and was scored against simple
# methods a forecaster must beat: the last value (naive), the value one season ago (seasonal
# naive), Holt-Winters exponential smoothing (ETS) and ARIMA. MASE divides the error by that
# of the naive forecast on the training part: below 1 is better than it.

# %%
report = result.report
print(report.format_table())

# %% [markdown]
# A network's own intervals tend to be too sure of themselves on data it did not train on, so
# at the end of training they are checked on the validation part and, where they hold less than
# 90% of its forecasts, widened until they do (split conformal prediction; never narrowed).
# The coverage column is measured on the test part, after that calibration, with the network's
# own in brackets: compare it with the 90% asked for. A calibration holds only as far as the
# test years behave like the validation years before them.
#
# The forecast of the 52 weeks after the end of the data:

# %%
model = Forecaster.from_pretrained("runs/co2")
forecast = model.predict(series)
history = slice(len(series) - 260, len(series))
plt.figure(figsize=(7, 3))
plt.plot(series.time[history], series.values[history, 0], label="measured")
plt.plot(forecast.times, forecast.point[0], label="forecast")
plt.fill_between(
    forecast.times,
    forecast.lower[0],
    forecast.upper[0],
    alpha=0.3,
    label=f"{forecast.level:.0%} interval",
)
plt.ylabel("CO2 (ppm)")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise
#
# Train with `mode="autoregressive"` (one step predicted and fed back H times, as in lesson 6)
# and compare the MASE. The check: the network forecasts the test part better than the
# seasonal naive forecast, and every interval holds its point forecast.

# %%
scores = report.scores["co2"]
print(
    f"MASE: model {scores['model']['mase']:.3f}, seasonal naive "
    f"{scores['seasonal naive']['mase']:.3f}"
)
assert scores["model"]["mase"] < scores["seasonal naive"]["mase"]
assert np.all(forecast.lower <= forecast.point) and np.all(forecast.point <= forecast.upper)
