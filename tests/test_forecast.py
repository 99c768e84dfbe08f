"""The forecaster: reading and repairing series, the split without look-ahead, the two output
modes and the two distributions, the baselines and metrics, the CLI and its bad inputs."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import one_error_line, png_size
from rnnlab import Forecaster
from rnnlab.cli import main
from rnnlab.tasks.forecast import model_series
from rnnlab.tasks.forecast.backtest import mase_scale, scores
from rnnlab.tasks.forecast.baselines import naive, seasonal_naive
from rnnlab.tasks.forecast.conformal import calibrate_intervals, conformal_quantile
from rnnlab.tasks.forecast.series import Scaling, Series, detect_season, load_dataset, read_csv
from rnnlab.tasks.forecast.training import ForecastSettings, ForecastTrainer, plan
from rnnlab.tasks.forecast.windows import SeriesSplit, gather, truth


def _wave(n: int = 240, period: int = 12, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + 0.02 * t + np.sin(2 * np.pi * t / period) + noise * rng.normal(size=n)


def _write_csv(path, columns: dict[str, list]) -> str:
    names = list(columns)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(zip(*columns.values(), strict=True))
    return str(path)


def _dates(n: int) -> list[str]:
    return [str(day) for day in np.datetime64("2020-01-01") + np.arange(n)]


def _quiet(**settings) -> dict:
    return {"progress": False, "echo": lambda line: None, **settings}


# -- reading and repairing --------------------------------------------------------------------


def test_read_csv_detects_the_time_column_and_reads_targets_and_covariates(tmp_path):
    n = 30
    path = _write_csv(
        tmp_path / "s.csv",
        {"Date": _dates(n), "sales": list(range(n)), "price": [1.0 + i % 3 for i in range(n)]},
    )
    series = read_csv(path, ["sales"], covariates=["price"])
    assert series.time_name == "Date" and np.issubdtype(series.time.dtype, np.datetime64)
    assert series.values.shape == (n, 2) and series.values[5, 0] == 5 and series.values[5, 1] == 3
    assert str(series.future_times(2)[0])[:10] == "2020-01-31"


def test_gaps_are_interpolated_within_each_part_and_carried_forward_at_its_end():
    values = np.array([np.nan, 1, 2, np.nan, 4, np.nan, 10, np.nan, 12.0])[:, None]
    series = Series(values, ["y"])
    # the reader trims leading gaps; here the first row is a gap inside part one
    filled = Series(values[1:], ["y"]).repaired(bounds=(4,))
    # part one: rows 0..3 = 1, 2, nan, 4 -> interpolated; part two: nan, 10, nan, 12: the gap
    # before the first known value takes part one's last value, never a later one
    assert filled.values[:, 0].tolist() == [1, 2, 3, 4, 4, 10, 11, 12]
    assert filled.observed[:, 0].tolist() == [1, 1, 0, 1, 0, 1, 0, 1]
    assert series.gaps == 4


def test_the_reader_drops_leading_rows_with_gaps(tmp_path):
    path = _write_csv(tmp_path / "s.csv", {"y": ["", "", 1, 2, "", 4], "x": [1, "", 2, 3, 4, 5]})
    series = read_csv(path, ["y"], covariates=["x"])
    assert series.trimmed == 2 and len(series) == 4 and series.gaps == 1


def test_the_built_in_series_load_without_network():
    sunspots, co2 = load_dataset("sunspots"), load_dataset("co2")
    assert len(sunspots) == 309 and sunspots.targets == ["SUNACTIVITY"]
    assert sunspots.time[0] == 1700 and sunspots.future_times(1)[0] == 2009
    assert co2.gaps > 0 and np.issubdtype(co2.time.dtype, np.datetime64)


def test_season_detection():
    t = np.arange(400)
    assert detect_season(np.sin(2 * np.pi * t / 17) + 0.01 * t) == 17
    assert detect_season(np.random.default_rng(0).normal(size=400)) is None
    assert detect_season(load_dataset("sunspots").values[:200, 0]) == 11


# -- no look-ahead ----------------------------------------------------------------------------


def test_no_test_value_reaches_training_inputs_or_scaling():
    values = _wave(200)[:, None].copy()
    values[30, 0] = np.nan
    series = Series(values, ["y"])
    split = SeriesSplit.of(series, 24, 6, 0.1, 0.2)
    planted = values.copy()
    planted[split.val_end :, 0] = 1e9  # every test value huge
    planted[split.val_end - 1, 0] = np.nan  # a gap at the end of validation, next to them
    other = SeriesSplit.of(Series(planted, ["y"]), 24, 6, 0.1, 0.2)
    assert other.scaling.to_json() == split.scaling.to_json()
    mine, theirs = split.windows("train"), other.windows("train")
    assert torch.equal(mine.x, theirs.x)
    np.testing.assert_array_equal(mine.centre, theirs.centre)
    # validation inputs are unchanged too; the planted gap is filled from before, not after
    mine, theirs = split.windows("validation"), other.windows("validation")
    assert torch.equal(mine.x[:, :24], theirs.x[:, :24])
    assert other.series.values[split.val_end - 1, 0] == values[split.val_end - 2, 0]
    rows = split.windows("train").origin[:, None] + np.arange(-24, 6)
    assert rows.max() < split.train_end and rows.min() >= 0


def test_seasonal_planning_uses_only_the_training_rows():
    values = _wave(300, period=12, noise=0.05)
    values[-80:] = 10 + np.sin(2 * np.pi * np.arange(80) / 5)  # another season after training
    settings, split = plan(Series(values[:, None], ["y"]), ForecastSettings(horizon=6))
    assert settings.season == 12 and settings.window == 24 and split.window == 24


# -- the model --------------------------------------------------------------------------------


def test_gaussian_loss_is_the_normal_negative_log_likelihood():
    model = Forecaster(["y"], window=4, horizon=3)
    theta = torch.randn(5, 3, 2, dtype=torch.float64)
    z = torch.randn(5, 3, dtype=torch.float64)
    sigma = torch.nn.functional.softplus(theta[..., 1]) + 1e-3
    expected = -torch.distributions.Normal(theta[..., 0], sigma).log_prob(z).mean()
    torch.testing.assert_close(model.loss(theta, z), expected)


def test_quantile_loss_is_the_pinball_loss_and_quantiles_never_cross():
    model = Forecaster(["y"], window=4, horizon=1, distribution="quantile", interval=0.8)
    theta = torch.tensor([[[0.3, 1.0, -2.0]]], dtype=torch.float64)
    z = torch.tensor([[0.0]], dtype=torch.float64)
    point, lower, upper = model.summary(theta)
    assert lower < point < upper and float(point) == 1.0
    q = [float(lower), 1.0, float(upper)]
    expected = sum(
        max(t * (0 - v), (t - 1) * (0 - v)) for t, v in zip((0.1, 0.5, 0.9), q, strict=True)
    )
    assert float(model.loss(theta, z)) == pytest.approx(expected)


def test_direct_and_autoregressive_shapes_and_ordered_intervals():
    x = torch.randn(7, 10, 1)
    for mode in ("direct", "autoregressive"):
        for distribution in ("gaussian", "quantile"):
            model = Forecaster(["y"], window=10, horizon=4, mode=mode, distribution=distribution)
            point, lower, upper = model.forecast_z(x, samples=50)
            assert point.shape == lower.shape == upper.shape == (7, 4)
            assert (lower <= upper).all()


def test_autoregressive_rollout_feeds_its_point_forecast_back():
    model = Forecaster(["y"], window=6, horizon=3, mode="autoregressive").double()
    x = torch.randn(2, 6, 1, dtype=torch.float64)
    point, _, _ = model.forecast_z(x, samples=0)
    sequence = x
    for h in range(3):  # re-read the whole window plus the fed-back values, step by step
        theta, _ = model(sequence)
        assert torch.allclose(theta[:, -1, 0].double(), point[:, h].double(), atol=1e-6)
        sequence = torch.cat([sequence, point[:, h].view(2, 1, 1)], 1)


def test_autoregressive_with_covariates_is_refused():
    with pytest.raises(ValueError, match="future"):
        Forecaster(["y"], ["x"], mode="autoregressive")


def test_an_autoregressive_model_tracks_a_sine_wave_over_several_periods():
    t = np.arange(600)
    y = np.sin(2 * np.pi * t / 20)
    settings = ForecastSettings(
        horizon=60,
        window=40,
        season=20,
        mode="autoregressive",
        hidden_size=32,
        epochs=15,
        samples=20,
        val_fraction=0.15,
        test_fraction=0.0,
    )
    split = SeriesSplit.of(Series(y[:, None], ["y"]), 40, 60, 0.15, 0.0)
    trainer = ForecastTrainer(split, settings, **_quiet())
    trainer.fit()
    forecast = trainer.model.predict(y[:530])  # 60 steps: three periods ahead
    error = np.abs(forecast.point[0] - y[530:590])
    assert error.max() < 0.1 and error.mean() < 0.05
    assert (forecast.lower[0] <= forecast.point[0] + 1e-9).all()


# -- baselines and metrics --------------------------------------------------------------------


def test_naive_baselines_and_metrics_by_hand():
    values = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    origins = np.array([5, 6])
    assert naive(values, origins, 2).tolist() == [[5, 5], [6, 6]]
    # season 3: step h from origin o is y[o + h - 3 (h // 3 + 1)]
    assert seasonal_naive(values, origins, 4, 3).tolist() == [[3, 4, 5, 3], [4, 5, 6, 4]]
    actual = np.array([[0.0, 2.0]])
    guess = np.array([[0.0, 4.0]])
    got = scores(actual, guess, np.ones((1, 2), bool), scale=2.0)
    assert got["mae"] == 1.0 and got["rmse"] == math.sqrt(2) and got["mase"] == 0.5
    assert got["smape"] == pytest.approx(200 * (0 + 2 / 6) / 2)  # 0/0 counts 0
    assert scores(actual, guess, np.array([[True, False]]), 1.0)["mae"] == 0.0
    assert mase_scale(np.array([1.0, 3, 2, 4]), 2) == 1.0
    assert mase_scale(np.tile([1.0, 2.0], 5), 2) == 1.0  # exact repeats: the one-step scale


def test_training_keeps_the_best_validation_epoch_and_backtests_it(tmp_path):
    series = Series(_wave(240)[:, None], ["y"], source="wave")
    settings, split = plan(series, ForecastSettings(horizon=6, epochs=8, hidden_size=16))
    result = ForecastTrainer(split, settings, tmp_path / "run", **_quiet()).fit()
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    best = min(h["val_mase"] for h in result.history)
    assert report["best"] == pytest.approx(best)
    model = Forecaster.from_pretrained(tmp_path / "run")
    again = ForecastTrainer(split, settings, **_quiet())
    again.model = model
    assert again.evaluate()["mase"] == pytest.approx(best, rel=1e-5)
    table = result.report.scores["y"]
    assert set(table) == {"model", "naive", "seasonal naive", "ets", "arima"}
    assert table["model"]["mase"] < table["naive"]["mase"]


# -- calibrated intervals ---------------------------------------------------------------------


def test_the_conformal_quantile_is_the_rank_ceil_n_plus_1_times_the_level():
    scores = np.arange(1.0, 20.0)[::-1]  # 19 scores: rank ceil(20 * 0.9) = 18
    assert conformal_quantile(scores, 0.9) == 18.0
    assert conformal_quantile(np.arange(1.0, 6.0), 0.9) == 5.0  # too few: the largest
    with pytest.raises(ValueError, match="no validation forecasts"):
        conformal_quantile(np.array([]), 0.9)


def test_split_conformal_intervals_hold_their_level_on_exchangeable_data():
    """The oracle is the theorem: for n exchangeable scores, the calibrated interval holds a new
    value with probability ceil((n + 1) L) / (n + 1) (0.9 for n = 99), averaged over the draw
    of the n. Here an interval half as wide as the 90% normal interval (it holds 59% of N(0, 1))
    is calibrated on 99 draws, 2,000 times, and its exact coverage 2 Phi(half + q) - 1 of each
    averaged."""
    rng = np.random.default_rng(0)
    half, n = 0.5 * 1.6449, 99
    point, seen, spread, series = (
        np.zeros((n, 1)),
        np.ones((n, 1), bool),
        np.ones(n),
        np.zeros(n, int),
    )
    covered = []
    for _ in range(2000):
        y = rng.normal(size=(n, 1))
        (q,) = calibrate_intervals(point - half, point + half, y, seen, spread, series, 0.9)
        covered.append(math.erf((half + q) / math.sqrt(2)))
    assert math.erf(half / math.sqrt(2)) == pytest.approx(0.59, abs=0.01)
    assert np.mean(covered) == pytest.approx(0.9, abs=0.004)
    (q,) = calibrate_intervals(point - 3, point + 3, y, seen, spread, series, 0.9)
    assert q == 0  # an interval that holds more than 90% is kept as it is


def _airline_like(n: int = 144, seed: int = 0) -> np.ndarray:
    """Monthly passengers that grow, with a season that grows with them (as the 1949-1960
    airline series does)."""
    t = np.arange(n)
    season = 1 + 0.2 * np.sin(2 * np.pi * t / 12) + 0.1 * np.sin(4 * np.pi * t / 12)
    noise = np.exp(np.random.default_rng(seed).normal(0, 0.04, n))
    return (100 + 2.5 * t) * season * noise


def test_training_calibrates_the_intervals_on_the_validation_part(tmp_path):
    """On a growing monthly series the network's own intervals hold far less than 90% of the
    validation values; the calibration saved with it makes them hold at least 90% there (by
    the rank it takes), widening each window's interval by q times its own spread, and the
    test part's coverage is reported before and after."""
    series = Series(_airline_like()[:, None], ["passengers"], source="airline-like")
    settings, split = plan(series, ForecastSettings(horizon=12))
    result = ForecastTrainer(split, settings, tmp_path / "run", **_quiet()).fit()
    model = Forecaster.from_pretrained(tmp_path / "run")
    (q,) = model.calibration
    assert json.loads((tmp_path / "run" / "report.json").read_text())["calibration"] == [q]
    windows = split.windows("validation")
    actual, _ = truth(split.series, windows, split.horizon)
    _, lower, upper = model.forecast(windows, calibrated=False)
    _, wide_lower, wide_upper = model.forecast(windows)
    assert ((lower <= actual) & (actual <= upper)).mean() < 0.8
    assert ((wide_lower <= actual) & (actual <= wide_upper)).mean() >= 0.9
    assert q > 0
    np.testing.assert_allclose(
        upper - lower + 2 * q * windows.deviation[:, None], wide_upper - wide_lower
    )
    row = result.report.scores["passengers"]["model"]
    assert row["uncalibrated coverage"] < row["coverage"]
    assert "before calibration" in result.report.format_table()


