"""The forecaster (many-to-one or many-to-many over numbers): a window of a series in, the next
H values out, each with an interval.

The network reads the window's inputs u_t = [z_t; covariates_t] (see
:class:`~rnnlab.tasks.forecast.series.Scaling` for z) with a recurrent layer,
h_t = RNN(u_t, h_{t-1}), and has one of two output modes:

    direct:          θ_{o..o+H-1} = W_o h_{o-1} + b_o        (one head emits all H steps)
    autoregressive:  θ_{t+1} = W_o h_t + b_o                  (one step ahead, at every step)

The autoregressive model is trained on every step of the window (teacher forcing) and forecasts
by rolling out: the generation loop applied to numbers, feeding each point forecast back as the
next input. Its intervals come from ``samples`` sample paths that feed back draws instead.

θ describes a distribution, trained with a proper scoring rule:

    gaussian:  θ = (μ, σ), σ = softplus(·) + 1e-3;  loss = log σ + (z - μ)² / (2σ²) + log √(2π)
    quantile:  θ = (q_lo, q_0.5, q_hi) at levels ((1-L)/2, 0.5, (1+L)/2), the outer two as
               q_0.5 ∓ softplus(·) so they never cross;  loss = Σ_τ max(τ e, (τ-1) e), e = z - q_τ

The point forecast is μ or q_0.5; the interval at level L is μ ± Φ⁻¹((1+L)/2) σ or [q_lo, q_hi],
then calibrated on the validation part (:mod:`~rnnlab.tasks.forecast.conformal`).
Outputs are turned back into the data's units: y = centre + s_j z.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.checks import check_choice
from rnnlab.limits import require_memory
from rnnlab.modes import evaluating
from rnnlab.pretrained import Pretrained
from rnnlab.recurrent import Recurrent
from rnnlab.tasks.forecast.conformal import calibrate_intervals, widen
from rnnlab.tasks.forecast.series import Scaling, Series, from_frame
from rnnlab.tasks.forecast.windows import Windows, gather

FORMAT = "rnnlab.forecaster"
MODES = ("direct", "autoregressive")
DISTRIBUTIONS = ("gaussian", "quantile")


@dataclass
class Forecast:
    """Forecasts in the data's units: ``point``, ``lower`` and ``upper`` (S, H) for the targets
    ``targets``, the interval at ``level``; ``times`` (H,) the steps forecast, when known."""

    targets: list[str]
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    times: np.ndarray | None = None

    def rows(self) -> list[dict]:
        """One dict per step and target: time, target, point, lower, upper."""
        times = self.times if self.times is not None else np.arange(1, self.point.shape[1] + 1)
        times = np.asarray(times)
        if np.issubdtype(times.dtype, np.datetime64):  # dates alone when every time is midnight
            days = times.astype("datetime64[D]")
            times = np.datetime_as_string(times, unit="D" if (days == times).all() else "s")
        return [
            {
                "time": str(times[h]),
                "target": name,
                "forecast": float(self.point[j, h]),
                "lower": float(self.lower[j, h]),
                "upper": float(self.upper[j, h]),
            }
            for h in range(self.point.shape[1])
            for j, name in enumerate(self.targets)
        ]


def default_window(horizon: int, season: int | None) -> int:
    """The steps a forecaster reads when none are asked for: 2 max(H, m)."""
    return 2 * max(horizon, season or 1)


class Forecaster(Pretrained, nn.Module):
    """Forecasts ``horizon`` steps of the ``targets`` series from ``window`` steps of them and
    of the ``covariates`` (see the module docstring).

    Args:
        targets, covariates: the column names, in the order of a history's columns.
        scaling: the training part's :class:`~rnnlab.tasks.forecast.series.Scaling`.
        window, horizon: W steps read, H steps forecast.
        mode: ``direct`` or ``autoregressive`` (which cannot use covariates: their future
            values would be needed).
        distribution: ``gaussian`` or ``quantile``; interval: the level L of the intervals.
        cell, hidden_size, num_layers, dropout, init, forget_bias: the recurrent layers.
        season: the season length used by the baselines (None: none), kept for reports.
        time: the name of the time column, or None.
        calibration: q per target, which widens the intervals (see
            :mod:`~rnnlab.tasks.forecast.conformal`); None: as the network makes them.
    """

    FORMAT = FORMAT
    KIND = "forecaster"
    DATA = ("targets", "covariates", "scaling", "season", "time", "calibration")

    def __init__(
        self,
        targets: Sequence[str],
        covariates: Sequence[str] = (),
        scaling: Scaling | None = None,
        window: int | None = None,
        horizon: int = 10,
        mode: str = "direct",
        distribution: str = "gaussian",
        interval: float = 0.9,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        init: str = "default",
        forget_bias: float | None = None,
        season: int | None = None,
        time: str | None = None,
        calibration: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        check_choice("mode", mode, MODES)
        check_choice("distribution", distribution, DISTRIBUTIONS)
        if mode == "autoregressive" and covariates:
            raise ValueError(
                "an autoregressive rollout cannot use covariates: it would need their future "
                "values; use --mode direct"
            )
        if not 0 < interval < 1:
            raise ValueError("interval must be in (0, 1)")
        self.targets, self.covariates = list(targets), list(covariates)
        s, c = len(self.targets), len(self.covariates)
        self.scaling = scaling or Scaling(np.ones(s), np.zeros(c), np.ones(c))
        window = window or default_window(horizon, season)
        self.window, self.horizon, self.mode = window, horizon, mode
        self.distribution, self.interval = distribution, interval
        self.season, self.time = season, time
        self.calibration = None if calibration is None else [float(q) for q in calibration]
        if self.calibration is not None and (
            len(self.calibration) != len(self.targets)
            or not all(math.isfinite(q) for q in self.calibration)
        ):
            raise ValueError("the calibration needs one finite value per target")
        self.settings = self.constructor_arguments(locals())
        self.rnn = Recurrent(
            cell,
            1 + c,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            init=init,
            forget_bias=forget_bias,
        )
        steps = horizon if mode == "direct" else 1
        self.head = nn.Linear(hidden_size, steps * 2 if distribution == "gaussian" else steps * 3)
        self.levels = ((1 - interval) / 2, 0.5, (1 + interval) / 2)

    # -- the function -------------------------------------------------------------------------

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, object]:
        """x (B, T, 1 + C) -> θ (B, H, P) in direct mode (from the last step), (B, T, P) one
        step ahead at every step in autoregressive mode; and the recurrent state."""
        output, state = self.rnn(x, state)
        if self.mode == "direct":
            theta = self.head(output[:, -1]).view(x.shape[0], self.horizon, -1)
        else:
            theta = self.head(output)
        return theta.float(), state

    def loss(self, theta: Tensor, z: Tensor) -> Tensor:
        """The mean proper scoring rule of θ (..., P) for the values z (...)."""
        if self.distribution == "gaussian":
            mu, sigma = theta[..., 0], F.softplus(theta[..., 1]) + 1e-3
            return (torch.log(sigma) + 0.5 * ((z - mu) / sigma) ** 2).mean() + 0.5 * math.log(
                2 * math.pi
            )
        q = self._quantiles(theta)
        tau = torch.tensor(self.levels, dtype=q.dtype, device=q.device)
        error = z[..., None] - q
        return torch.maximum(tau * error, (tau - 1) * error).sum(-1).mean()

    def _quantiles(self, theta: Tensor) -> Tensor:
        mid = theta[..., 1]
        return torch.stack(
            [mid - F.softplus(theta[..., 0]), mid, mid + F.softplus(theta[..., 2])], -1
        )

    def summary(self, theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """θ -> the point forecast and the interval's lower and upper ends."""
        if self.distribution == "quantile":
            lower, mid, upper = self._quantiles(theta).unbind(-1)
            return mid, lower, upper
        mu, sigma = theta[..., 0], F.softplus(theta[..., 1]) + 1e-3
        width = sigma * _normal_quantile(self.levels[2])
        return mu, mu - width, mu + width

    def sample(self, theta: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw per row of θ: from N(μ, σ²), or from the piecewise-linear quantile function
        through the three quantiles (extended linearly beyond them)."""
        if self.distribution == "gaussian":
            noise = torch.randn(theta.shape[:-1], generator=generator, dtype=theta.dtype)
            return theta[..., 0] + (F.softplus(theta[..., 1]) + 1e-3) * noise.to(theta.device)
        q = self._quantiles(theta)
        u = torch.rand(theta.shape[:-1], generator=generator, dtype=theta.dtype).to(theta.device)
        lo, mid, hi = self.levels
        below = q[..., 0] + (u - lo) * (q[..., 1] - q[..., 0]) / (mid - lo)
        above = q[..., 1] + (u - mid) * (q[..., 2] - q[..., 1]) / (hi - mid)
        return torch.where(u < mid, below, above)

    # -- forecasting --------------------------------------------------------------------------

    @torch.no_grad()
    def forecast_z(
        self, x: Tensor, samples: int = 200, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, ≥W, 1 + C) windows (the first W steps are read) -> point, lower, upper
        (B, H) in z units. An autoregressive model rolls out its point forecast and ``samples``
        sample paths; the interval is their empirical quantiles."""
        x = x[:, : self.window].to(self.head.weight.device)
        if self.mode == "direct":
            theta, _ = self(x)
            return self.summary(theta)
        count = len(x)
        require_memory(  # the paths and the inputs they feed back, float32
            count * (samples + 1) * (self.horizon + self.window) * x.shape[-1] * 4 * 2,
            f"{samples:,} sample paths of {self.horizon:,} steps",
        )
        if samples < 1:  # the point path alone; no interval
            point = self._rollout(x, lambda theta: self.summary(theta)[0])
            return point, point, point

        def choose(theta: Tensor) -> Tensor:
            drawn = self.sample(theta[count:], generator)
            return torch.cat([self.summary(theta[:count])[0], drawn])

        paths = self._rollout(torch.cat([x, x.repeat_interleave(samples, 0)]), choose)
        drawn = paths[count:].view(count, samples, self.horizon)
        levels = torch.tensor([self.levels[0], self.levels[2]], dtype=drawn.dtype)
        lower, upper = torch.quantile(drawn, levels.to(drawn.device), dim=1)
        return paths[:count], lower, upper

    def _rollout(self, x: Tensor, choose) -> Tensor:
        """Read the windows x (B, W, 1), then H times: y = choose(θ), feed y back. -> (B, H)."""
        theta, state = self(x)
        theta, steps = theta[:, -1], []
        for h in range(self.horizon):
            steps.append(choose(theta))
            if h + 1 < self.horizon:
                theta, state = self(steps[-1].view(-1, 1, 1).to(x.dtype), state)
                theta = theta[:, -1]
        return torch.stack(steps, 1)

    def forecast(
        self,
        windows: Windows,
        samples: int = 200,
        seed: int = 0,
        batch: int = 1024,
        calibrated: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point, lower and upper (n, H) in the data's units for each of ``windows``; the
        interval widened by the model's ``calibration`` unless ``calibrated`` is False."""
        generator = torch.Generator().manual_seed(seed)
        with evaluating(self, no_grad=False):
            parts = [
                self.forecast_z(windows.x[i : i + batch], samples, generator)
                for i in range(0, len(windows), batch)
            ]
        point, lower, upper = (
            windows.centre[:, None] + windows.spread[:, None] * torch.cat(p).double().cpu().numpy()
            for p in zip(*parts, strict=True)
        )
        if calibrated:
            lower, upper = self.calibrated(lower, upper, windows)
        return point, lower, upper

    def calibrated(self, lower, upper, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
        """The bounds (n, H) of ``windows``' forecasts widened by the ``calibration``."""
        if self.calibration is None:
            return lower, upper
        q = np.asarray(self.calibration)[windows.series]
        return widen(lower, upper, q, windows.deviation)

    def calibrate(
        self, windows: Windows, actual: np.ndarray, observed: np.ndarray, samples: int = 200
    ) -> list[float]:
        """Set (and return) the ``calibration`` from ``windows`` the network did not train
        on, their ``actual`` values (n, H) and where they were ``observed``."""
        _, lower, upper = self.forecast(windows, samples, calibrated=False)
        self.calibration = calibrate_intervals(
            lower, upper, actual, observed, windows.deviation, windows.series, self.interval
        )
        return self.calibration

    def predict(self, history, samples: int = 200, seed: int = 0) -> Forecast:
        """The forecast of the ``horizon`` steps after ``history``: a :class:`Series`, a pandas
        DataFrame with the target and covariate columns, or an array (T, S + C) of those
        columns in that order (T >= ``window``; gaps are filled as the reader fills them)."""
        series = self._as_series(history)
        if len(series) < self.window:
            raise ValueError(f"the history has {len(series)} rows; the model reads {self.window}")
        series = series.repaired()
        windows = gather(series, self.scaling, np.array([len(series)]), self.window, self.horizon)
        point, lower, upper = self.forecast(windows, samples, seed)
        return Forecast(
            self.targets, point, lower, upper, self.interval, series.future_times(self.horizon)
        )

    def _as_series(self, history) -> Series:
        columns = self.targets + self.covariates
        if isinstance(history, Series):
            if history.targets + history.covariates != columns:
                raise ValueError(
                    f"the series has columns {history.targets + history.covariates}; "
                    f"the model reads {columns}"
                )
            return history
        if hasattr(history, "columns"):  # a pandas DataFrame
            time = self.time if self.time in history.columns else None
            return from_frame(history, self.targets, time, self.covariates, source="history")
        values = np.asarray(history, dtype=np.float64)
        values = values[:, None] if values.ndim == 1 else values
        if values.ndim != 2 or values.shape[1] != len(columns):
            raise ValueError(f"the history must be an array (T, {len(columns)}): {columns}")
        if np.isinf(values).any():
            raise ValueError("the history holds infinity")
        return Series(values, self.targets, self.covariates, source="history")

    # -- checkpoints (save_pretrained, from_pretrained: see rnnlab.pretrained) ----------

    def config(self) -> dict:
        return {
            "format": FORMAT,
            "model": dict(self.settings),
            "series": {
                "targets": self.targets,
                "covariates": self.covariates,
                "scaling": self.scaling.to_json(),
                "season": self.season,
                "time": self.time,
                "calibration": self.calibration,
            },
        }

    @classmethod
    def _from_config(cls, config: dict) -> Forecaster:
        series = dict(config["series"])
        scaling = Scaling.from_json(series.pop("scaling"))
        return cls(scaling=scaling, **series, **config["model"])


def _normal_quantile(p: float) -> float:
    return float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p, dtype=torch.float64)))
