"""Training a language model by truncated BPTT, with checkpoints that resume exactly.

One step: read the next chunk of T columns of the B training streams (state carried, detached,
from the previous chunk; zeroed at the start of each epoch), minimise the mean cross-entropy of
the next symbol with AdamW, the gradient norm clipped to ``clip``, the learning rate from
:func:`rnnlab.training.schedule.learning_rate`. At ``evals`` evenly spaced points of the run the
validation split is read in order; the best model so far is saved as the checkpoint
(``model.safetensors``), and everything needed to continue (latest weights, optimizer moments,
the carried state, the random-number state, the loss history) goes to ``trainer_state.safetensors``,
its JSON part in the file's header so that one atomic rename saves it all.

A run resumed from that state computes the same losses at the same steps as a run never stopped
(same settings, same text; exactly so when stopping by step count rather than by the clock).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from rnnlab.checkpoint import (
    CONFIG,
    TRAINER_STATE,
    checkpoint_dir,
    read_json,
    read_tensors,
    write_json,
    write_tensors,
)
from rnnlab.data.streams import IGNORE, as_streams, chunk, chunk_count, detach_state
from rnnlab.data.text import read_source
from rnnlab.kernels import resolve_precision
from rnnlab.tasks.language.corpus import Corpus
from rnnlab.tasks.language.evaluation import Evaluation, evaluate
from rnnlab.tasks.language.settings import TrainSettings, recommended_settings
from rnnlab.training.schedule import learning_rate
from rnnlab.training.setup import adamw, autocast, training_device, update


@dataclass
class TrainResult:
    steps: int
    epochs: float
    elapsed: float
    history: list[float] = field(default_factory=list)  # training loss (nats/symbol) per step
    evals: list[tuple[int, float]] = field(default_factory=list)  # (step, val nats/unit)
    best_val: float | None = None
    best_step: int | None = None
    stopped: bool = False  # stopped on request (Ctrl-C) before the end; resumable

    def summary(self, details: str = "", out=None) -> str:
        """The run's last line: ``trained N steps (E epochs) in S s`` and ``details``."""
        where = f"; checkpoint: {out}" if out is not None else ""
        return (
            f"trained {self.steps} steps ({self.epochs:.2f} epochs) in {self.elapsed:.0f} s"
            f"{details}{where}"
        )