def test_a_tampered_calibration_is_refused(tmp_path):
    model = Forecaster(["y"], horizon=2, window=4, hidden_size=4, calibration=[0.5])
    model.save_pretrained(tmp_path / "m")
    assert Forecaster.from_pretrained(tmp_path / "m").calibration == [0.5]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    for bad in ([0.5, 0.5], ["NaN"], "x"):
        config["series"]["calibration"] = bad
        (tmp_path / "m" / "config.json").write_text(json.dumps(config))
        with pytest.raises(ValueError, match="malformed forecaster config"):
            Forecaster.from_pretrained(tmp_path / "m")


def test_predict_from_an_array_a_frame_and_after_loading_agree(tmp_path):
    import pandas as pd

    series = Series(_wave(200)[:, None], ["y"], source="wave")
    settings = ForecastSettings(horizon=5, window=12, epochs=2, hidden_size=8, season=12)
    split = SeriesSplit.of(series, 12, 5, 0.1, 0.2)
    trainer = ForecastTrainer(split, settings, **_quiet())
    trainer.fit()
    trainer.model.save_pretrained(tmp_path / "m")
    loaded = Forecaster.from_pretrained(tmp_path / "m")
    values = series.values[:150, 0]
    a = trainer.model.predict(values)
    b = loaded.predict(pd.DataFrame({"y": values}))
    np.testing.assert_allclose(a.point, b.point, rtol=1e-6)
    assert a.point.shape == (1, 5) and (a.lower <= a.upper).all()
    with pytest.raises(ValueError, match="reads 12"):
        loaded.predict(values[:5])


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def sales_csv(tmp_path):
    n = 160
    y = _wave(n, period=7)
    return _write_csv(
        tmp_path / "sales.csv",
        {"date": _dates(n), "sales": y.round(4).tolist(), "temp": (y * 0.5).round(3).tolist()},
    )


