"""PNG plots (insight tools, classifier reports), drawn by matplotlib's Agg renderer (no display
needed).

Each function renders into memory and writes the file atomically, so a failed plot never
leaves half a PNG behind.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnnlab.checkpoint import atomic_write


def _figure(width: float, height: float):
    # A bare Figure renders through Agg without pyplot, so the caller's backend is left alone.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write(path, buffer.getvalue())
    return Path(path)


def line_plot(
    path: str | Path,
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    log_y: bool = True,
    hline: tuple[float, str] | None = None,
) -> Path:
    """One line per entry of ``series`` (label -> (x values, y values)), optionally a labelled
    horizontal reference line; non-positive values are left out on a log axis."""
    figure = _figure(7.5, 4.5)
    axes = figure.add_subplot()
    for label, (x, values) in series.items():
        y = np.asarray(values, dtype=np.float64)
        if log_y:
            y = np.where(y > 0, y, np.nan)
        axes.plot(
            np.asarray(x, dtype=np.float64), y, label=label, marker="o" if len(y) <= 12 else None
        )
    if hline is not None:
        axes.axhline(hline[0], color="grey", linestyle="--", linewidth=1, label=hline[1])
    if log_y:
        axes.set_yscale("log")
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize="small")
    return _save(figure, path)


def heatmap(
    path: str | Path,
    values: np.ndarray,
    *,
    title: str,
    xticklabels: Sequence[str] | None = None,
    yticklabels: Sequence[str] | None = None,
    ylabel: str = "unit",
    colorbar: str = "activation",
) -> Path:
    """values (rows, columns) as a diverging colour map centred on 0; columns labelled by
    ``xticklabels`` (e.g. the characters read) and rows by ``yticklabels`` when there are few
    enough to read."""
    rows, columns = values.shape
    figure = _figure(min(max(6.0, columns * 0.12 + 2), 24.0), min(max(3.0, rows * 0.08 + 1.5), 12))
    axes = figure.add_subplot()
    limit = float(np.nanmax(np.abs(values))) if values.size else 1.0
    image = axes.imshow(
        values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest"
    )
    if xticklabels is not None and columns <= 160:
        axes.set_xticks(range(columns), list(xticklabels), fontsize=6, fontfamily="monospace")
    else:
        axes.set_xlabel("step")
    if yticklabels is not None and rows <= 80:
        axes.set_yticks(range(rows), list(yticklabels), fontsize=6)
    axes.set(title=title, ylabel=ylabel)
    figure.colorbar(image, ax=axes, label=colorbar)
    return _save(figure, path)


def confusion_plot(path: str | Path, matrix: np.ndarray, labels: Sequence[str], *, title: str):
    """A confusion matrix (rows: true class, columns: predicted) coloured by the fraction of
    each true class, with the counts written in the cells when there are few enough classes."""
    counts = np.asarray(matrix, dtype=np.int64)
    n = len(labels)
    totals = counts.sum(axis=1, keepdims=True)
    fractions = counts / np.maximum(totals, 1)
    size = min(max(4.5, n * 0.45 + 2.5), 16.0)
    figure = _figure(size + 1.0, size)
    axes = figure.add_subplot()
    image = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.set_xticks(range(n), list(labels), rotation=90, fontsize=7)
    axes.set_yticks(range(n), list(labels), fontsize=7)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    colour = "white" if fractions[i, j] > 0.5 else "black"
                    axes.text(
                        j, i, str(counts[i, j]), ha="center", va="center", fontsize=6, color=colour
                    )
    axes.set(title=title, xlabel="predicted", ylabel="true")
    figure.colorbar(image, ax=axes, label="fraction of the true class")
    return _save(figure, path)


def attention_plot(
    path: str | Path,
    weights: np.ndarray,
    source: Sequence[str],
    target: Sequence[str],
    *,
    title: str,
) -> Path:
    """Attention weights (target steps x source tokens, rows summing to 1) as a heat map: row t
    shows where the decoder looked when it wrote target token t."""
    rows, columns = weights.shape
    width, height = min(max(4.0, columns * 0.45 + 2), 20.0), min(max(3.0, rows * 0.35 + 1.5), 16.0)
    figure = _figure(width, height)
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.set_xticks(range(columns), [t.strip() or repr(t) for t in source], rotation=90, fontsize=8)
    axes.set_yticks(range(rows), [t.strip() or repr(t) for t in target], fontsize=8)
    axes.set(title=title, xlabel="source", ylabel="translation")
    figure.colorbar(image, ax=axes, label="attention weight")
    return _save(figure, path)


def forecast_plot(
    path: str | Path,
    panels: Sequence[dict],
    *,
    title: str,
    level: float,
) -> Path:
    """One panel per target series. Each panel dict holds ``name``, ``times`` and ``actual``
    (the series), ``test_start`` (a time, or None), ``backtests`` (a list of (times, point,
    lower, upper), forecasts made on the test part) and ``future`` (times, point, lower, upper):
    the history as a line, each forecast as a line with its interval as a band, and the test
    part shaded."""
    figure = _figure(9.0, 3.2 * len(panels) + 0.6)
    for i, panel in enumerate(panels):
        axes = figure.add_subplot(len(panels), 1, i + 1)
        axes.plot(panel["times"], panel["actual"], color="black", linewidth=1, label="actual")
        if panel.get("test_start") is not None:
            axes.axvspan(
                panel["test_start"], panel["times"][-1], color="grey", alpha=0.12, label="test part"
            )
        for k, (times, point, lower, upper) in enumerate(panel.get("backtests", [])):
            axes.fill_between(times, lower, upper, color="tab:orange", alpha=0.25, linewidth=0)
            axes.plot(
                times,
                point,
                color="tab:orange",
                linewidth=1.2,
                label="forecasts on the test part" if k == 0 else None,
            )
        times, point, lower, upper = panel["future"]
        axes.fill_between(
            times,
            lower,
            upper,
            color="tab:blue",
            alpha=0.3,
            linewidth=0,
            label=f"{level:.0%} interval",
        )
        axes.plot(times, point, color="tab:blue", linewidth=1.5, label="forecast")
        axes.set(
            title=f"{title}: {panel['name']}" if len(panels) > 1 else title, ylabel=panel["name"]
        )
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small", loc="upper left")
    return _save(figure, path)


def alignment_plot(
    path: str | Path,
    features: np.ndarray,
    posteriors: np.ndarray,
    symbols: Sequence[str],
    subsample: int = 1,
    *,
    title: str,
) -> Path:
    """A recording's features (frames, bands) over a CTC model's per-step posteriors (steps,
    symbols), on one time axis in seconds (10 ms frames; a step spans ``subsample`` frames);
    only the symbols that are likely somewhere are drawn."""
    figure = _figure(9, 5.5)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    seconds = len(features) * 0.01
    top.imshow(features.T, aspect="auto", origin="lower", extent=(0, seconds, 0, features.shape[1]))
    top.set(title=title, ylabel="mel band")
    shown = [i for i in range(posteriors.shape[1]) if posteriors[:, i].max() > 0.1]
    step = 0.01 * subsample
    times = (np.arange(len(posteriors)) + 0.5) * step
    for i in shown:
        style = {"color": "grey", "linestyle": ":"} if i == 0 else {}
        bottom.plot(times, posteriors[:, i], label=symbols[i], **style)
    bottom.set(xlabel="seconds", ylabel="p(symbol)", ylim=(0, 1.02), xlim=(0, seconds))
    if shown:
        bottom.legend(fontsize="x-small", ncol=len(shown) // 8 + 1, loc="upper right")
    return _save(figure, path)