class Trainer:
    """Trains a :class:`LanguageModel` on a :class:`Corpus`; see the module docstring.

    Args:
        out: checkpoint directory, or None to keep nothing on disk.
        echo: where progress lines go (default: printed above the progress bar).
        progress: show a tqdm bar on stderr.
        on_step: called as ``on_step(trainer, step, loss)`` after every step.
        tensorboard: a directory for TensorBoard event files.
        source: where the text came from (a path), recorded in the config for ``--resume``.
    """

    def __init__(
        self,
        corpus: Corpus,
        settings: TrainSettings,
        out: str | Path | None = None,
        *,
        echo: Callable[[str], object] | None = None,
        progress: bool = True,
        on_step: Callable[[Trainer, int, float], object] | None = None,
        tensorboard: str | Path | None = None,
        source: str | None = None,
    ) -> None:
        self.corpus, self.settings = corpus, settings
        self.out = Path(out) if out is not None else None
        self.echo = echo or tqdm.write
        self.progress_bar, self.on_step, self.source = progress, on_step, source
        self.tensorboard = tensorboard
        self.device = training_device()
        self.precision = resolve_precision(settings.precision, self.device)
        torch.manual_seed(settings.seed)
        self.model = settings.build_model(corpus.vocab).to(self.device)
        self.optimizer = adamw(self.model, settings.lr, settings.weight_decay, betas=(0.9, 0.99))
        self.x, self.y = (t.to(self.device) for t in as_streams(corpus.train, settings.batch_size))
        self.chunks_per_epoch = chunk_count(self.x, settings.seq_len)
        self.total_steps = settings.epochs * self.chunks_per_epoch if settings.epochs else None
        lengths = corpus.vocab.lengths()
        self.units_per_token = float(lengths[corpus.train].mean())
        self.step, self.elapsed, self.evals_done = 0, 0.0, 0
        self.state = None
        self.history: list[float] = []
        self.evals: list[tuple[int, float]] = []
        self.best_val: float | None = None
        self.best_step: int | None = None
        self._stop = False
        self._resumed_from: Path | None = None

    def speed_settings(self) -> str:
        """The choices this run makes for speed, as one line (``rnnlab train`` prints it)."""
        s = self.settings
        if self.precision == "bfloat16":
            precision = "bfloat16 autocast with float32 master weights"
            if s.precision == "auto":
                precision += " (auto: native bfloat16 here; --precision float32 turns it off)"
        else:
            precision = "float32"
            if s.precision == "auto":
                precision += " (auto: no native bfloat16 here)"
        threads = f", {torch.get_num_threads()} threads" if self.device.type == "cpu" else ""
        if self.model.cell.fused_kernel is not None:
            kernel = f"torch's fused {s.cell} kernel"
        else:
            kernel = f"{s.cell} over time by rnnlab.scan ({s.scan})"
        if s.block == "residual":
            kernel += f" in {s.num_layers} residual blocks"
        return (
            f"{self.device.type}{threads}; {precision}; {kernel}; "
            f"{s.batch_size} streams x {s.seq_len} steps per update"
        )

    # -- the run ------------------------------------------------------------------------------

    def autocast(self):
        return autocast(self.precision, self.device)

    def request_stop(self) -> None:
        """Stop after the current step and save a resumable state (what Ctrl-C does)."""
        self._stop = True

    def progress(self) -> float:
        """Fraction of the run done: of the steps, or of the budget, whichever is further."""
        done = 0.0
        if self.total_steps:
            done = self.step / self.total_steps
        if self.settings.budget:
            done = max(done, self.elapsed / self.settings.budget)
        return done

    def fit(self) -> TrainResult:
        """Train until the epochs or the budget are used up, or a stop is requested."""
        s = self.settings
        if self.out is not None:
            self._claim_out()
        writer = self._tensorboard_writer()
        bar = tqdm(
            total=1000,
            initial=int(1000 * min(1.0, self.progress())),
            disable=not self.progress_bar,
            bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}",
            dynamic_ncols=True,
        )
        clock = time.perf_counter() - self.elapsed
        rate = None
        try:
            while self.progress() < 1 and not self._stop:
                started = time.perf_counter()
                loss = self._train_step()
                self.elapsed = time.perf_counter() - clock
                tokens = self.x.shape[0] * min(s.seq_len, self.x.shape[1])
                speed = tokens * self.units_per_token / (time.perf_counter() - started)
                rate = speed if rate is None else 0.9 * rate + 0.1 * speed
                bits = loss / self.units_per_token / math.log(2)
                bar.set_postfix_str(
                    f"step {self.step} loss {loss:.3f} {bits:.3f} bits/{self.corpus.vocab.unit} "
                    f"{rate:,.0f} {self.corpus.vocab.unit}s/s",
                    refresh=False,
                )
                done = self.progress()
                bar.update(int(1000 * min(1.0, done)) - bar.n)
                if writer is not None and self.step % 10 == 0:
                    writer.add_scalar("train/loss", loss, self.step)
                    writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], self.step)
                if self.on_step is not None:
                    self.on_step(self, self.step, loss)
                if done >= min(1.0, (self.evals_done + 1) / s.evals):
                    # at least one more: done * evals can round below the threshold just passed
                    self.evals_done = min(s.evals, max(self.evals_done + 1, int(done * s.evals)))
                    self._validate(writer)
                    self.elapsed = time.perf_counter() - clock
            if self._stop:
                self._save_state()
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        return TrainResult(
            steps=self.step,
            epochs=self.step / self.chunks_per_epoch,
            elapsed=self.elapsed,
            history=list(self.history),
            evals=list(self.evals),
            best_val=self.best_val,
            best_step=self.best_step,
            stopped=self._stop and self.progress() < 1,
        )

    def _train_step(self) -> float:
        s = self.settings
        index = self.step % self.chunks_per_epoch
        if index == 0:
            self.state = None
        x, y = chunk(self.x, self.y, index, s.seq_len)
        lr = learning_rate(self.step, self.progress(), s.lr, s.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.autocast():
            logits, state = self.model(x, self.state)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE)
        value = update(loss, self.model, self.optimizer, s.clip, self._diverged)
        self.state = detach_state(state)
        self.step += 1
        self.history.append(value)
        return value

    def _diverged(self, what: str) -> None:
        kept = f"the last good checkpoint in {self.out} is kept" if self.out else "nothing saved"
        raise ValueError(
            f"{what} at step {self.step + 1}: training diverged and stopped ({kept}); "
            "try a lower --lr or --clip"
        )

    def _validate(self, writer) -> None:
        epoch = self.step / self.chunks_per_epoch
        if self.corpus.val is None:
            self.best_step = self.step
            self._save_best(None)
            self._save_state()
            self.echo(f"step {self.step} (epoch {epoch:.2f}): train loss {self.history[-1]:.4f}")
            return
        result = self.validation()
        value = result.per_unit
        self.evals.append((self.step, value))
        improved = self.best_val is None or value < self.best_val
        if improved:
            self.best_val, self.best_step = value, self.step
            self._save_best(result)
        self._save_state()
        if writer is not None:
            writer.add_scalar("val/loss", value, self.step)
            writer.add_scalar("val/bits", result.bits_per_unit, self.step)
        mark = " (best, saved)" if improved and self.out else (" (best)" if improved else "")
        self.echo(
            f"step {self.step} (epoch {epoch:.2f}): validation {value:.4f} nats/{result.unit}, "
            f"{result.bits_per_unit:.4f} bits/{result.unit}{mark}"
        )

    def validation(self) -> Evaluation:
        """The model's loss on the validation split, read in order."""
        return evaluate(self.model, self.corpus.val, autocast=self.autocast)

    # -- checkpoints --------------------------------------------------------------------------

    def _claim_out(self) -> None:
        """Write the run's config into ``out``, refusing a directory that holds another run."""
        continuing = self._resumed_from is not None and self._resumed_from == self.out.resolve()
        if (self.out / CONFIG).exists():
            if continuing:
                return
            raise ValueError(
                f"{self.out} already holds a checkpoint; continue it with --resume {self.out} "
                "or choose another --out"
            )
        self.out.mkdir(parents=True, exist_ok=True)
        config = self.model.config()
        config["training"] = self.settings.to_config()
        config["data"] = {"source": self.source, "sha256": self.corpus.digest}
        write_json(self.out / CONFIG, config)

    def _save_best(self, result: Evaluation | None) -> None:
        if self.out is None:
            return
        meta = {"step": self.step}
        if result is not None:
            meta.update(val_loss=result.per_unit, val_bits=result.bits_per_unit, unit=result.unit)
        self.model.save_pretrained(self.out, meta)

    def _save_state(self) -> None:
        if self.out is None:
            return
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        optimizer = self.optimizer.state_dict()
        for index, slots in optimizer["state"].items():
            tensors.update({f"optim.{index}.{k}": v for k, v in slots.items()})
        tensors["rng"] = torch.get_rng_state()
        state = self.state
        kind = "none" if state is None else ("tensor" if torch.is_tensor(state) else "tuple")
        if state is not None:
            parts = (state,) if kind == "tensor" else state
            tensors.update({f"state.{i}": part for i, part in enumerate(parts)})
        meta = {
            "step": self.step,
            "elapsed": self.elapsed,
            "evals_done": self.evals_done,
            "best_val": self.best_val,
            "best_step": self.best_step,
            "history": self.history,
            "evals": self.evals,
            "state_kind": kind,
            "param_groups": optimizer["param_groups"],
        }
        write_tensors(self.out / TRAINER_STATE, tensors, meta)

    def load_state(self, directory: str | Path) -> None:
        """Continue from the trainer state saved in ``directory``."""
        if not (Path(directory) / TRAINER_STATE).is_file():
            raise ValueError(f"{directory} holds no {TRAINER_STATE}: there is no run to resume")
        tensors, meta = read_tensors(Path(directory) / TRAINER_STATE)
        self._resumed_from = Path(directory).resolve()
        try:
            self.model.load_state_dict(
                {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
            )
            slots: dict[int, dict] = {}
            for key, value in tensors.items():
                if key.startswith("optim."):
                    _, index, name = key.split(".", 2)
                    slots.setdefault(int(index), {})[name] = value
            groups = meta["param_groups"]
            for group in groups:
                group["betas"] = tuple(group["betas"])
            self.optimizer.load_state_dict({"state": slots, "param_groups": groups})
            torch.set_rng_state(tensors["rng"])
            parts = tuple(
                tensors[f"state.{i}"].to(self.device)
                for i in range(sum(k.startswith("state.") for k in tensors))
            )
            kind = meta["state_kind"]
            self.state = None if kind == "none" else parts[0] if kind == "tensor" else parts
            self.step, self.elapsed = int(meta["step"]), float(meta["elapsed"])
            self.evals_done = int(meta["evals_done"])
            self.best_val, self.best_step = meta["best_val"], meta["best_step"]
            self.history = [float(v) for v in meta["history"]]
            self.evals = [(int(a), float(b)) for a, b in meta["evals"]]
        except (KeyError, ValueError, RuntimeError, TypeError) as error:
            raise ValueError(
                f"{Path(directory) / TRAINER_STATE} is corrupt or from another run ({error})"
            ) from None

    def _tensorboard_writer(self):
        if self.tensorboard is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError(
                "--tensorboard needs the tensorboard package: pip install tensorboard"
            ) from None
        return SummaryWriter(str(self.tensorboard), purge_step=self.step or None)


def resume_settings(directory: str | Path) -> tuple[TrainSettings, dict]:
    """The settings and the data record of the run saved in ``directory``."""
    config = read_json(Path(directory) / CONFIG)
    if "training" not in config:
        raise ValueError(f"{directory} holds a model but no training settings; it cannot resume")
    return TrainSettings.from_config(config), config.get("data", {})


@dataclass
class Run:
    """What a training run starts from: its settings, its text, where the text came from (for
    the config) and where the run is written."""

    settings: TrainSettings
    corpus: Corpus
    source: str
    out: Path


def start_run(
    given: dict,
    text: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
) -> Run:
    """A new run: the settings :func:`recommended_settings` gives for ``given`` (fields by name),
    ``text`` (a file, or the built-in corpus) and ``out``. Or, with ``resume``, the run saved
    there: its own settings (``given`` may repeat them, not change them) and its own text (another
    file may be given, but it must be the same text), written to ``out`` or back to ``resume``."""
    if resume is None:
        if text is None or out is None:
            raise ValueError("train needs --text FILE and --out DIR (or --resume DIR)")
        settings = recommended_settings(**given)
        content, source = read_source(text, settings.level, settings.encoding)
        return Run(settings, Corpus.from_text(content, settings), source, Path(out))
    settings, data = resume_settings(checkpoint_dir(resume))
    changed = [k for k, v in given.items() if getattr(settings, k) != v]
    if changed:
        raise ValueError(
            f"{TrainSettings.flag(changed[0])} differs from the run in {resume}; a resumed run "
            "keeps its settings"
        )
    source = text or data.get("source")
    if not source:
        raise ValueError(f"{resume} does not record its text; pass --text FILE")
    content, source = read_source(source, settings.level, settings.encoding)
    corpus = Corpus.from_text(content, settings)
    if corpus.digest != data.get("sha256"):
        raise ValueError(f"the text differs from the one the run in {resume} was trained on")
    return Run(settings, corpus, source, Path(out if out is not None else resume))