def test_cli_train_predict_evaluate(tmp_path, sales_csv, capsys):
    out = tmp_path / "fc"
    code = main(
        [
            "forecast",
            "train",
            "--csv",
            sales_csv,
            "--target",
            "sales",
            "--covariates",
            "temp",
            "--horizon",
            "7",
            "--epochs",
            "3",
            "--hidden",
            "8",
            "--out",
            str(out),
            "--plot",
            str(tmp_path / "train.png"),
        ]
    )
    shown = capsys.readouterr().out
    assert code == 0 and "season 7" in shown and "seasonal naive" in shown
    width, height = png_size(tmp_path / "train.png")
    assert width >= 400 and height >= 300
    code = main(["forecast", "predict", str(out), "--plot", str(tmp_path / "p.png")])
    shown = capsys.readouterr().out
    assert code == 0 and "2020-06-09" in shown  # the day after the last row
    with open(out / "forecast.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7 and rows[0]["time"].startswith("2020-06-09")
    assert all(float(r["lower"]) <= float(r["forecast"]) <= float(r["upper"]) for r in rows)
    model = Forecaster.from_pretrained(out)  # the library's own forecast, same samples and seed
    expected = model.predict(model_series(model, {}), ForecastSettings.samples, 0).rows()
    for row, want in zip(rows, expected, strict=True):
        assert row["time"] == str(want["time"]) and row["target"] == want["target"]
        for key in ("forecast", "lower", "upper"):
            assert float(row[key]) == pytest.approx(want[key], rel=1e-12)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["forecast", "evaluate", str(out)]) == 0
    assert "arima" in capsys.readouterr().out


