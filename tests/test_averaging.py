"""The moving average of the weights (``--ema``): the average equals the recurrence computed by
hand, the loop validates and saves the average while it trains the weights themselves, and the
run ends holding the average."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnlab.checkpoint import WEIGHTS, read_tensors
from rnnlab.training.averaging import WeightAverage, decay_at
from test_loop import Toy, settings


def test_the_decay_warms_up_to_its_value():
    assert decay_at(0.999, 2) == pytest.approx(3 / 12)
    assert decay_at(0.999, 100) == pytest.approx(101 / 110)
    assert decay_at(0.9, 1000) == 0.9


def test_the_average_is_the_recurrence_by_hand():
    model = nn.Linear(3, 2)
    average = WeightAverage(model, 0.8)
    expected = None
    for n in range(1, 8):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        average.update(model)
        w = {k: v.clone() for k, v in model.state_dict().items()}
        if expected is None:
            expected = w
        else:
            d = min(0.8, (1 + n) / (10 + n))
            expected = {k: d * expected[k] + (1 - d) * w[k] for k in w}
    assert average.count == 7
    for name, value in average.state().items():
        torch.testing.assert_close(value, expected[name])


def test_applied_puts_the_average_in_and_the_weights_back():
    model = nn.Linear(2, 2)
    average = WeightAverage(model, 0.5)
    average.update(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    trained = model.weight.detach().clone()
    with average.applied(model):
        torch.testing.assert_close(model.weight, before["weight"])
    assert torch.equal(model.weight, trained)


def test_a_decay_outside_the_unit_interval_is_refused():
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(nn.Linear(1, 1), 1.0)


class Watched(Toy):
    """The toy that notes the weights after every step and the weights it evaluates."""

    def __init__(self, *args, **kw):
        super().__init__(*args, on_step=self.note, **kw)
        self.trained, self.evaluated = [], []

    def note(self, loop, step, loss):
        self.trained.append(self.model.layer.weight.detach().clone())

    def evaluate(self, final=False):
        self.evaluated.append(self.model.layer.weight.detach().clone())
        return super().evaluate(final)


def _by_hand(weights: list[torch.Tensor], decay: float) -> list[torch.Tensor]:
    averages = [weights[0]]
    for n, w in enumerate(weights[1:], start=2):
        d = min(decay, (1 + n) / (10 + n))
        averages.append(d * averages[-1] + (1 - d) * w)
    return averages


def test_the_loop_validates_saves_and_ends_with_the_average(tmp_path):
    toy = Watched(settings(ema=0.7), tmp_path / "run", scores=[0.5, 0.3, 0.4])
    toy.fit()
    averages = _by_hand(toy.trained, 0.7)
    # evaluated after steps 4, 8 and 12: the averages then, not the trained weights
    for evaluated, step in zip(toy.evaluated, (4, 8, 12), strict=True):
        torch.testing.assert_close(evaluated, averages[step - 1])
    assert not torch.allclose(toy.evaluated[-1], toy.trained[-1])
    saved = read_tensors(tmp_path / "run" / WEIGHTS)[0]["layer.weight"]
    torch.testing.assert_close(saved, averages[7])  # the best validation, after step 8
    torch.testing.assert_close(toy.model.layer.weight.detach(), averages[-1])


def test_without_ema_the_loop_evaluates_the_trained_weights():
    toy = Watched(settings())
    toy.fit()
    assert all(
        torch.equal(e, toy.trained[s - 1]) for e, s in zip(toy.evaluated, (4, 8, 12), strict=True)
    )
