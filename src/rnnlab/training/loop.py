"""The training loop every task runs on.

    seed; build the model; AdamW (weight decay on matrices only)
    until the epochs or the budget are used up, the task is finished, or a stop is requested:
        for each batch of a pass over the data (``batches()``):
            lr = learning_rate(step, progress)            warm-up, then cosine decay to FINAL_LR
            loss = batch_loss(batch)                      under autocast (bfloat16 where native)
            check the loss, backpropagate, clip the gradient norm, check it, step
            with --ema: blend the weights into their moving average (``averaging``)
            when an evaluation is due (``evaluation_due``; by default after every pass):
                report = evaluate(final); record scores(report); save the trainer state;
                save the model if it is the best so far by ``monitor`` (every one without);
                with --ema the average is what is evaluated and saved
    on a stop: save the trainer state (``--resume`` continues exactly there)
    final_report(); write_report() into the checkpoint directory

A run's progress p in [0, 1] is the larger of the fraction of its steps and the fraction of its
budget, so a budgeted run ends its schedule when its time is up. The loop owns the device, the
precision, the seed, the optimizer, the schedule, the clock (``clock``, a function of seconds),
the progress bar, TensorBoard, the checked update (a non-finite loss or gradient norm raises
:class:`Diverged` before the weights change, so what was saved stays the last good model), the
best score so far, the run directory (:class:`~rnnlab.training.run_directory.RunDirectory`),
the trainer state (:class:`~rnnlab.training.trainer_state.TrainerState`) and the summary line.

A task subclasses :class:`Loop` and supplies its batches, its loss and its evaluation:
``batches()``, ``batch_loss(batch)``, ``evaluate(final)`` and ``scores(report)``. Its other hooks
are questions that change nothing: when to evaluate (``evaluation_due``), which figure makes a
model the best (``monitor``, lower is better; None keeps every evaluation's model), whether it
is finished early (``finished``); and the report it ends with (``final_report``) and writes
(``write_report``), the lines it prints, and its own part of the trainer state
(``state_tensors``/``load_state_tensors``).

Under ``torchrun`` (R ranks; :mod:`rnnlab.training.distributed`) the same loop trains one model:
the model is wrapped in DistributedDataParallel with ``batch_loss`` as its forward, so a task
needs nothing of its own beyond reading its share of the data (``EpochTrainer`` does that for the
example tasks). After every step the ranks agree on the loss, the clock and any stop request, so
they take every decision alike; rank 0 alone prints, claims ``out`` and writes.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from rnnlab.checkpoint import TRAINER_STATE, WEIGHTS, remove_stale_temporaries, write_json
from rnnlab.data.batches import bucket_batches
from rnnlab.data.text import sources_digest
from rnnlab.kernels import resolve_precision
from rnnlab.limits import TRAINING_BYTES_PER_PARAMETER, require_memory
from rnnlab.settings import RunSettings
from rnnlab.training import distributed
from rnnlab.training.averaging import WeightAverage
from rnnlab.training.run_directory import RunDirectory
from rnnlab.training.schedule import learning_rate
from rnnlab.training.setup import adamw, autocast, update
from rnnlab.training.trainer_state import BROKEN, TrainerState


class Diverged(ValueError):
    """A non-finite loss or gradient norm; ``step`` is the update that was not made."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


@dataclass
class RunResult:
    """What a run did: its steps, epochs (passes over the data) and seconds."""

    steps: int
    epochs: float
    elapsed: float
    stopped: bool = False  # stopped on request (Ctrl-C) before the end; resumable

    def summary(self, details: str = "", out: str | Path | None = None) -> str:
        """The run's last line: ``trained N steps (E epochs) in S s``, ``details``, where it is."""
        where = f"; checkpoint: {out}" if out is not None else ""
        return (
            f"trained {self.steps} steps ({self.epochs:.2f} epochs) in {self.elapsed:.0f} s"
            f"{details}{where}"
        )


@dataclass
class EpochResult(RunResult):
    history: list[dict] = field(default_factory=list)  # per evaluation: train_loss and scores
    report: object | None = None  # the task's final report


