"""Time series from a CSV file or a built-in data set, checked, split in time and scaled.

A :class:`Series` holds S target columns (each one series, forecast by one shared model) and C
covariate columns on one time axis. Reading refuses, with one line naming the column and row, a
missing or non-numeric column and any infinity. Missing values (empty cells, NaN) follow a
stated policy: ``interpolate`` (the default) drops the leading rows until every used column is
known, then fills each remaining gap by linear interpolation between its known neighbours
*within the same part of the split* (train, validation, test), or, at the end of a part, by
carrying the last known value forward; so no value moves backwards across a split boundary.
``refuse`` makes any gap an error. Filled target values are never scored.

The split is chronological: the first rows train, the next ``val_fraction`` validate, the last
``test_fraction`` test. :class:`Scaling` is fitted on the training rows only: each target is
divided by its training standard deviation s_j after subtracting the mean of the window's own
input values (so a model sees shapes, not absolute levels, and extrapolates a trend); each
covariate is standardised with its training mean and deviation:

    z_t = (y_t - mean(y_{o-W} .. y_{o-1})) / s_j        for a forecast from origin o
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rnnlab.checks import check_choice

#: Built-in series (statsmodels' data sets): target column, time column, and the horizon the
#: benchmark uses.
DATASETS = {
    "sunspots": {"target": "SUNACTIVITY", "time": "YEAR", "horizon": 10},
    "co2": {"target": "co2", "time": "date", "horizon": 52},
}
MISSING = ("interpolate", "refuse")
SPREADS = ("train", "window")
TIME_NAMES = ("time", "date", "datetime", "timestamp", "ds", "year", "month", "week", "day")
MAX_MAGNITUDE = 1e100  # the largest |value| a series may hold: its squares must stay finite


@dataclass
class Series:
    """S target columns and C covariates over N rows, in the file's units.

    ``values`` (N, S + C) may hold NaN for gaps until :meth:`repaired`; ``observed`` (N, S)
    marks the target values that were in the data. ``time`` is the time column (datetime64 or
    numbers), or None when the rows are only ordered.
    """

    values: np.ndarray
    targets: list[str]
    covariates: list[str] = field(default_factory=list)
    time: np.ndarray | None = None
    time_name: str | None = None
    source: str = ""
    trimmed: int = 0  # leading rows dropped because a used column was missing there
    observed: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.observed is None:
            self.observed = ~np.isnan(self.values[:, : len(self.targets)])

    def __len__(self) -> int:
        return len(self.values)

    @property
    def gaps(self) -> int:
        return int(np.isnan(self.values).sum())

    def repaired(self, bounds: tuple[int, ...] = ()) -> Series:
        """The series with every gap filled (see the module docstring); ``bounds`` are the
        rows where a new part of the split starts."""
        values = self.values.copy()
        edges = [0, *[b for b in bounds if 0 < b < len(self)], len(self)]
        for start, stop in itertools.pairwise(edges):
            for column in range(values.shape[1]):
                _fill(values[:, column], start, stop)
        return replace(self, values=values)

    def future_times(self, steps: int) -> np.ndarray:
        """The time stamps of the next ``steps`` rows: the time column continued at its usual
        (median) step, or row numbers."""
        if self.time is None:
            return np.arange(len(self), len(self) + steps)
        if np.issubdtype(self.time.dtype, np.datetime64):
            import pandas as pd

            index = pd.DatetimeIndex(self.time)
            with warnings.catch_warnings():  # pandas 3 warns that a later one returns an offset
                warnings.simplefilter("ignore")
                frequency = pd.infer_freq(index) if len(index) >= 3 else None
            if frequency is not None:
                return pd.date_range(index[-1], periods=steps + 1, freq=frequency)[1:].to_numpy()
        step = np.median(np.diff(self.time)) if len(self) > 1 else 1
        return self.time[-1] + step * np.arange(1, steps + 1)

    def times(self) -> np.ndarray:
        """The time column, or row numbers."""
        return np.arange(len(self)) if self.time is None else self.time


def _fill(column: np.ndarray, start: int, stop: int) -> None:
    """Fill the NaN in column[start:stop] in place: linear between known neighbours in the
    part, the last known value (possibly from an earlier part) carried forward after them."""
    part = column[start:stop]
    missing = np.isnan(part)
    if not missing.any():
        return
    known = np.flatnonzero(~missing)
    rows = np.flatnonzero(missing)
    if len(known):
        part[rows] = np.interp(rows, known, part[known])
        after = rows > known[-1]
        before = rows < known[0]
    else:
        after, before = np.ones(len(rows), dtype=bool), np.zeros(len(rows), dtype=bool)
    # np.interp holds the end values flat; ahead of the first known value carry the previous
    # part's last value forward instead (never a later one), and after the last known value
    # the last known one.
    if before.any():
        part[rows[before]] = column[start - 1]
    if after.any():
        last = part[known[-1]] if len(known) else column[start - 1]
        part[rows[after]] = last


def read_csv(
    path: str | Path,
    targets: list[str],
    time: str | None = None,
    covariates: list[str] | tuple[str, ...] = (),
    missing: str = "interpolate",
) -> Series:
    """The series in CSV file ``path`` (a header row, then one row per time step)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    try:
        with warnings.catch_warnings():  # a row longer than the header: its warning, an error
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, index_col=False)  # never an index made of extra fields
    except pd.errors.ParserWarning:
        raise ValueError(
            f"{path}: a row has more fields than the header; every row needs one field per column"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "no data"
        raise ValueError(f"{path} is not a readable CSV file: {first}") from None
    return from_frame(frame, targets, time, covariates, missing, source=str(path))


def load_dataset(name: str, missing: str = "interpolate") -> Series:
    """A statsmodels data set (see :data:`DATASETS`), read from the installed package."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    import statsmodels.api as sm

    spec = DATASETS[name]
    frame = getattr(sm.datasets, name).load_pandas().data
    if spec["time"] not in frame.columns:  # co2: the dates are the index
        frame = frame.rename_axis(spec["time"]).reset_index()
    if name == "sunspots":
        frame[spec["time"]] = frame[spec["time"]].astype(int)
    return from_frame(frame, [spec["target"]], spec["time"], (), missing, source=name)


def from_frame(frame, targets, time=None, covariates=(), missing="interpolate", source="data"):
    """The :class:`Series` of a pandas DataFrame (see :func:`read_csv`)."""
    check_choice("missing", missing, MISSING)
    targets, covariates = list(targets), list(covariates)
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    used = targets + covariates
    for name in used + ([time] if time else []):
        if name not in columns:
            raise ValueError(f"{source} has no column {name!r}; its columns: {', '.join(columns)}")
    if not targets:
        raise ValueError("name at least one target column")
    if len(set(used)) != len(used):
        raise ValueError("a column is named twice among the targets and covariates")
    time = time or _detect_time(frame, used)
    if time in used:
        raise ValueError(f"{time!r} is the time column; it cannot be a target or covariate")
    values = np.column_stack([_numeric(frame[name], name, source) for name in used])
    stamps = _time_column(frame[time], time, source) if time else None
    if missing == "refuse" and np.isnan(values).any():
        row, column = np.argwhere(np.isnan(values))[0]
        raise ValueError(
            f"{source}: column {used[column]!r} has a missing value at row {row + 2} "
            "(counting the header as row 1); fill it, or use --missing interpolate"
        )
    complete = np.flatnonzero(~np.isnan(values).any(1))
    if len(complete) == 0:
        raise ValueError(f"{source} has no row where all of {', '.join(used)} are known")
    first = int(complete[0])
    if stamps is not None:
        stamps = stamps[first:]
        numbers = stamps.astype("datetime64[ns]").astype(np.int64) if _is_dates(stamps) else stamps
        if not (np.diff(numbers) > 0).all():
            raise ValueError(
                f"{source}: the time column {time!r} must increase from row to row; "
                "sort the file by time and remove duplicate times"
            )
    return Series(values[first:], targets, covariates, stamps, time, source, first)


def _is_dates(stamps: np.ndarray) -> bool:
    return np.issubdtype(stamps.dtype, np.datetime64)


def _numeric(column, name: str, source: str) -> np.ndarray:
    import pandas as pd

    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(numbers) & column.notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{source}: column {name!r} is not numeric (row {row + 2} holds "
            f"{column.iloc[row]!r}); choose a numeric column"
        )
    infinite = np.isinf(numbers)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise ValueError(
            f"{source}: column {name!r} holds infinity at row {row + 2}; "
            "replace it with a number or leave the cell empty to have it interpolated"
        )
    huge = np.abs(numbers) > MAX_MAGNITUDE
    if huge.any():
        row = int(np.flatnonzero(huge)[0])
        raise ValueError(
            f"{source}: column {name!r} holds {numbers[row]:g} at row {row + 2}; values beyond "
            f"±{MAX_MAGNITUDE:g} overflow the squares and sums of the scaling and the baselines; "
            "rescale the column"
        )
    return numbers


def _detect_time(frame, used: list[str]) -> str | None:
    """The time column: one named like a time (``date``, ``year``, ...), else the first
    non-numeric column whose every cell reads as a date; None if there is none."""
    import pandas as pd

    others = [c for c in frame.columns if c not in used]
    for name in others:
        if name.strip().lower() in TIME_NAMES:
            return name
    for name in others:
        column = frame[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            parsed = pd.to_datetime(column, errors="coerce", format="mixed")
            if parsed.notna().all():
                return name
    return None


def _time_column(column, name: str, source: str) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and column.notna().all():
        return column.to_numpy()
    parsed = pd.to_datetime(column, errors="coerce", format="mixed")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise ValueError(
            f"{source}: the time column {name!r} has {column.iloc[row]!r} at row {row + 2}, "
            "which is neither a number nor a date"
        )
    return parsed.to_numpy()


def detect_season(values: np.ndarray) -> int | None:
    """The season length of a series: the lag of the highest local maximum (lag >= 2) of the
    autocorrelation of the series with a quadratic trend removed, if that autocorrelation is
    at least 0.3; None when there is no such peak."""
    y = np.asarray(values, dtype=np.float64)
    n = len(y)
    if n < 8:
        return None
    x = np.arange(n)
    z = y - np.polyval(np.polyfit(x, y, 2), x)
    if not z.any():
        return None
    spectrum = np.fft.rfft(z, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    acf = acf / acf[0]
    lags = np.arange(2, n // 2)
    peaks = [k for k in lags if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1] and acf[k] >= 0.3]
    return int(max(peaks, key=lambda k: acf[k])) if peaks else None


@dataclass
class Scaling:
    """Training-part statistics: ``scale`` (S,) of the targets, ``mean``/``std`` (C,) of the
    covariates. :meth:`inputs` turns raw rows into what the network reads.

    ``spread`` ``window`` divides each window by its own inputs' standard deviation instead
    (at least s_j / 10), as reversible instance normalisation and PyTorch Forecasting's
    EncoderNormalizer do: a model then sees shapes regardless of their amplitude."""

    scale: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    spread: str = "train"

    @classmethod
    def fit(cls, series: Series, rows: int, spread: str = "train") -> Scaling:
        """Fitted on the first ``rows`` rows; a constant target or covariate is an error."""
        s = len(series.targets)
        train = series.values[:rows]
        check_choice("spread", spread, SPREADS)
        deviation = train.std(0)
        for name, value in zip(series.targets + series.covariates, deviation, strict=True):
            if not value > 1e-12 * max(1.0, float(np.abs(train).max())):
                what = "target" if name in series.targets else "covariate"
                raise ValueError(
                    f"the {what} {name!r} is constant over the training part ({rows} rows): "
                    + ("there is nothing to forecast" if what == "target" else "leave it out")
                )
        return cls(deviation[:s], train[:, s:].mean(0), deviation[s:], spread)

    def inputs(self, target: np.ndarray, covariates: np.ndarray, index, known: int):
        """Rows of series ``index`` -> network inputs, centres and spreads.

        target (B, T) raw values of series index (B,); covariates (B, T, C); the first
        ``known`` steps are inputs, whose mean is the centre; the spread is s_j (or the
        inputs' deviation, see the class docstring). Returns
        (B, T, 1 + C) float32, the centres (B,) and the spreads (B,), so that
        y = centre + spread z."""
        centre = target[:, :known].mean(1)
        spread = self.deviation(target, index, known) if self.spread == "window" else None
        spread = self.scale[index] if spread is None else spread
        z = (target - centre[:, None]) / spread[:, None]
        c = (covariates - self.mean) / self.std
        return np.concatenate([z[..., None], c], -1).astype(np.float32), centre, spread

    def deviation(self, target: np.ndarray, index, known: int) -> np.ndarray:
        """(B,) each window's own spread: the standard deviation of its ``known`` first values,
        at least s_j / 10."""
        return np.maximum(target[:, :known].std(1), self.scale[index] / 10)

    def to_json(self) -> dict:
        return {
            "scale": self.scale.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "spread": self.spread,
        }

    @classmethod
    def from_json(cls, data: dict) -> Scaling:
        arrays = (np.asarray(data[k], dtype=np.float64) for k in ("scale", "mean", "std"))
        return cls(*arrays, data.get("spread", "train"))
