"""Training a forecaster on a series split in time, and its report.

:func:`plan` fixes what the data decides: the season length (given, or detected on the training
rows) and the window (given, or 2 max(H, m)), and splits the series. One step: a batch of
training windows; the direct model is scored on the H steps after each window, the
autoregressive one on every next step of window plus horizon (teacher forcing), with the
distribution's proper scoring rule (see :mod:`rnnlab.tasks.forecast.model`). After every epoch the
validation part is forecast and scored by MASE; the checkpoint is the epoch with the lowest
validation MASE (early stopping's choice); its intervals are then calibrated on the validation
forecasts (:mod:`~rnnlab.tasks.forecast.conformal`), and the test part is only scored, by
:func:`~rnnlab.tasks.forecast.backtest.backtest`, once, at the end.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from rnnlab.checkpoint import write_json
from rnnlab.settings import (
    AT_LEAST_2,
    FRACTION,
    OPEN_UNIT,
    POSITIVE_INT,
    HeldOutSettings,
    RecurrentSettings,
    RunSettings,
    one_of,
    setting,
    task_settings,
)
from rnnlab.tasks.forecast.backtest import BacktestReport, backtest, mase_scale, scores
from rnnlab.tasks.forecast.model import DISTRIBUTIONS, MODES, Forecaster, default_window
from rnnlab.tasks.forecast.predict import SERIES_OPTIONS, read_series
from rnnlab.tasks.forecast.series import DATASETS, MISSING, SPREADS, Series, detect_season
from rnnlab.tasks.forecast.windows import PARTS, SeriesSplit, truth
from rnnlab.training.loop import EpochResult, EpochTrainer
from rnnlab.training.run import TrainingTask

FORECAST_REPORT = "report.json"


@task_settings(hidden_size=64, batch_size=32, warmup=20, test_fraction=0.2)
class ForecastSettings(HeldOutSettings, RunSettings, RecurrentSettings):
    """Everything that defines a forecaster run: the recurrent network, the run, the test part
    (see :mod:`rnnlab.settings`) and the fields below; saved in ``config.json``."""

    DEFAULT_EPOCHS: ClassVar[int] = 100
    OMIT: ClassVar[tuple[str, ...]] = ("bidirectional",)  # a forecaster reads forward only
    HELP: ClassVar[dict[str, str]] = {"test_fraction": "the last rows, the test part"}

    horizon: int = setting(
        10,
        "steps to forecast",
        POSITIVE_INT,
        group="forecast",
        shown="10; a built-in series: its own",
    )
    window: int | None = setting(
        None,
        "steps read per forecast",
        POSITIVE_INT,
        group="forecast",
        shown="2 x max(horizon, season)",
    )
    season: int | None = setting(
        None, "season length", AT_LEAST_2, group="forecast", shown="detected on the training part"
    )
    mode: str = setting(
        "direct",
        "a head that emits all H steps, or one step fed back H times",
        one_of(MODES),
        group="forecast",
    )
    distribution: str = setting(
        "gaussian", "mean and scale, or three quantiles", one_of(DISTRIBUTIONS), group="forecast"
    )
    interval: float = setting(0.9, "interval level, below 1", OPEN_UNIT, group="forecast")
    samples: int = setting(
        200, "sample paths for autoregressive intervals", POSITIVE_INT, group="forecast"
    )
    missing: str = setting(
        "interpolate",
        "fill gaps by linear interpolation within each part, or refuse them",
        one_of(MISSING),
        group="forecast",
    )
    spread: str = setting(
        "train",
        "divide each window (after subtracting its mean) by the training part's standard "
        "deviation, or by the window's own",
        one_of(SPREADS),
        group="forecast",
    )
    val_fraction: float = setting(0.1, "validation part, before the test part", FRACTION)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError("val-fraction and test-fraction must leave a training part")


def plan(series: Series, settings: ForecastSettings) -> tuple[ForecastSettings, SeriesSplit]:
    """``settings`` with the season (detected on the training rows when not given) and the
    window (2 max(H, m) when not given) filled in, and the series split by them."""
    n = len(series)
    train_end = n - round(n * settings.test_fraction) - round(n * settings.val_fraction)
    season = settings.season
    if season is None and train_end > 8:
        head = replace(series, values=series.values[:train_end], observed=None).repaired()
        found = [detect_season(head.values[:, j]) for j in range(len(series.targets))]
        season = found[0] if found[0] and len(set(found)) == 1 else None
    window = settings.window or default_window(settings.horizon, season)
    settings = replace(settings, season=season, window=window)
    split = SeriesSplit.of(
        series,
        window,
        settings.horizon,
        settings.val_fraction,
        settings.test_fraction,
        settings.spread,
    )
    return settings, split


class ForecastTrainer(EpochTrainer):
    """Trains a :class:`~rnnlab.Forecaster` on a :class:`SeriesSplit`; see the module
    docstring. ``fit()`` returns an :class:`EpochResult` whose ``report`` is the
    :class:`~rnnlab.tasks.forecast.backtest.BacktestReport` on the test part (None without one)."""

    ECHO_EVERY = 10  # epochs are short and many
    RESTORE_BEST = True

    def __init__(
        self,
        split: SeriesSplit,
        settings: ForecastSettings,
        out: str | Path | None = None,
        **options,
    ) -> None:
        self.split = split
        self.train = split.windows("train")
        self.validation = split.windows("validation")
        self.checked = self.validation if len(self.validation) else self.train
        values = split.series.values
        self.scales = np.array(
            [
                mase_scale(values[: split.train_end, j], settings.season)
                for j in range(len(split.series.targets))
            ]
        )
        series = split.series
        super().__init__(
            settings,
            lambda: Forecaster(
                series.targets,
                series.covariates,
                split.scaling,
                **settings.arguments(Forecaster),
                time=series.time_name,
            ),
            [split.window] * len(self.train),
            out,
            **options,
        )

    def batch_loss(self, batch: list[int]) -> torch.Tensor:
        x = self.train.x[batch].to(self.device)
        w = self.split.window
        if self.model.mode == "direct":
            theta, _ = self.model(x[:, :w])
            return self.model.loss(theta, x[:, w:, 0])
        theta, _ = self.model(x[:, :-1])
        return self.model.loss(theta, x[:, 1:, 0])

    def evaluate(self, final: bool = False) -> dict[str, float]:
        """The point forecasts' MASE on the validation windows (the training windows without a
        validation part), averaged over the targets."""
        windows = self.checked
        point, _, _ = self.model.forecast(windows, samples=0)
        rows = windows.origin[:, None] + np.arange(self.split.horizon)
        values, observed = self.split.series.values, self.split.series.observed
        per_target = [
            scores(
                values[rows[mine], j],
                point[mine],
                observed[rows[mine], j],
                self.scales[j],
            )["mase"]
            for j in range(len(self.split.series.targets))
            if (mine := windows.series == j).any()
        ]
        return {"mase": float(np.mean(per_target))}

    def scores(self, report: dict[str, float]) -> dict[str, float]:
        name = "val_mase" if self.checked is self.validation else "train_mase"
        return {name: report["mase"]}

    def monitor(self, scores: dict[str, float]) -> float:
        """The validation MASE: the checkpoint (and the model the run ends with, by
        ``RESTORE_BEST``) is the epoch that forecasts the validation part best."""
        (value,) = scores.values()
        return value

    def final_report(self) -> BacktestReport | None:
        """Calibrate the best epoch's intervals on the validation part (saved in the
        checkpoint's config), then its backtest on the test part (None without one)."""
        if len(self.validation):
            actual, observed = truth(self.split.series, self.validation, self.split.horizon)
            self.model.calibrate(self.validation, actual, observed, self.settings.samples)
            if self.out is not None and self.main:
                self.model.save_config(self.out)
        if not len(self.split.origins("test")):
            return None
        return backtest(self.model, self.split, self.settings.samples, self.settings.seed)

    def write_report(self, result: EpochResult) -> None:
        split, report = self.split, result.report
        write_json(
            self.out / FORECAST_REPORT,
            {
                "rows": {part: list(split.bounds(part)) for part in PARTS},
                "season": self.settings.season,
                "window": split.window,
                "horizon": split.horizon,
                "best": self.best,
                "calibration": self.model.calibration,
                "epochs": result.history,
                "test": report.to_json() if report else None,
            },
        )

    def setup_lines(self) -> list[str]:
        s = self.settings
        season = f"season {s.season}" if s.season else "no season found"
        return [
            f"window {s.window}, horizon {s.horizon}, {season}; {s.mode} {s.distribution} "
            f"{s.cell}, {self.setup_line()}"
        ]

    def summary_lines(self, result: EpochResult) -> list[str]:
        checked = "validation" if len(self.validation) else "training"
        table = [result.report.format_table()] if result.report is not None else []
        details = f"; kept the epoch with the best {checked} MASE, {self.best:.3f}"
        if self.model.calibration is not None:
            forecasts = len(self.validation) // len(self.split.series.targets)
            details += f"; intervals calibrated on {forecasts} validation forecasts"
        return [*table, result.summary(details, self.out)]


