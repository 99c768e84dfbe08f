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
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnlab.checkpoint import CONFIG, TRAINER_STATE, checkpoint_dir, read_json, tensor_shapes
from rnnlab.data.streams import IGNORE, as_streams, chunk, chunk_count, detach_state
from rnnlab.data.text import read_source
from rnnlab.tasks.language.corpus import Corpus
from rnnlab.tasks.language.evaluation import Evaluation, evaluate
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.settings import TrainSettings, recommended_settings
from rnnlab.training.loop import Loop, RunResult


@dataclass
class TrainResult(RunResult):
    history: list[float] = field(default_factory=list)  # training loss (nats/symbol) per step
    evals: list[tuple[int, float]] = field(default_factory=list)  # (step, val nats/unit)
    best_val: float | None = None
    best_step: int | None = None


class Trainer(Loop):
    """Trains a :class:`LanguageModel` on a :class:`Corpus` on the shared
    :class:`~rnnlab.training.loop.Loop`; see the module docstring.

    Args:
        out: checkpoint directory, or None to keep nothing on disk.
        echo, progress, on_step, tensorboard: as for :class:`~rnnlab.training.loop.Loop`.
        source: where the text came from (a path), recorded in the config for ``--resume``.
    """

    BETAS = (0.9, 0.99)
    RESUMABLE = True

    def __init__(
        self,
        corpus: Corpus,
        settings: TrainSettings,
        out: str | Path | None = None,
        *,
        source: str | None = None,
        **options,
    ) -> None:
        self.corpus = corpus
        x, y = as_streams(corpus.train, settings.batch_size)
        super().__init__(
            settings,
            lambda: settings.build_model(corpus.vocab),
            chunk_count(x, settings.seq_len),
            out,
            data={"source": source, "sha256": corpus.digest},
            **options,
        )
        self.x, self.y = x.to(self.device), y.to(self.device)
        self.units_per_token = float(corpus.vocab.lengths()[corpus.train].mean())
        self.state = None  # carried from chunk to chunk
        self.evals_done = 0  # evaluation points of the run passed
        self.rate: float | None = None  # symbols per second, smoothed

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

    @property
    def chunks_per_epoch(self) -> int:
        """Chunks of ``seq_len`` steps in one pass over the streams (the loop's steps per epoch)."""
        return self.steps_per_epoch

    # -- the task's part of the loop ----------------------------------------------------------

    def batches(self) -> range:
        """The chunks left in this pass over the streams, by index."""
        return range(self.step % self.steps_per_epoch, self.steps_per_epoch)

    def batch_loss(self, index: int) -> torch.Tensor:
        if index == 0:
            self.state = None  # each pass starts from a zero state
        x, y = chunk(self.x, self.y, index, self.settings.seq_len)
        logits, state = self.model(x, self.state)
        self.state = detach_state(state)
        return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE)

    def evaluation_due(self, within_pass: bool) -> bool:
        """At ``evals`` evenly spaced points of the run, checked after every step (so also in
        the middle of a pass); a due point is taken, with any others the run has passed since."""
        done, evals = self.progress(), self.settings.evals
        if not within_pass or done < min(1.0, (self.evals_done + 1) / evals):
            return False
        self.evals_done = min(evals, max(self.evals_done + 1, int(done * evals)))
        return True

    def evaluate(self, final: bool = False) -> Evaluation | None:
        return None if self.corpus.val is None else self.validation()

    def validation(self) -> Evaluation:
        """The model's loss on the validation split, read in order."""
        return evaluate(self.model, self.corpus.val, autocast=self.autocast)

    def scores(self, report: Evaluation | None) -> dict[str, float]:
        return {} if report is None else {"loss": report.per_unit, "bits": report.bits_per_unit}

    def keep(self, scores: dict[str, float]) -> bool:
        """The model with the lowest validation loss so far (every one without validation)."""
        value = scores.get("loss")
        if value is not None and self.best is not None and value >= self.best:
            return False
        self.best, self.best_step = value, self.step
        return True

    def model_meta(self, scores: dict[str, float]) -> dict:
        if not scores:
            return {"step": self.step}
        unit = self.corpus.vocab.unit
        return {
            "step": self.step,
            "val_loss": scores["loss"],
            "val_bits": scores["bits"],
            "unit": unit,
        }

    def describe(self, record: dict, kept: bool) -> str:
        head = f"step {record['step']} (epoch {record['epoch']:.2f})"
        if "loss" not in record:
            return f"{head}: train loss {self.losses[-1]:.4f}"
        unit = self.corpus.vocab.unit
        mark = " (best, saved)" if kept and self.out else (" (best)" if kept else "")
        return (
            f"{head}: validation {record['loss']:.4f} nats/{unit}, "
            f"{record['bits']:.4f} bits/{unit}{mark}"
        )

    def progress_line(self, loss: float, seconds: float) -> str:
        speed = self.x.shape[0] * min(self.settings.seq_len, self.x.shape[1])
        speed *= self.units_per_token / seconds
        self.rate = speed if self.rate is None else 0.9 * self.rate + 0.1 * speed
        unit = self.corpus.vocab.unit
        bits = loss / self.units_per_token / math.log(2)
        return f"step {self.step} loss {loss:.3f} {bits:.3f} bits/{unit} {self.rate:,.0f} {unit}s/s"

    def result(self) -> TrainResult:
        return TrainResult(
            steps=self.step,
            epochs=self.step / self.steps_per_epoch,
            elapsed=self.elapsed,
            stopped=self._stop and self.progress() < 1,
            history=list(self.losses),
            evals=self.evals,
            best_val=self.best if self.corpus.val is not None else None,
            best_step=self.best_step,
        )

    @property
    def evals(self) -> list[tuple[int, float]]:
        return [(r["step"], r["loss"]) for r in self.records if "loss" in r]

    # -- the carried state in the trainer state ------------------------------------------------

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        state = self.state
        kind = "none" if state is None else ("tensor" if torch.is_tensor(state) else "tuple")
        parts = () if state is None else (state,) if kind == "tensor" else state
        tensors = {f"state.{i}": part for i, part in enumerate(parts)}
        return tensors, {"state_kind": kind, "evals_done": self.evals_done}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        parts = tuple(
            tensors[f"state.{i}"].to(self.device)
            for i in range(sum(k.startswith("state.") for k in tensors))
        )
        self.evals_done = int(meta["evals_done"])
        kind = meta["state_kind"]
        self.state = None if kind == "none" else parts[0] if kind == "tensor" else parts
        if not self.records:  # a state saved before records were kept: its evaluations
            self.records = [
                {"epoch": step / self.steps_per_epoch, "step": step, "loss": loss}
                for step, loss in meta.get("evals", [])
            ]


def resume_settings(directory: str | Path) -> tuple[TrainSettings, dict]:
    """The settings and the data record of the run saved in ``directory``."""
    config = read_json(Path(directory) / CONFIG)
    if "training" not in config:
        raise ValueError(f"{directory} holds a model but no training settings; it cannot resume")
    data = config.get("data", {})
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key, ""), str) for key in ("source", "sha256")
    ):
        raise ValueError(f"{directory / CONFIG} is corrupt: its data record is not a source path")
    state = Path(directory) / TRAINER_STATE
    if state.is_file():  # the model the config describes must be the one the state holds
        saved = {k[6:]: v for k, v in tensor_shapes(state).items() if k.startswith("model.")}
        LanguageModel.check_fits(config, saved, state)
    return TrainSettings.from_config(config), data


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
