"""The epoch loop that every supervised task shares (classifier, translator, conditional
generator): length-bucketed batches, AdamW with warm-up and cosine decay fitted to the epochs or
the wall-clock budget, a checked update, and after every epoch a held-out score and a save.

A task subclasses :class:`EpochTrainer` and supplies four things: ``build_model()``,
``batch_loss(batch)`` (the mean loss of a batch of example indices, computed inside the
autocast context), ``evaluate(final)`` (the task's report on the held-out split; the run's
last one has ``final`` set) and ``scores(report)``
(the figures printed and recorded per epoch). The checkpoint is the model at the end of the run,
saved after each epoch, so a run cut short keeps its last finished epoch; the held-out split is
only reported, never used to choose a model. A task that has a validation split apart from its
test split may override ``keep(scores)`` to save only its best epoch (the forecaster does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rnnlab.checkpoint import CONFIG, WEIGHTS, write_json
from rnnlab.data.labelled import bucket_batches
from rnnlab.kernels import resolve_precision
from rnnlab.training.schedule import learning_rate
from rnnlab.training.setup import adamw, autocast, training_device, update


@dataclass
class EpochResult:
    epochs: float
    steps: int
    elapsed: float
    history: list[dict] = field(default_factory=list)  # per epoch: train_loss and the scores
    report: object | None = None  # the task's final report on the held-out split


class EpochTrainer:
    """Trains ``build_model()`` on examples of the given ``lengths`` (used to bucket batches).

    ``settings`` is an :class:`EpochSettings`; it is saved in the checkpoint's config as
    ``training``.

    Args:
        out: checkpoint directory (must not hold another run), or None to keep nothing.
        echo: where per-epoch lines go; progress: show a tqdm bar on stderr.
        sources: the data files, recorded in the config.
    """

    def __init__(
        self,
        settings,
        lengths: Sequence[int],
        out: str | Path | None = None,
        *,
        echo: Callable[[str], object] | None = None,
        progress: bool = True,
        sources: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.out = Path(out) if out is not None else None
        self.echo = echo or tqdm.write
        self.progress_bar, self.sources = progress, sources or []
        self.device = training_device()
        self.precision = resolve_precision(settings.precision, self.device)
        torch.manual_seed(settings.seed)
        self.rng = np.random.default_rng(settings.seed)
        self.model: nn.Module = self.build_model().to(self.device)
        self.optimizer = adamw(self.model, settings.lr, settings.weight_decay)
        self.lengths = list(lengths)
        if not self.lengths:
            raise ValueError("there are no training examples")
        self.batches_per_epoch = math.ceil(len(self.lengths) / settings.batch_size)
        self.total_steps = settings.epochs * self.batches_per_epoch if settings.epochs else None
        self.step, self.elapsed = 0, 0.0

    ECHO_EVERY = 1  # print every n-th epoch's line (and the last)

    # -- what a task supplies -----------------------------------------------------------------

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def batch_loss(self, batch: list[int]) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, final: bool = False):
        """The task's report on the held-out split; ``final`` for the last one of the run,
        which may do more (beam search, samples)."""
        raise NotImplementedError

    def scores(self, report) -> dict[str, float]:
        raise NotImplementedError

    def keep(self, scores: dict[str, float]) -> bool:
        """Whether to save this epoch's model; every epoch by default, so the checkpoint is the
        end of the run. A task with a validation split may keep only its best epoch."""
        return True

    def write_report(self, result: EpochResult) -> None:
        """Write the task's report files into ``self.out`` (called once, at the end)."""

    # -- the loop -----------------------------------------------------------------------------

    def autocast(self):
        return autocast(self.precision, self.device)

    def progress(self) -> float:
        """The fraction of the run done: of the steps or of the budget, whichever is further."""
        done = self.step / self.total_steps if self.total_steps else 0.0
        if self.settings.budget:
            done = max(done, self.elapsed / self.settings.budget)
        return done

    def fit(self) -> EpochResult:
        """Train until the epochs or the budget are used up."""
        if self.out is not None:
            self._claim_out()
        result = EpochResult(0.0, 0, 0.0)
        bar = tqdm(
            total=1000,
            disable=not self.progress_bar,
            bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}",
            dynamic_ncols=True,
        )
        clock = time.perf_counter()
        epoch, report = 0, None
        try:
            while self.progress() < 1:
                losses = []
                batches = bucket_batches(self.lengths, self.settings.batch_size, self.rng)
                for batch in batches:
                    losses.append(self._train_step(batch))
                    self.elapsed = time.perf_counter() - clock
                    bar.set_postfix_str(f"epoch {epoch + 1} loss {losses[-1]:.3f}", refresh=False)
                    bar.update(int(1000 * min(1.0, self.progress())) - bar.n)
                    if self.progress() >= 1:
                        break
                epoch += 1
                report = self.evaluate(final=self.progress() >= 1)
                scores = self.scores(report)
                done = epoch - 1 + len(losses) / len(batches)
                result.history.append(
                    {
                        "epoch": done,
                        "step": self.step,
                        "elapsed": time.perf_counter() - clock,
                        "train_loss": float(np.mean(losses)),
                        **scores,
                    }
                )
                shown = ", ".join(f"{name.replace('_', ' ')} {v:.4f}" for name, v in scores.items())
                if epoch % self.ECHO_EVERY == 0 or self.progress() >= 1:
                    self.echo(f"epoch {done:.2f}: train loss {np.mean(losses):.4f}, {shown}")
                if self.keep(scores):
                    self._save_model(scores)
                self.elapsed = time.perf_counter() - clock
        finally:
            bar.close()
        result.epochs = result.history[-1]["epoch"] if result.history else 0.0
        result.steps, result.elapsed, result.report = self.step, self.elapsed, report
        if self.out is not None:
            self.write_report(result)
        return result

    def _train_step(self, batch: list[int]) -> float:
        s = self.settings
        lr = learning_rate(self.step, self.progress(), s.lr, s.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        with self.autocast():
            loss = self.batch_loss(batch)
        value = update(loss, self.model, self.optimizer, s.clip, self._diverged)
        self.step += 1
        return value

    def _diverged(self, what: str) -> None:
        saved = self.out is not None and (self.out / WEIGHTS).is_file()
        kept = f"{self.out} keeps the last finished epoch" if saved else "no model saved"
        raise ValueError(
            f"{what} at step {self.step + 1}: training diverged and stopped ({kept}); "
            "try a lower --lr"
        )

    # -- checkpoints --------------------------------------------------------------------------

    def _claim_out(self) -> None:
        if (self.out / CONFIG).exists():
            raise ValueError(f"{self.out} already holds a checkpoint; choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        config = self.model.config()
        config["training"] = self.settings.to_config()
        config["data"] = {"sources": self.sources}
        write_json(self.out / CONFIG, config)

    def _save_model(self, scores: dict[str, float]) -> None:
        if self.out is not None:
            self.model.save_pretrained(self.out, {"step": self.step, **scores})


def at_least_fp32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in float32, or in its own type when that is wider (float64 stays float64)."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))