def recommended_forecast_settings(given: dict, options: dict) -> ForecastSettings:
    """``given``, the horizon of a built-in series (``options["dataset"]``) where none is."""
    dataset = options.get("dataset")
    if dataset in DATASETS and "horizon" not in given:
        given = given | {"horizon": DATASETS[dataset]["horizon"]}
    return ForecastSettings(**given)


def forecaster_trainer(
    settings: ForecastSettings, options: dict, out: str | Path | None = None, **loop
) -> ForecastTrainer:
    """The trainer of ``rnnlab forecast train``: the series ``options`` name
    (:data:`~rnnlab.tasks.forecast.predict.SERIES_OPTIONS`), planned and split in time."""
    echo = loop.setdefault("echo", print)
    series = read_series(options, settings.missing)
    settings, split = plan(series, settings)
    parts = ", ".join(
        f"{stop - start} {part}"
        for part, (start, stop) in ((part, split.bounds(part)) for part in PARTS)
    )
    echo(
        f"{series.source}: {len(series):,} rows ({parts})"
        + (f"; {series.trimmed} leading rows with gaps dropped" if series.trimmed else "")
        + (f"; {series.gaps} missing values interpolated" if series.gaps else "")
    )
    return ForecastTrainer(split, settings, out, sources=[series.source], **loop)


#: ``rnnlab forecast train`` on the spine (:func:`rnnlab.training.run.run_training`)
FORECAST = TrainingTask(
    command="forecast train",
    settings=ForecastSettings,
    trainer=forecaster_trainer,
    models=(Forecaster,),
    data_options=SERIES_OPTIONS,
    recommended=recommended_forecast_settings,
)
