"""Forecasting without PyTorch: the window scaled as ``Scaling.inputs`` scales it, the
exported network, the result in the data's units with the interval widened by the model's
calibration (:mod:`rnnlab.tasks.forecast.conformal`)."""

from __future__ import annotations

import numpy as np

from rnnlab.portable.exported import Exported


class Forecaster(Exported):
    """A forecaster: the ``horizon`` steps after a history, point and interval, in the data's
    units (the window scaled as ``Scaling.inputs`` scales it, the interval widened by the
    model's calibration)."""

    def __init__(self, path, threads=None) -> None:
        super().__init__(path, threads)
        m, series = self.model, self.config["series"]
        self.targets, self.covariates = series["targets"], series["covariates"]
        self.window, self.horizon, self.mode = m["window"], m["horizon"], m["mode"]
        scaling = series["scaling"]
        self.scale = np.asarray(scaling["scale"], np.float64)
        self.mean = np.asarray(scaling["mean"], np.float64)
        self.std = np.asarray(scaling["std"], np.float64)
        self.spread = scaling.get("spread", "train")
        self.calibration = series.get("calibration")
        self.states = [i.name for i in self.sessions["forecast"].get_inputs() if i.name != "window"]

    def forecast(self, history: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """history (T, S + C) rows, T >= window -> per target (name, point, lower, upper)."""
        history = np.asarray(history, dtype=np.float64)
        columns = len(self.targets) + len(self.covariates)
        if history.ndim != 2 or history.shape[1] != columns or len(history) < self.window:
            raise ValueError(
                f"the history needs {self.window} rows or more of {columns} column(s): "
                + ", ".join(self.targets + self.covariates)
            )
        if not np.isfinite(history).all():
            raise ValueError("the history holds a missing or infinite value")
        rows = history[-self.window :]
        results = []
        for j, name in enumerate(self.targets):
            target = rows[:, j]
            deviation = max(target.std(), self.scale[j] / 10)
            centre = target.mean()
            spread = deviation if self.spread == "window" else self.scale[j]
            z = (target - centre) / spread
            c = (rows[:, len(self.targets) :] - self.mean) / self.std
            x = np.concatenate([z[:, None], c], -1).astype(np.float32)[None]
            point, lower, upper = self._z_forecast(x)
            if self.calibration is not None:
                move = self.calibration[j] * deviation / spread
                lower, upper = lower - move, upper + move
            results.append(
                (name, centre + spread * point, centre + spread * lower, centre + spread * upper)
            )
        return results

    def _z_forecast(self, x: np.ndarray):
        layers, hidden = self.model["num_layers"], self.model["hidden_size"]
        state = {name: np.zeros((layers, 1, hidden), np.float32) for name in self.states}
        out = self.run("forecast", window=x, **state)
        if self.mode == "direct":
            return (out[k][0].astype(np.float64) for k in ("point", "lower", "upper"))
        # autoregressive: roll the point forecast out; the interval is the network's, step by
        # step along that path (rnnlab draws sample paths instead)
        path = {k: [] for k in ("point", "lower", "upper")}
        for h in range(self.horizon):
            for k in path:
                path[k].append(float(out[k][0, -1]))
            if h + 1 < self.horizon:
                state = {name: out[f"{name}_out"] for name in self.states}
                step = np.array([[[path["point"][-1]]]], np.float32)
                out = self.run("forecast", window=step, **state)
        return (np.array(path[k]) for k in ("point", "lower", "upper"))
