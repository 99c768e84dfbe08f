"""A series split in time into train, validation and test parts, and cut into windows.

A forecast from origin o reads the W rows o-W .. o-1 and predicts the H rows o .. o+H-1. A part
owns the origins whose H predicted rows all lie inside it; the W rows read may come from earlier
parts (the past is known when forecasting). So a training window never touches a validation or
test row, and :class:`~rnnlab.tasks.forecast.series.Scaling` is fitted on the training rows alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rnnlab.tasks.forecast.series import Scaling, Series

PARTS = ("train", "validation", "test")


@dataclass
class Windows:
    """The windows of one part: ``x`` (n, W + H, 1 + C) network inputs (the first W known, the
    last H to predict), ``centre`` and ``spread`` (n,) to turn z back into the data's units,
    ``series`` (n,) the target index, ``origin`` (n,), ``deviation`` (n,) the spread of the
    values each reads (:meth:`~rnnlab.tasks.forecast.series.Scaling.deviation`)."""

    x: torch.Tensor
    centre: np.ndarray
    spread: np.ndarray
    series: np.ndarray
    origin: np.ndarray
    deviation: np.ndarray

    def __len__(self) -> int:
        return len(self.origin)


@dataclass
class SeriesSplit:
    """``series`` (gaps filled part by part) with rows [0, train_end) for training,
    [train_end, val_end) for validation and [val_end, N) for testing."""

    series: Series
    window: int
    horizon: int
    train_end: int
    val_end: int
    scaling: Scaling

    @classmethod
    def of(
        cls,
        series: Series,
        window: int,
        horizon: int,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        spread: str = "train",
    ) -> SeriesSplit:
        """Split the last ``test_fraction`` of the rows off for testing and the
        ``val_fraction`` before them for validation; a ValueError when a part is too short.
        ``spread``: see :class:`~rnnlab.tasks.forecast.series.Scaling`."""
        n = len(series)
        test, val = round(n * test_fraction), round(n * val_fraction)
        train_end, val_end = n - test - val, n - test
        need = window + horizon
        short = [
            f"the {name} part ({rows} rows) needs at least {least}"
            for name, rows, least, wanted in (
                ("training", train_end, need, True),
                ("validation", val, horizon, val_fraction > 0),
                ("test", test, horizon, test_fraction > 0),
            )
            if wanted and rows < least
        ]
        if short:
            raise ValueError(
                f"{series.source} has {n} rows: too few for a window of {window} plus a horizon "
                f"of {horizon} ({'; '.join(short)}); give a longer series or a smaller "
                "--window/--horizon"
            )
        repaired = series.repaired((train_end, val_end))
        scaling = Scaling.fit(repaired, train_end, spread)
        return cls(repaired, window, horizon, train_end, val_end, scaling)

    def bounds(self, part: str) -> tuple[int, int]:
        """The rows [start, stop) of ``part``."""
        return {
            "train": (0, self.train_end),
            "validation": (self.train_end, self.val_end),
            "test": (self.val_end, len(self.series)),
        }[part]

    def origins(self, part: str) -> np.ndarray:
        """The forecast origins of ``part`` (see the module docstring)."""
        start, stop = self.bounds(part)
        return np.arange(max(start, self.window), stop - self.horizon + 1)

    def windows(self, part: str, stride: int = 1) -> Windows:
        """Every window of ``part`` (every ``stride``-th origin), for each target series."""
        origins = self.origins(part)[::stride]
        return gather(self.series, self.scaling, origins, self.window, self.horizon)


def gather(series: Series, scaling: Scaling, origins: np.ndarray, window: int, horizon: int):
    """The :class:`Windows` of ``series`` at ``origins``: W rows read and H rows ahead (the
    rows ahead are zeros where they lie past the end)."""
    s = len(series.targets)
    rows = origins[:, None] + np.arange(-window, horizon)
    padded = np.concatenate([series.values, np.zeros((horizon, series.values.shape[1]))])
    picked = padded[rows]  # (n, W + H, S + C)
    index = np.repeat(np.arange(s), len(origins))
    target = np.concatenate([picked[:, :, j] for j in range(s)])
    covariates = np.concatenate([picked[:, :, s:]] * s)
    x, centre, spread = scaling.inputs(target, covariates, index, window)
    deviation = scaling.deviation(target, index, window)
    return Windows(torch.from_numpy(x), centre, spread, index, np.tile(origins, s), deviation)


def truth(series: Series, windows: Windows, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The values (n, H) each of ``windows`` forecasts, and whether each was observed (not
    filled in): what its forecasts are scored against."""
    rows = windows.origin[:, None] + np.arange(horizon)
    targets = windows.series[:, None]
    return series.values[rows, targets], series.observed[rows, targets]
