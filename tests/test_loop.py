"""The loop's contract, checked on a toy task: when it evaluates, which model it keeps, how a
budget ends a run (an injected clock), how a stop saves and a resume continues, and that a
non-finite loss stops it before the weights change."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from rnnlab.checkpoint import TRAINER_STATE, WEIGHTS, read_tensors
from rnnlab.settings import RunSettings
from rnnlab.training.loop import Diverged, EpochTrainer, Loop


class Line(nn.Module):
    """y = w x + b, with the config a checkpoint needs."""

    FORMAT, KIND = "test.line", "line"

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def forward(self, x):
        return self.layer(x)

    def config(self) -> dict:
        return {"format": self.FORMAT}

    def save_pretrained(self, directory, meta=None):
        from rnnlab.checkpoint import write_tensors

        write_tensors(directory / WEIGHTS, dict(self.state_dict()), meta or {})


class Report(dict):
    """What the toy's evaluation returns: ``{"final": ...}``, written as it is."""

    def to_json(self) -> dict:
        return dict(self)


X = torch.linspace(-1, 1, 12)[:, None]
Y = 3 * X + 1


class Toy(EpochTrainer):
    """Fits a line to 12 points, 3 per batch: 4 steps a pass; scores a fixed list, in turn."""

    def __init__(self, settings, out=None, scores=(), **options):
        super().__init__(settings, Line, [1] * 12, out, echo=lambda line: None, **options)
        self.planned = list(scores)
        self.questions = 0

    def batch_loss(self, batch):
        return nn.functional.mse_loss(self.model(X[batch]), Y[batch])

    def evaluate(self, final=False):
        return Report(final=final)

    def scores(self, report):
        value = self.planned[len(self.records)] if self.planned else 0.0
        return {"score": value}

    def monitor(self, scores):
        self.questions += 1
        return scores["score"] if self.planned else None


def settings(**kw) -> RunSettings:
    return RunSettings(**({"batch_size": 3, "epochs": 3, "warmup": 1, "lr": 0.05} | kw))


def test_evaluates_after_every_pass_and_finally():
    result = Toy(settings()).fit()
    assert [r["step"] for r in result.history] == [4, 8, 12]
    assert result.report == {"final": True}
    assert result.steps == 12 and result.epochs == 3


def test_keeps_the_best_by_monitor_and_asking_changes_nothing(tmp_path):
    toy = Toy(settings(), tmp_path / "run", scores=[0.5, 0.7, 0.3])
    toy.fit()
    assert (toy.best, toy.best_step) == (0.3, 12)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [e["score"] for e in report["epochs"]] == [0.5, 0.7, 0.3]
    assert report["final"] == {"final": True}
    assert toy.questions == 3
    assert toy.monitor({"score": 0.0}) == 0.0 and (toy.best, toy.best_step) == (0.3, 12)
    kept = Toy(settings(epochs=2), tmp_path / "worse", scores=[0.5, 0.7])
    kept.fit()
    assert read_tensors(tmp_path / "worse" / WEIGHTS)[1]["step"] == 4  # the better one stays


def test_a_budget_ends_the_run_by_the_injected_clock():
    ticks = iter(range(1000))
    toy = Toy(settings(epochs=None, budget=10.0), clock=lambda: float(next(ticks)))
    result = toy.fit()
    assert result.elapsed >= 10.0 and toy.progress() >= 1
    assert result.history[-1]["step"] == result.steps  # the budget's end is evaluated
    assert not result.stopped


def test_a_stop_saves_and_a_resume_takes_the_same_steps(tmp_path):
    full = Toy(settings(), tmp_path / "full")
    full.fit()

    def stop(loop, step, loss):
        if step == 6:
            loop.request_stop()

    first = Toy(settings(), tmp_path / "split", on_step=stop)
    assert first.fit().stopped
    assert read_tensors(tmp_path / "split" / TRAINER_STATE)[1]["step"] == 6
    second = Toy(settings(), tmp_path / "split")
    second.load_state(tmp_path / "split")
    result = second.fit()
    assert not result.stopped and result.steps == 12
    assert second.losses == full.losses
    assert [r["step"] for r in result.history] == [4, 8, 12]
    assert torch.equal(second.model.layer.weight, full.model.layer.weight)


def test_a_non_finite_loss_stops_before_the_update(tmp_path):
    toy = Toy(settings(), tmp_path / "run")
    original = toy.batch_loss

    def loss(batch):
        value = original(batch)
        return value * math.inf if toy.step == 5 else value

    toy.batch_loss = loss
    with pytest.raises(Diverged) as info:
        toy.fit()
    assert info.value.step == 6 and toy.step == 5
    saved = read_tensors(tmp_path / "run" / TRAINER_STATE)[1]
    assert saved["step"] == 4  # the last evaluation's state is what stays


def test_a_task_that_is_finished_early_stops():
    class Solved(Toy):
        def finished(self):
            return self.step >= 2

    assert Solved(settings()).fit().steps == 2


def test_hooks_default_to_every_pass_and_every_model():
    loop = Loop.__new__(Loop)
    assert Loop.evaluation_due(loop, within_pass=False)
    assert not Loop.evaluation_due(loop, within_pass=True)
    assert Loop.monitor(loop, {"x": 1.0}) is None


def test_evaluating_turns_dropout_off_and_restores_the_mode_even_on_an_error():
    from rnnlab.modes import evaluating

    model = nn.Sequential(nn.Dropout(0.5))
    x = torch.ones(1000)
    with evaluating(model):
        assert torch.equal(model(x), x) and not torch.is_grad_enabled()
    assert model.training
    model.eval()
    with pytest.raises(RuntimeError), evaluating(model, no_grad=False):
        assert torch.is_grad_enabled()
        raise RuntimeError
    assert not model.training  # back to eval, as it was


def test_a_stop_at_the_last_step_ends_the_run_with_its_final_evaluation(tmp_path):
    def stop(loop, step, loss):
        if step == 4:
            loop.request_stop()

    result = Toy(settings(epochs=1), tmp_path / "run", on_step=stop).fit()
    assert not result.stopped and result.steps == 4
    assert result.report == {"final": True}  # evaluated although the pass's end was cut short
    assert (tmp_path / "run" / "report.json").is_file()