class Loop:
    """Trains the model ``build()`` returns; see the module docstring.

    Args:
        settings: the run (:class:`~rnnlab.settings.RunSettings` or a task's settings that
            extend it); saved in the checkpoint's config under ``training``.
        build: makes the model (called once, after seeding).
        steps_per_epoch: the batches in one pass over the data.
        out: checkpoint directory (must not hold another run), or None to keep nothing.
        total_steps: the run's length in steps (default: ``epochs`` passes).
        data: where the data came from, recorded in the config under ``data``.
        echo: where progress lines go; progress: show a tqdm bar on stderr.
        on_step: called as ``on_step(loop, step, loss)`` after every step.
        tensorboard: a directory for TensorBoard event files.
        clock: the seconds the run's budget is measured in (``time.perf_counter``).
    """

    BETAS = (0.9, 0.999)  # AdamW's
    FINAL_LR = 0.1  # the learning rate at the end of the run, as a fraction of the peak
    RESTORE_BEST = False  # whether the run goes back to its best model before its final report
    ECHO_EVERY = 1  # print every n-th evaluation's line (and the last)
    BATCH_UNIT = "examples"  # what ``--batch-size`` counts

    def __init__(
        self,
        settings: RunSettings,
        build: Callable[[], nn.Module],
        steps_per_epoch: int,
        out: str | Path | None = None,
        *,
        total_steps: int | None = None,
        data: dict | None = None,
        echo: Callable[[str], object] | None = None,
        progress: bool = True,
        on_step: Callable[[Loop, int, float], object] | None = None,
        tensorboard: str | Path | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings
        self.out = Path(out) if out is not None else None
        self.directory = RunDirectory(out) if out is not None else None
        self.data = data or {}
        self.echo = echo or tqdm.write
        self.progress_bar, self.on_step, self.tensorboard = progress, on_step, tensorboard
        self.clock = clock
        distributed.start()
        self.rank, self.world = distributed.rank(), distributed.world_size()
        self.main = self.rank == 0  # the rank that prints and writes
        self.device = distributed.device()
        self.precision = resolve_precision(settings.precision, self.device)
        with torch.device("meta"):  # the model's size, before any memory is allocated
            parameters = sum(p.numel() for p in build().parameters())
        require_memory(
            parameters * TRAINING_BYTES_PER_PARAMETER,
            f"training a model of {parameters:,} parameters",
        )
        torch.manual_seed(settings.seed)
        self.model: nn.Module = build().to(self.device)
        self.net: nn.Module | None = None  # the model in DistributedDataParallel, with R ranks
        if self.world > 1:
            self.net = DistributedDataParallel(
                _Step(self.model, self.batch_loss),
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=False,
            )
            torch.manual_seed(settings.seed + self.rank)  # dropout: a mask of its own per rank
        self.optimizer = adamw(self.model, settings.lr, settings.weight_decay, betas=self.BETAS)
        self.average = WeightAverage(self.model, settings.ema) if settings.ema else None
        self.steps_per_epoch = steps_per_epoch
        if total_steps is None and settings.epochs:
            total_steps = settings.epochs * steps_per_epoch
        self.total_steps = total_steps
        self.step, self.elapsed = 0, 0.0
        self.losses: list[float] = []  # per step
        self.records: list[dict] = []  # per evaluation
        self.report = None  # the last evaluation's
        self.evaluated_at = 0.0  # the run's progress at its last evaluation
        self.final_evaluated = False  # whether that evaluation was the run's final one
        self.best: float | None = None  # the best ``monitor`` value so far
        self.best_step: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None  # its weights, RESTORE_BEST
        self._stop = False  # agreed by every rank
        self._stop_asked = False  # by this rank
        self._resumed_from: Path | None = None

    # -- what a task supplies -----------------------------------------------------------------

    def batches(self) -> Iterable:
        """The batches of one pass over the training data, from where the run is."""
        raise NotImplementedError

    def batch_loss(self, batch) -> torch.Tensor:
        """The mean loss of ``batch`` (called inside the autocast context)."""
        raise NotImplementedError

    def evaluate(self, final: bool = False):
        """The task's report on its held-out data; ``final`` for the run's last one, which may
        do more (beam search, samples)."""
        raise NotImplementedError

    def scores(self, report) -> dict[str, float]:
        """The figures of ``report`` that are printed and recorded."""
        raise NotImplementedError

    def evaluation_due(self, within_pass: bool) -> bool:
        """Whether to evaluate now: after every pass by default (``within_pass`` is False)."""
        return not within_pass

    def monitor(self, scores: dict[str, float]) -> float | None:
        """The figure that makes a model the best so far, lower being better; None (the
        default) keeps every evaluation's model, so the checkpoint is the end of the run."""
        return None

    def finished(self) -> bool:
        """Whether the task is done before its steps or budget are (a task that can be solved)."""
        return False

    def final_report(self):
        """The report the run ends with: the last evaluation's by default."""
        return self.report

    def write_report(self, result: EpochResult) -> None:
        """Write the task's report files into ``self.out`` (called once, at the end)."""

    def describe(self, record: dict, kept: bool) -> str:
        """The line printed for an evaluation: the train loss, then the task's scores."""
        shown = ", ".join(
            f"{name.replace('_', ' ')} {value:.4f}"
            for name, value in record.items()
            if name not in ("epoch", "step", "elapsed", "train_loss")
        )
        return f"epoch {record['epoch']:.2f}: train loss {record['train_loss']:.4f}, {shown}"

    def progress_line(self, loss: float, seconds: float) -> str:
        """The progress bar's figures after a step that took ``seconds``."""
        return f"epoch {(self.step - 1) // self.steps_per_epoch + 1} loss {loss:.3f}"

    def model_meta(self, scores: dict[str, float]) -> dict:
        """What the saved weights' header records."""
        return {"step": self.step, **scores}

    def setup_lines(self) -> list[str]:
        """What a training command prints before the run starts (after the data's lines)."""
        return [self.setup_line()]

    def summary_lines(self, result: EpochResult) -> list[str]:
        """What a training command prints after a run that was not stopped: by default the
        summary line."""
        return [result.summary("", self.out)]

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        """A task's own part of the trainer state: tensors and JSON (none by default)."""
        return {}, {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Restore what :meth:`state_tensors` saved."""

    # -- the loop -----------------------------------------------------------------------------

    def setup_line(self) -> str:
        """The model's size and where it trains: ``N parameters; cpu, bfloat16``."""
        parameters = sum(p.numel() for p in self.model.parameters())
        return f"{parameters:,} parameters; {self.device.type}, {self.precision}"

    def batch_line(self) -> str:
        """The world size and the batch per rank and over all ranks (``train`` prints it)."""
        size = self.settings.batch_size
        shares = [len(distributed.share(size, (r, self.world))) for r in range(self.world)]
        each = f"{min(shares)}" if min(shares) == max(shares) else f"{min(shares)}-{max(shares)}"
        world = f"world size {self.world}"
        if self.world > 1:
            world += f" ({distributed.backend()})"
        return f"{world}; {each} {self.BATCH_UNIT} per rank, {size} in all"

    def autocast(self):
        return autocast(self.precision, self.device)

    def request_stop(self) -> None:
        """Stop after the current step (and save a resumable state): what Ctrl-C does. With R
        ranks, every rank stops after the step at which the ranks next agree (the next one)."""
        self._stop_asked = True
        if self.world == 1:
            self._stop = True

    def progress(self) -> float:
        """The fraction of the run done: of the steps or of the budget, whichever is further."""
        done = self.step / self.total_steps if self.total_steps else 0.0
        if self.settings.budget:
            done = max(done, self.elapsed / self.settings.budget)
        return done

    def done(self) -> bool:
        return self.progress() >= 1 or self._stop or self.finished()

    def fit(self) -> EpochResult:
        """Train until the run is done; returns what it did and the final report."""
        try:
            if self.directory is not None:
                claimed: Exception | None = None
                if self.main:
                    try:
                        self._claim_out()
                    except (ValueError, OSError) as error:
                        claimed = error
                if not distributed.agree(claimed is None):
                    raise claimed or ValueError(f"rank 0 could not take {self.out}")
            return self._fit()
        finally:
            if self.directory is not None:
                self.directory.release()

    def _tick(self, start: float, loss: float = 0.0) -> float:
        """Read the clock; with R ranks, agree on it (the latest of the ranks' clocks), on any
        rank's stop request and on ``loss`` (the ranks' mean, returned)."""
        self.elapsed = self.clock() - start
        loss, self.elapsed, stop = distributed.agree_step(loss, self.elapsed, self._stop_asked)
        self._stop = self._stop or stop
        return loss

    def _fit(self) -> EpochResult:
        if self.main and self.world > 1:
            self.echo(f"batch: {self.batch_line()}")
        writer = self._tensorboard_writer() if self.main else None
        bar = tqdm(
            total=1000,
            initial=int(1000 * min(1.0, self.progress())),
            disable=not (self.progress_bar and self.main),
            bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}",
            dynamic_ncols=True,
        )
        start = self.clock() - self.elapsed
        try:
            while not self.done():
                for batch in self.batches():
                    began = self.clock()
                    loss = self._train_step(batch, start)
                    line = self.progress_line(loss, max(self.clock() - began, 1e-9))
                    bar.set_postfix_str(line, refresh=False)
                    bar.update(int(1000 * min(1.0, self.progress())) - bar.n)
                    if writer is not None and self.step % 10 == 0:
                        writer.add_scalar("train/loss", loss, self.step)
                        writer.add_scalar(
                            "train/lr", self.optimizer.param_groups[0]["lr"], self.step
                        )
                    if self.on_step is not None:
                        self.on_step(self, self.step, loss)
                    if self.evaluation_due(within_pass=True):
                        self.evaluation(writer)
                        self._tick(start)
                    if self.done():
                        break
                if not self._stop and self.evaluation_due(within_pass=False):
                    self.evaluation(writer)
                    self._tick(start)
            if self.progress() >= 1 and self.step and not self.final_evaluated:
                self.evaluation(writer)  # the end came inside an evaluation, or with a stop
            if self._stop:
                self.save_state()
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        report = None
        if not self.stopped():
            if self.average is not None:  # the run's model is its average, as evaluated
                self.average.copy_to(self.model)
            if self.RESTORE_BEST and self.best_state is not None:
                self.model.load_state_dict(self.best_state)
            report = self.final_report()
        result = self.result(report)
        if self.out is not None and not result.stopped and self.main:
            self.write_report(result)
        return result

    def stopped(self) -> bool:
        """Whether the run was stopped on request before its end (and can be resumed)."""
        return self._stop and self.progress() < 1

    def result(self, report=None) -> EpochResult:
        return EpochResult(
            steps=self.step,
            epochs=self.step / self.steps_per_epoch,
            elapsed=self.elapsed,
            stopped=self.stopped(),
            history=list(self.records),
            report=report,
        )

    def _train_step(self, batch, start: float) -> float:
        """One update; then the clock is read and, with R ranks, the loss, the clock and the
        stop requests are agreed (so every rank takes the same decisions after it)."""
        s = self.settings
        lr = learning_rate(self.step, self.progress(), s.lr, s.warmup, self.FINAL_LR)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        with self.autocast():
            loss = self.batch_loss(batch) if self.net is None else self.net(batch)
        value = update(loss, self.model, self.optimizer, s.clip, self._diverged)
        if self.average is not None:
            self.average.update(self.model)
        self.step += 1
        value = self._tick(start, value)
        self.losses.append(value)
        return value

    def _diverged(self, what: str) -> None:
        saved = self.out is not None and (self.out / WEIGHTS).is_file()
        kept = f"the last good checkpoint in {self.out} is kept" if saved else "no model saved"
        raise Diverged(
            f"{what} at step {self.step + 1}: training diverged and stopped ({kept}); "
            "try a lower --lr or --clip",
            self.step + 1,
        )

    def averaged(self):
        """A context in which the model holds the weights that are evaluated and saved: the
        moving average with ``--ema``, else its own."""
        return self.average.applied(self.model) if self.average else contextlib.nullcontext()

    def evaluation(self, writer=None) -> None:
        """Evaluate now: record the scores, keep (save) the model if it is the best so far (by
        :meth:`monitor`), save the trainer state, and print the line (``fit`` calls it when an
        evaluation is due). With ``--ema`` the average is evaluated and kept."""
        final = self.final_evaluated = self.progress() >= 1
        self.evaluated_at = self.progress()
        with self.averaged():
            self.report = self.evaluate(final=final)
        scores = self.scores(self.report)
        since = self.losses[self.records[-1]["step"] if self.records else 0 :] or [math.nan]
        record = {
            "epoch": self.step / self.steps_per_epoch,
            "step": self.step,
            "elapsed": self.elapsed,
            "train_loss": float(np.mean(since)),
            **scores,
        }
        self.records.append(record)
        value = self.monitor(scores)
        kept = value is None or self.best is None or value < self.best
        if kept:
            self.best, self.best_step = value, self.step
            if self.RESTORE_BEST:
                with self.averaged():
                    self.best_state = copy.deepcopy(self.model.state_dict())
        self.save_state()  # first, so that a run killed before its weights are saved resumes
        if kept and self.out is not None and self.main:
            with self.averaged():
                self.model.save_pretrained(self.out, self.model_meta(scores))
        if writer is not None:
            for name, value in scores.items():
                writer.add_scalar(f"val/{name}", value, self.step)
        if (len(self.records) % self.ECHO_EVERY == 0 or final) and self.main:
            self.echo(self.describe(record, kept))

    # -- checkpoints --------------------------------------------------------------------------

    def _claim_out(self) -> None:
        """Take ``out`` for this run (see :class:`RunDirectory`), writing the run's config."""
        config = self.model.config()
        config["training"] = self.settings.to_config()
        config["data"] = self.data
        hint = f"continue it with --resume {self.out} or "
        self.directory.claim(config, self._resumed_from, hint)

    def save_state(self) -> None:
        """Everything needed to continue the run, in one file written at once (see
        :mod:`rnnlab.training.trainer_state`). Every rank calls it (a task's state may be
        gathered from all); rank 0 writes."""
        if self.out is None:
            return
        own, meta = self.state_tensors()
        if not self.main:
            return
        if self.RESTORE_BEST and self.best_state is not None:
            own |= {f"best.{k}": v for k, v in self.best_state.items()}
        if self.average is not None:
            own |= {f"average.{k}": v for k, v in self.average.state().items()}
            meta["averaged"] = self.average.count
        meta |= {
            "step": self.step,
            "elapsed": self.elapsed,
            "best_val": self.best,
            "best_step": self.best_step,
            "evaluated_at": self.evaluated_at,
            "history": self.losses,
            "records": self.records,
        }
        TrainerState.capture(self.model, self.optimizer, meta, own).write(self.out / TRAINER_STATE)

    def load_state(self, directory: str | Path) -> None:
        """Continue from the trainer state saved in ``directory``; a run that is finished is
        refused (there is nothing to continue), once the temporary files of its writer, if it
        died inside a write, are removed."""
        path = Path(directory) / TRAINER_STATE
        if not path.is_file():
            raise ValueError(f"{directory} holds no {TRAINER_STATE}: there is no run to resume")
        state = TrainerState.read(path, self.optimizer)
        self._resumed_from = Path(directory).resolve()
        meta = state.meta
        try:
            state.restore(self.model, self.optimizer)
            if self.world > 1:  # rank 0's saved state: each rank its own dropout again
                torch.manual_seed(self.settings.seed + self.rank + 1000 * int(meta["step"]))
            self.step, self.elapsed = int(meta["step"]), float(meta["elapsed"])
            self.best, self.best_step = meta["best_val"], meta["best_step"]
            self.evaluated_at = float(meta.get("evaluated_at", 0.0))
            self.losses = [float(v) for v in meta["history"]]
            self.records = [dict(r) for r in meta.get("records", [])]
            best = state.prefixed("best.")
            if self.RESTORE_BEST and best:
                self.best_state = copy.deepcopy(self.model.state_dict())
                for name, value in best.items():  # names and shapes checked against the model
                    self.best_state[name].copy_(value)
            if self.average is not None and "averaged" in meta:
                self.average.load(state.prefixed("average."), int(meta["averaged"]))
            self.load_state_tensors(state.tensors, meta)
        except BROKEN as error:
            raise TrainerState.corrupt(path, error) from None
        if self.progress() >= 1:
            # a finished run killed inside its last write left that write's temporary file,
            # which no later run into this directory would remove: remove it (dead writers only)
            remove_stale_temporaries(directory)
            raise ValueError(
                f"the run in {directory} is finished ({self.step} steps); there is nothing to "
                "resume: train a new run with another --out"
            )

    def _tensorboard_writer(self):
        if self.tensorboard is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional: tensorboard is extra
        except ImportError:
            raise ValueError(
                "--tensorboard needs the tensorboard package: pip install tensorboard"
            ) from None
        return SummaryWriter(str(self.tensorboard), purge_step=self.step or None)


class _Step(nn.Module):
    """The model with the task's loss as its forward, so that DistributedDataParallel, which
    hooks a module's forward, serves every task: ``forward(batch) = loss(batch)``."""

    def __init__(self, model: nn.Module, loss: Callable) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, batch) -> torch.Tensor:
        return self.loss(batch)


