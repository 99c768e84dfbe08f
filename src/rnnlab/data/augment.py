"""Augmenting standardised numeric series for training: each series of a batch is changed anew.

For a series z (n, C), with the random draws from the generator given:

- **jitter** sigma: z + e, e ~ N(0, sigma^2) for every value;
- **scale** sigma: z * s, s ~ N(1, sigma^2) once per channel of the series;
- **warp** sigma: z read at warped times, by linear interpolation: speeds drawn ~ N(1, sigma^2)
  (at least 0.1) at ``WARP_KNOTS`` evenly spaced points and interpolated between them; the time
  tau(t) is their running sum scaled onto [0, n - 1], so a series is sped up in some parts and
  slowed in others and keeps its length;
- **slice** fraction r < 1: a random contiguous window of max(1, round(r n)) steps.

(Um et al. 2017 and Iwana & Uchida 2021 survey these for sensor series; window slicing is
Le Guennec et al. 2016's.) Evaluation and prediction always read the whole, unchanged series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

WARP_KNOTS = 4


@dataclass(frozen=True)
class Augmentation:
    """The strength of each change; 0 (and a slice of 1) leaves a series as it is."""

    jitter: float = 0.0
    scale: float = 0.0
    warp: float = 0.0
    slice: float = 1.0

    @property
    def active(self) -> bool:
        return bool(self.jitter or self.scale or self.warp or self.slice < 1)

    def __call__(self, z: Tensor, rng: np.random.Generator) -> Tensor:
        """One augmented copy of z (n, C)."""
        if self.slice < 1:
            z = window_slice(z, self.slice, rng)
        if self.warp:
            z = time_warp(z, self.warp, rng)
        if self.scale:
            z = z * torch.from_numpy(rng.normal(1.0, self.scale, z.shape[1])).to(z.dtype)
        if self.jitter:
            z = z + torch.from_numpy(rng.normal(0.0, self.jitter, tuple(z.shape))).to(z.dtype)
        return z


def window_slice(z: Tensor, fraction: float, rng: np.random.Generator) -> Tensor:
    """A random window of max(1, round(fraction n)) consecutive steps of z (n, C)."""
    n = len(z)
    size = max(1, round(fraction * n))
    start = int(rng.integers(0, n - size + 1))
    return z[start : start + size]


def warped_times(n: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) increasing times in [0, n - 1] at which a warped series reads the original."""
    if n < 2:
        return np.zeros(n)
    speeds = np.maximum(rng.normal(1.0, sigma, WARP_KNOTS), 0.1)
    speed = np.interp(np.linspace(0, 1, n - 1), np.linspace(0, 1, WARP_KNOTS), speeds)
    tau = np.concatenate([[0.0], np.cumsum(speed)])
    return tau * (n - 1) / tau[-1]


def time_warp(z: Tensor, sigma: float, rng: np.random.Generator) -> Tensor:
    """z (n, C) read at :func:`warped_times`, linearly interpolated between steps."""
    n = len(z)
    tau = torch.from_numpy(warped_times(n, sigma, rng)).to(z.dtype)
    left = tau.floor().long().clamp(max=max(n - 2, 0))
    right = (left + 1).clamp(max=n - 1)
    w = (tau - left.to(z.dtype))[:, None]
    return z[left] * (1 - w) + z[right] * w
