"""The ``rnnlab forecast`` commands: ``train`` a forecaster on a CSV file or a built-in series,
``predict`` the next H steps with intervals (a table, a CSV file, a plot), and ``evaluate`` one
on the test part of a series against the baselines. Parse, call
:mod:`rnnlab.tasks.forecast.training` and :class:`rnnlab.Forecaster`, print; errors are
ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

from rnnlab.checkpoint import atomic_write
from rnnlab.cli.options import add_train_action, given, out_file, positive_int, random_seed
from rnnlab.outputs import output_file
from rnnlab.plots import forecast_plot
from rnnlab.tasks.forecast import (
    Forecaster,
    ForecastSettings,
    ForecastTrainer,
    backtest,
    plan,
)
from rnnlab.tasks.forecast.series import DATASETS, load_dataset, read_csv
from rnnlab.tasks.forecast.windows import SeriesSplit, gather

COMMAND = "forecast"
FORECAST_CSV = "forecast.csv"


def _add_source_options(parser, required: bool) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--csv", metavar="FILE", help="a CSV file: a header row, one row per step")
    source.add_argument(
        "--dataset", choices=list(DATASETS), help="a series that statsmodels ships (no file)"
    )


def add_commands(commands) -> None:
    """Add ``forecast`` to the ``rnnlab`` subcommands."""

    command = commands.add_parser(
        COMMAND,
        help="time-series forecasting: train, predict, evaluate",
        description="Forecast the next H steps of one or more numeric series, with intervals, "
        "and compare with naive, seasonal naive, ETS and ARIMA forecasts.",
    )
    which = command.add_subparsers(dest="forecast", metavar="ACTION", required=True)

    train = add_train_action(
        which,
        ForecastSettings,
        help="train a forecaster on a CSV file or a built-in series",
        description="Train a forecaster. The rows are split in time: the first for training, "
        "then --val-fraction for validation (the checkpoint is the epoch that forecasts it "
        "best), then the last --test-fraction, scored at the end against the baselines. "
        "Scaling is fitted on the training rows only. Missing values are interpolated within "
        "each part (see --missing); infinity and non-numeric cells are refused.",
    )
    _add_source_options(train, required=True)
    train.add_argument(
        "--target", nargs="+", metavar="COL", help="the column(s) to forecast (each a series)"
    )
    train.add_argument(
        "--time", metavar="COL", help="the time column (default: detected by name or dates)"
    )
    train.add_argument(
        "--covariates", nargs="+", metavar="COL", help="other numeric columns to read (direct)"
    )
    train.add_argument(
        "--plot", type=out_file, metavar="FILE", help="write a PNG of the forecasts here"
    )
    train.set_defaults(run=_run_train)

    predict = which.add_parser(
        "predict",
        help="forecast the steps after a series",
        description="Forecast the next H steps after the last row of the series (by default "
        "the one the model was trained on), with intervals: print them and write them as CSV.",
    )
    predict.add_argument("checkpoint", metavar="DIR")
    _add_source_options(predict, required=False)
    predict.add_argument(
        "--output",
        type=out_file,
        metavar="FILE",
        help=f"the CSV file to write (DIR/{FORECAST_CSV})",
    )
    predict.add_argument(
        "--plot",
        type=out_file,
        metavar="FILE",
        help="write a PNG: history, forecasts on the test part with the actual values, and the "
        "forecast with its interval",
    )
    predict.add_argument("--samples", type=positive_int, default=200, help="autoregressive (200)")
    predict.add_argument("--seed", type=random_seed, default=0, help="of the sample paths (0)")
    predict.set_defaults(run=_run_predict)

    evaluate = which.add_parser(
        "evaluate",
        help="score a forecaster and the baselines on the test part of a series",
        description="Split the series as in training and score the model's forecasts from "
        "every origin in the test part, next to the naive, seasonal naive, ETS and ARIMA "
        "forecasts (MAE, RMSE, MASE, sMAPE, interval coverage).",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    _add_source_options(evaluate, required=False)
    evaluate.add_argument("--samples", type=positive_int, default=200, help="autoregressive (200)")
    evaluate.set_defaults(run=_run_evaluate)


def _read(args, targets=None, time=None, covariates=(), missing="interpolate"):
    """The series named by --csv or --dataset."""

    if args.dataset is not None:
        column = DATASETS[args.dataset]["target"]
        if targets and targets != [column]:
            raise ValueError(
                f"--dataset {args.dataset} holds the series {column!r}, not {', '.join(targets)}"
            )
        if covariates:
            raise ValueError(f"--dataset {args.dataset} has no covariates")
        return load_dataset(args.dataset, missing)
    if not targets:
        raise ValueError("--csv needs --target COLUMN")
    return read_csv(args.csv, targets, time, covariates or (), missing)


def _run_train(args: argparse.Namespace) -> int:

    asked = given(args, ForecastSettings)
    dataset = getattr(args, "dataset", None)
    args.dataset, args.csv = dataset, getattr(args, "csv", None)
    if dataset and "horizon" not in asked:
        asked["horizon"] = DATASETS[dataset]["horizon"]
    settings = ForecastSettings(**asked)
    series = _read(
        args,
        getattr(args, "target", None),
        getattr(args, "time", None),
        getattr(args, "covariates", ()),
        settings.missing,
    )
    settings, split = plan(series, settings)
    parts = ", ".join(f"{stop - start} {part}" for part, (start, stop) in _parts(split))
    gaps = series.gaps
    print(
        f"{series.source}: {len(series):,} rows ({parts})"
        + (f"; {series.trimmed} leading rows with gaps dropped" if series.trimmed else "")
        + (f"; {gaps} missing values interpolated" if gaps else ""),
        flush=True,
    )
    season = f"season {settings.season}" if settings.season else "no season found"
    trainer = ForecastTrainer(split, settings, args.out, progress=_tty(), sources=[series.source])
    print(
        f"window {settings.window}, horizon {settings.horizon}, {season}; {settings.mode} "
        f"{settings.distribution} {settings.cell}, {trainer.setup_line()}",
        flush=True,
    )
    result = trainer.fit()
    if result.report is not None:
        print(result.report.format_table())
    if getattr(args, "plot", None) and trainer.main:  # with torchrun, rank 0 draws it
        future = trainer.model.predict(split.series, settings.samples, settings.seed)
        shown = _plot(trainer.model, split.series, split.val_end, args.plot, future, settings.seed)
        print(f"plot: {shown}")
    checked = "validation" if len(trainer.validation) else "training"
    print(
        result.summary(
            f"; kept the epoch with the best {checked} MASE, {trainer.best:.3f}", args.out
        )
    )
    return 0


def _tty() -> bool:
    return sys.stderr.isatty()


def _parts(split):
    return [(part, split.bounds(part)) for part in ("train", "validation", "test")]


def _history(args, model):
    """The series --csv or --dataset names, else the one the model was trained on."""
    config = model.checkpoint_config
    missing = config.get("training", {}).get("missing", "interpolate")
    if args.csv is None and args.dataset is None:
        sources = config.get("data", {}).get("sources", [])
        source = sources[0] if sources else None
        if source in DATASETS:
            args.dataset = source
        elif source and Path(source).is_file():
            args.csv = source
        else:
            raise ValueError(f"the training series {source!r} is not at hand; give --csv FILE")
    series = _read(args, model.targets, model.time, model.covariates, missing)
    return series, config.get("training", {})


def _run_predict(args: argparse.Namespace) -> int:

    model = Forecaster.from_pretrained(args.checkpoint)
    series, training = _history(args, model)
    forecast = model.predict(series, args.samples, args.seed)
    rows = forecast.rows()
    level = f"{forecast.level:.0%}"
    print(f"{'time':<22} {'target':<14} {'forecast':>12} {level + ' interval':>26}")
    for row in rows:
        print(
            f"{row['time']:<22} {row['target']:<14} {row['forecast']:>12.5g} "
            f"[{row['lower']:>11.5g}, {row['upper']:>11.5g}]"
        )
    output = args.output or output_file(Path(args.checkpoint) / FORECAST_CSV)  # given: checked
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(output, buffer.getvalue().encode())
    print(f"written: {output}")
    if args.plot:
        n = len(series)
        start = n - round(n * training.get("test_fraction", 0.2))
        shown = _plot(model, series.repaired((start,)), start, args.plot, forecast, args.seed)
        print(f"plot: {shown}")
    return 0


def _plot(model, series, test_start: int, path: str, future, seed: int = 0) -> Path:
    """The history, forecasts from every H-th origin of the test part, and ``future`` (the
    :class:`~rnnlab.tasks.forecast.model.Forecast` of the next H steps)."""

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
    title = f"{Path(series.source).name}: {model.mode} {model.settings['cell']} forecasts"
    return forecast_plot(path, panels, title=title, level=model.interval)


def _run_evaluate(args: argparse.Namespace) -> int:

    model = Forecaster.from_pretrained(args.checkpoint)
    series, training = _history(args, model)
    split = SeriesSplit.of(
        series,
        model.window,
        model.horizon,
        training.get("val_fraction", 0.1),
        training.get("test_fraction", 0.2),
    )
    if not len(split.origins("test")):
        raise ValueError("the series has no test part to score (its test fraction is 0)")
    print(backtest(model, split, args.samples).format_table())
    return 0
