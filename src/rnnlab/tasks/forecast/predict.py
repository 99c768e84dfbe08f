"""Using a forecaster: the series it reads, its forecast as a table, its backtest as plot panels,
and its scores against the baselines; what ``rnnlab forecast predict``, ``evaluate`` and
``train --plot`` call.

A series is named by options (:data:`SERIES_OPTIONS`): ``csv`` (a file; ``target`` columns,
optionally ``time`` and ``covariates``) or ``dataset`` (one that statsmodels ships). A
checkpoint's own series is the one its config records, when it is at hand.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from rnnlab.checkpoint import atomic_write
from rnnlab.plots import forecast_plot
from rnnlab.tasks.forecast.backtest import BacktestReport, backtest
from rnnlab.tasks.forecast.model import Forecast, Forecaster
from rnnlab.tasks.forecast.series import DATASETS, Series, load_dataset, read_csv
from rnnlab.tasks.forecast.windows import SeriesSplit, gather

#: the options that say which series to read and how
SERIES_OPTIONS = ("csv", "dataset", "target", "time", "covariates")


def read_series(options: dict, missing: str = "interpolate") -> Series:
    """The series ``options`` (:data:`SERIES_OPTIONS`) name."""
    targets, covariates = options.get("target"), options.get("covariates") or ()
    dataset = options.get("dataset")
    if dataset is not None:
        column = DATASETS[dataset]["target"] if dataset in DATASETS else None
        if targets and targets != [column]:
            raise ValueError(
                f"--dataset {dataset} holds the series {column!r}, not {', '.join(targets)}"
            )
        if covariates:
            raise ValueError(f"--dataset {dataset} has no covariates")
        return load_dataset(dataset, missing)
    if options.get("csv") is None:
        raise ValueError("no series given: --csv FILE --target COLUMN, or --dataset NAME")
    if not targets:
        raise ValueError("--csv needs --target COLUMN")
    return read_csv(options["csv"], targets, options.get("time"), covariates, missing)


def model_series(model: Forecaster, options: dict) -> Series:
    """The series ``options`` name, read as ``model`` was trained (its targets, time and
    covariates); without ``csv`` or ``dataset``, the series it was trained on."""
    config = model.checkpoint_config
    missing = config.get("training", {}).get("missing", "interpolate")
    options = {k: v for k, v in options.items() if v is not None}
    if "csv" not in options and "dataset" not in options:
        sources = config.get("data", {}).get("sources", [])
        source = sources[0] if sources else None
        if source in DATASETS:
            options["dataset"] = source
        elif source and Path(source).is_file():
            options["csv"] = source
        else:
            raise ValueError(f"the training series {source!r} is not at hand; give --csv FILE")
    options |= {"target": model.targets, "time": model.time, "covariates": model.covariates}
    return read_series(options, missing)


def write_forecast_csv(path: str | Path, forecast: Forecast) -> None:
    """``forecast``'s rows (time, target, forecast, lower, upper) as a CSV file, atomically."""
    rows = forecast.rows()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buffer.getvalue().encode())


def backtest_panels(
    model: Forecaster, series: Series, test_start: int, future: Forecast, seed: int = 0
) -> list[dict]:
    """Per target, what :func:`~rnnlab.plots.forecast_plot` draws: the history (as much as
    the test part), forecasts from every H-th origin of the test part (which starts at row
    ``test_start``) and ``future``, the forecast of the steps after the series."""
    times, h = series.times(), model.horizon
    origins = np.arange(max(test_start, model.window), len(series) - h + 1, h)
    point, lower, upper = model.forecast(
        gather(series, model.scaling, origins, model.window, h), seed=seed
    )
    panels = []
    for j, name in enumerate(model.targets):
        mine = slice(j * len(origins), (j + 1) * len(origins))
        backtests = [
            (times[o : o + h], p, lo, up)
            for o, p, lo, up in zip(origins, point[mine], lower[mine], upper[mine], strict=True)
        ]
        shown = max(0, 2 * test_start - len(series))  # as much history as test part
        panels.append(
            {
                "name": name,
                "times": times[shown:],
                "actual": series.values[shown:, j],
                "test_start": times[test_start] if test_start < len(series) else None,
                "backtests": backtests,
                "future": (future.times, future.point[j], future.lower[j], future.upper[j]),
            }
        )
    return panels


def plot_forecasts(
    path: str | Path,
    model: Forecaster,
    series: Series,
    test_start: int,
    future: Forecast,
    seed: int = 0,
) -> Path:
    """The PNG of :func:`backtest_panels` at ``path``; the path written."""
    panels = backtest_panels(model, series, test_start, future, seed)
    title = f"{Path(series.source).name}: {model.mode} {model.settings['cell']} forecasts"
    return forecast_plot(path, panels, title=title, level=model.interval)


def test_part_start(model: Forecaster, series: Series) -> int:
    """The first row of ``series``' test part, by the fraction ``model`` was trained with."""
    fraction = model.checkpoint_config.get("training", {}).get("test_fraction", 0.2)
    return len(series) - round(len(series) * fraction)


def evaluate_forecaster(model: Forecaster, series: Series, samples: int) -> BacktestReport:
    """``model``'s backtest on the test part of ``series``, split as in training, next to the
    baselines."""
    training = model.checkpoint_config.get("training", {})
    split = SeriesSplit.of(
        series,
        model.window,
        model.horizon,
        training.get("val_fraction", 0.1),
        training.get("test_fraction", 0.2),
    )
    if not len(split.origins("test")):
        raise ValueError("the series has no test part to score (its test fraction is 0)")
    return backtest(model, split, samples)
