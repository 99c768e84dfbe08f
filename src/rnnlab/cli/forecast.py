"""The ``rnnlab forecast`` commands: ``train`` a forecaster on a CSV file or a built-in series,
``predict`` the next H steps with intervals (a table, a CSV file, a plot), and ``evaluate`` one
on the test part of a series against the baselines. Parse, call :mod:`rnnlab.tasks.forecast`,
print; errors are ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnlab.cli.options import add_settings, add_train_action, given, out_file, run_train
from rnnlab.outputs import output_file
from rnnlab.tasks.forecast import (
    FORECAST,
    Forecaster,
    ForecastSettings,
    evaluate_forecaster,
    model_series,
    plot_forecasts,
    test_part_start,
    write_forecast_csv,
)
from rnnlab.tasks.forecast.predict import SERIES_OPTIONS
from rnnlab.tasks.forecast.series import DATASETS

COMMAND = "forecast"
FORECAST_CSV = "forecast.csv"
USE = ("samples", "seed")  # the settings predict and evaluate take


def _add_series(parser, columns: bool = False) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--csv", metavar="FILE", help="a CSV file: a header row, one row per step")
    source.add_argument(
        "--dataset", choices=list(DATASETS), help="a series that statsmodels ships (no file)"
    )
    if columns:
        parser.add_argument(
            "--target", nargs="+", metavar="COL", help="the column(s) to forecast (each a series)"
        )
        parser.add_argument(
            "--time", metavar="COL", help="the time column (default: detected by name or dates)"
        )
        parser.add_argument(
            "--covariates", nargs="+", metavar="COL", help="other numeric columns to read (direct)"
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
        FORECAST,
        help="train a forecaster on a CSV file or a built-in series",
        description="Train a forecaster. The rows are split in time: the first for training, "
        "then --val-fraction for validation (the checkpoint is the epoch that forecasts it "
        "best), then the last --test-fraction, scored at the end against the baselines. "
        "Scaling is fitted on the training rows only. Missing values are interpolated within "
        "each part (see --missing); infinity and non-numeric cells are refused.",
    )
    _add_series(train, columns=True)
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
    _add_series(predict)
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
    add_settings(predict, ForecastSettings, only=USE)
    predict.set_defaults(run=_run_predict)

    evaluate = which.add_parser(
        "evaluate",
        help="score a forecaster and the baselines on the test part of a series",
        description="Split the series as in training and score the model's forecasts from "
        "every origin in the test part, next to the naive, seasonal naive, ETS and ARIMA "
        "forecasts (MAE, RMSE, MASE, sMAPE, interval coverage).",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    _add_series(evaluate)
    add_settings(evaluate, ForecastSettings, only=("samples",))
    evaluate.set_defaults(run=_run_evaluate)


def _run_train(args: argparse.Namespace) -> int:
    trainer, status = run_train(args, FORECAST)
    plot = getattr(args, "plot", None)
    if status == 0 and plot and trainer.main:  # with torchrun, rank 0 draws it
        s, split = trainer.settings, trainer.split
        future = trainer.model.predict(split.series, s.samples, s.seed)
        shown = plot_forecasts(plot, trainer.model, split.series, split.val_end, future, s.seed)
        print(f"plot: {shown}")
    return status


def _use(args: argparse.Namespace) -> ForecastSettings:
    return ForecastSettings(**given(args, ForecastSettings))


def _run_predict(args: argparse.Namespace) -> int:
    model = Forecaster.from_pretrained(args.checkpoint)
    use = _use(args)
    series = model_series(model, {k: getattr(args, k, None) for k in SERIES_OPTIONS})
    forecast = model.predict(series, use.samples, use.seed)
    level = f"{forecast.level:.0%}"
    print(f"{'time':<22} {'target':<14} {'forecast':>12} {level + ' interval':>26}")
    for row in forecast.rows():
        print(
            f"{row['time']:<22} {row['target']:<14} {row['forecast']:>12.5g} "
            f"[{row['lower']:>11.5g}, {row['upper']:>11.5g}]"
        )
    output = args.output or output_file(Path(args.checkpoint) / FORECAST_CSV)  # given: checked
    write_forecast_csv(output, forecast)
    print(f"written: {output}")
    if args.plot:
        start = test_part_start(model, series)
        history = series.repaired((start,))
        shown = plot_forecasts(args.plot, model, history, start, forecast, use.seed)
        print(f"plot: {shown}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    model = Forecaster.from_pretrained(args.checkpoint)
    series = model_series(model, {k: getattr(args, k, None) for k in SERIES_OPTIONS})
    print(evaluate_forecaster(model, series, _use(args).samples).format_table())
    return 0
