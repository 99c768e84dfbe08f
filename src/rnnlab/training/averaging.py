"""An exponential moving average of the weights, which a run validates and saves (``--ema``).

After every update n (n = 1, 2, ...) of the weights w_n, the average is

    a_1 = w_1,    a_n = d_n a_(n-1) + (1 - d_n) w_n,    d_n = min(decay, (1 + n) / (10 + n))

the decay warmed up as in TensorFlow's ``ExponentialMovingAverage`` (``num_updates``), so that
a short run's average is not dominated by its first, untrained weights. Kept by
``torch.optim.swa_utils.AveragedModel`` (parameters and buffers); :meth:`WeightAverage.applied`
puts the average into the model for a validation or a save and the trained weights back after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel


def decay_at(decay: float, n: int) -> float:
    """d_n of the module docstring: the weight the average keeps at update ``n`` (>= 2)."""
    return min(decay, (1 + n) / (10 + n))


class WeightAverage:
    """The moving average of ``model``'s weights with ``decay`` (see the module docstring)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the average's decay must be in (0, 1), got {decay!r}")

        def blend(averaged: list[Tensor], current: list[Tensor], count: Tensor) -> None:
            # count updates are averaged already: this is update n = count + 1
            torch._foreach_lerp_(averaged, current, 1.0 - decay_at(decay, int(count) + 1))

        self.averaged = AveragedModel(model, multi_avg_fn=blend, use_buffers=True)

    @property
    def count(self) -> int:
        """The updates averaged so far."""
        return int(self.averaged.n_averaged)

    def update(self, model: nn.Module) -> None:
        """Blend in ``model``'s weights after an update."""
        self.averaged.update_parameters(model)

    def _pairs(self, model: nn.Module) -> list[tuple[Tensor, Tensor]]:
        """(the model's tensor, the average's) for every parameter and buffer, in order."""
        ours = [*self.averaged.module.parameters(), *self.averaged.module.buffers()]
        theirs = [*model.parameters(), *model.buffers()]
        return list(zip(theirs, ours, strict=True))

    def copy_to(self, model: nn.Module) -> None:
        """Put the average into ``model`` (nothing before the first update)."""
        if self.count:
            with torch.no_grad():
                for mine, average in self._pairs(model):
                    mine.copy_(average)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """``model`` holds the average inside the block and its own weights again after it."""
        kept = [mine.detach().clone() for mine, _ in self._pairs(model)]
        self.copy_to(model)
        try:
            yield
        finally:
            with torch.no_grad():
                for (mine, _), value in zip(self._pairs(model), kept, strict=True):
                    mine.copy_(value)

    def state(self) -> dict[str, Tensor]:
        """The average's tensors by name (the model's names), for the trainer state."""
        return dict(self.averaged.module.state_dict())

    def load(self, tensors: dict[str, Tensor], count: int) -> None:
        """Restore what :meth:`state` saved, after ``count`` updates."""
        self.averaged.module.load_state_dict(tensors)
        self.averaged.n_averaged.fill_(count)