class EpochTrainer(Loop):
    """The loop over examples of the given ``lengths`` that the supervised tasks share: every
    pass a new order of length-bucketed batches of example indices
    (:func:`~rnnlab.data.batches.bucket_batches`), an evaluation after every pass. ``sources``
    (the data files) are recorded in the config.

    The trainer state holds the batch order's generator as it was when the pass in progress
    was drawn and how many of its batches are done, so a resumed run draws the same pass and
    goes on from the next batch: it takes the steps an uninterrupted run takes."""

    def __init__(
        self,
        settings: RunSettings,
        build: Callable[[], nn.Module],
        lengths: Iterable[int],
        out: str | Path | None = None,
        *,
        sources: list[str] | None = None,
        **options,
    ) -> None:
        self.lengths = list(lengths)
        if not self.lengths:
            raise ValueError("there are no training examples")
        steps = math.ceil(len(self.lengths) / settings.batch_size)
        sources = sources or []
        data = {"sources": sources, "sha256": sources_digest(sources)}
        super().__init__(settings, build, steps, out, data=data, **options)
        self.rng = np.random.default_rng(settings.seed)  # the order of the batches
        self._pass: list[list[int]] | None = None  # the pass in progress
        self._pass_rng: dict | None = None  # the generator's state before it was drawn
        self._taken = 0  # its batches handed out

    def batches(self) -> Iterator[list[int]]:
        """The batches of the pass in progress from where it is, or of a new one."""
        if self._pass is None:
            self._pass_rng = copy.deepcopy(self.rng.bit_generator.state)
            self._pass, self._taken = self._draw(), 0
        while self._taken < len(self._pass):
            self._taken += 1  # counted when handed out: a stop after its step saves it done
            yield self._pass[self._taken - 1]
        self._pass = None

    def _draw(self) -> list[list[int]]:
        """A new order of length-bucketed batches; with R ranks, every rank draws the same
        batches (the same seed) and takes its near-equal share of each, the few that have fewer
        examples than ranks left out, so ``--batch-size`` is the batch over all ranks."""
        batches = bucket_batches(self.lengths, self.settings.batch_size, self.rng)
        if self.world == 1:
            return batches
        return [
            [batch[i] for i in distributed.share(len(batch))]
            for batch in batches
            if len(batch) >= self.world
        ]

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        if self._pass is None:
            return {}, {"order": {"rng": self.rng.bit_generator.state, "taken": None}}
        return {}, {"order": {"rng": self._pass_rng, "taken": self._taken}}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        order = meta["order"]
        self.rng.bit_generator.state = order["rng"]
        if order["taken"] is not None:
            self._pass_rng = copy.deepcopy(order["rng"])
            self._pass, self._taken = self._draw(), int(order["taken"])

    REPORT = "report.json"  # what write_report writes into the checkpoint directory

    def report_record(self) -> dict:
        """What ``report.json`` records before the scores of every epoch and the final report
        (the split's sizes, by default nothing)."""
        return {}

    def write_report(self, result: EpochResult) -> None:
        """``report.json``: :meth:`report_record`, the scores of every epoch (``epochs``) and
        the final report (``final``)."""
        record = {**self.report_record(), "epochs": result.history}
        write_json(self.out / self.REPORT, record | {"final": result.report.to_json()})

    def held_out(self, test, train):
        """What the reports score: ``test``, the held-out part, or ``train`` when nothing is
        held out (``--test-fraction 0``)."""
        return test if len(test) else train