def _bad_input(capsys, tmp_path, columns, *extra):
    path = _write_csv(tmp_path / "bad.csv", columns)
    code = main(["forecast", "train", "--csv", path, "--out", str(tmp_path / "o"), *extra])
    return code, one_error_line(capsys)


@pytest.mark.parametrize(
    ("columns", "extra", "message"),
    [
        ({"y": list(range(100))}, ["--target", "sales"], "no column 'sales'"),
        ({"y": ["a", *range(99)]}, ["--target", "y"], "not numeric (row 2"),
        ({"y": list(range(20))}, ["--target", "y"], "too few"),
        ({"y": [5.0] * 100}, ["--target", "y"], "constant"),
        ({"y": [1.0, "inf", *range(98)]}, ["--target", "y"], "infinity at row 3"),
        ({"y": [1.0, "", *range(98)]}, ["--target", "y", "--missing", "refuse"], "missing value"),
        ({"y": list(range(100))}, [], "--csv needs --target"),
        (
            {"y": list(range(100)), "x": list(range(100))},
            ["--target", "y", "--covariates", "x", "--mode", "autoregressive"],
            "future values",
        ),
    ],
)
def test_cli_bad_inputs_give_one_line(tmp_path, capsys, columns, extra, message):
    code, line = _bad_input(capsys, tmp_path, columns, *extra)
    assert code == 2 and message in line


def test_scaling_round_trips_through_json():
    scaling = Scaling(np.array([2.0]), np.array([1.0, 3.0]), np.array([0.5, 4.0]), "window")
    again = Scaling.from_json(json.loads(json.dumps(scaling.to_json())))
    assert again.spread == "window" and again.std.tolist() == [0.5, 4.0]
    target = np.array([[1.0, 3.0, 5.0]])
    x, centre, spread = again.inputs(target, np.zeros((1, 3, 2)), np.array([0]), known=2)
    assert centre[0] == 2.0 and spread[0] == 1.0  # the two inputs' own deviation
    assert x[0, :, 0].tolist() == [-1.0, 1.0, 3.0]
    series = replace(Series(np.ones((3, 1)), ["y"]), values=np.array([[1.0], [1.0], [2.0]]))
    assert Scaling.fit(series, 3).spread == "train"


def test_backtest_panels_and_the_forecast_csv_are_the_models_forecasts(tmp_path):
    from rnnlab.tasks.forecast.predict import backtest_panels, write_forecast_csv

    y = np.sin(np.arange(120) / 3)
    series = Series(y[:, None], ["y"], source="sine")
    model = Forecaster(["y"], window=8, horizon=4, scaling=Scaling.fit(series, 80))
    future = model.predict(y)
    panels = backtest_panels(model, series, 96, future)
    (panel,) = panels
    origins = [int(times[0]) for times, *_ in panel["backtests"]]
    assert origins == [96, 100, 104, 108, 112, 116]  # every horizon-th row of the test part
    windows = gather(series, model.scaling, np.array(origins), 8, 4)
    point, lower, upper = model.forecast(windows)
    for (_, p, lo, up), pw, lw, uw in zip(panel["backtests"], point, lower, upper, strict=True):
        np.testing.assert_allclose(p, pw)
        np.testing.assert_allclose(lo, lw)
        np.testing.assert_allclose(up, uw)
    assert np.array_equal(panel["future"][1], future.point[0]) and panel["test_start"] == 96
    write_forecast_csv(tmp_path / "f.csv", future)
    with open(tmp_path / "f.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["forecast"]) for r in rows] == pytest.approx(future.point[0].tolist())
