"""Training a language model by truncated BPTT, with checkpoints that resume exactly.

One step: read the next chunk of T columns of the B training streams (state carried, detached,
from the previous chunk; zeroed at the start of each epoch; a transformer reads chunks of its
``context`` and carries nothing), minimise the mean cross-entropy of the next symbol with
AdamW, the gradient norm clipped to ``clip``, the learning rate from
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

from rnnlab.checkpoint import CONFIG
from rnnlab.data.streams import IGNORE, Streams, detach_state
from rnnlab.data.text import DEFAULT_SOURCE, python_sources
from rnnlab.tasks.language.corpus import Corpus
from rnnlab.tasks.language.evaluation import Evaluation, evaluate
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.settings import TrainSettings, recommended_settings, sized_for_budget
from rnnlab.tasks.language.transformer import TransformerLM
from rnnlab.training import distributed
from rnnlab.training.loop import Loop, RunResult
from rnnlab.training.run import TrainingTask


@dataclass
class TrainResult(RunResult):
    history: list[float] = field(default_factory=list)  # training loss (nats/symbol) per step
    evals: list[tuple[int, float]] = field(default_factory=list)  # (step, val nats/unit)
    best_val: float | None = None
    best_step: int | None = None


class Trainer(Loop):
    """Trains a language model (recurrent or transformer) on a :class:`Corpus` on the shared
    :class:`~rnnlab.training.loop.Loop`; see the module docstring.

    Args:
        out: checkpoint directory, or None to keep nothing on disk.
        echo, progress, on_step, tensorboard: as for :class:`~rnnlab.training.loop.Loop`.
        source: where the text came from (a path, or several), recorded in the config for
            ``--resume``.

    With R ranks (``torchrun``), ``settings.batch_size`` streams are laid out over the whole
    text as with one process and rank r reads the r-th share of them, carrying its own rows of
    the state; a rank's loss is its summed cross-entropy over the predictions of the whole
    chunk (all ranks), times R, so that the gradients DistributedDataParallel averages are the
    one-process gradients. Validation is shared the same way and its sums are all-reduced. The
    carried state is saved gathered into all B rows, so a run resumes at any number of ranks.
    """

    BETAS = (0.9, 0.99)
    BATCH_UNIT = "streams"

    def __init__(
        self,
        corpus: Corpus,
        settings: TrainSettings,
        out: str | Path | None = None,
        *,
        source: str | list[str] | None = None,
        **options,
    ) -> None:
        self.corpus = corpus
        distributed.start()
        part = (distributed.rank(), distributed.world_size())
        self.streams = Streams(corpus.train, settings.batch_size, part)
        super().__init__(
            settings,
            lambda: settings.build_model(corpus.vocab),
            self.streams.chunk_count(settings.chunk_length),
            out,
            data={"source": source, "sha256": corpus.digest},
            **options,
        )
        self.units_per_token = corpus.units_per_token()
        self.state = None  # carried from chunk to chunk
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
        if s.arch == "transformer":
            kernel = (
                f"transformer {s.num_layers} x {s.hidden_size}, {s.heads} heads, "
                f"{s.positions} positions, attention by scaled_dot_product_attention"
            )
        elif self.model.cell.fused_kernel is not None:
            kernel = f"torch's fused {s.cell} kernel"
        else:
            kernel = f"{s.cell} over time by rnnlab.scan ({s.scan})"
        if s.arch == "recurrent" and s.block == "residual":
            kernel += f" in {s.num_layers} residual blocks"
        streams = f"{self.streams.streams} streams x {s.chunk_length} steps per update"
        if self.world > 1:
            streams = (
                f"{self.world} ranks ({distributed.backend()}), {len(self.streams.rows)} of "
                f"{streams} on rank 0"
            )
        return f"{self.device.type}{threads}; {precision}; {kernel}; {streams}"

    def setup_lines(self) -> list[str]:
        """The text and the model, the speed settings, the sizes chosen for a budget and the
        batch (``rnnlab train`` prints them)."""
        corpus, s = self.corpus, self.settings
        parameters = sum(p.numel() for p in self.model.parameters())
        lines = [
            f"{len(corpus.train):,} training and "
            f"{0 if corpus.val is None else len(corpus.val):,} validation symbols, "
            f"vocabulary {len(corpus.vocab)} ({s.level} level); {parameters:,} parameters",
            f"speed: {self.speed_settings()}",
        ]
        sizes = sized_for_budget(s.budget, s.arch) if s.budget else {}
        sized = [k for k, v in sizes.items() if getattr(s, k) == v]
        if sized and self._resumed_from is None:
            chosen = ", ".join(f"{TrainSettings.flag(k)[2:]} {getattr(s, k)}" for k in sized)
            flags = ", ".join(TrainSettings.flag(k) for k in sized)
            lines.append(f"sized for a {s.budget:g} s budget: {chosen} ({flags} to override)")
        if self.world == 1:  # with torchrun, the loop prints it
            lines.append(f"batch: {self.batch_line()}")
        return lines

    def summary_lines(self, result: TrainResult) -> list[str]:
        best = ""
        if result.best_val is not None:
            unit = self.corpus.vocab.unit
            best = (
                f"; best validation {result.best_val:.4f} nats/{unit} "
                f"({result.best_val / math.log(2):.4f} bits/{unit}) at step {result.best_step}"
            )
        return [result.summary(best, self.out)]

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
        x, y = self.streams.chunk(index, self.settings.chunk_length)
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        logits, state = self.model(x, self.state)
        self.state = detach_state(state)
        logits, y = logits.float().flatten(0, 1), y.flatten()
        if self.world == 1:
            return F.cross_entropy(logits, y, ignore_index=IGNORE)
        total = F.cross_entropy(logits, y, ignore_index=IGNORE, reduction="sum")
        return total * self.world / self.streams.predicted(index, self.settings.chunk_length)

    def evaluation_due(self, within_pass: bool) -> bool:
        """At ``evals`` evenly spaced points of the run, checked after every step (so also in
        the middle of a pass): when the run has passed a point since its last evaluation (one
        evaluation for several points passed at once)."""
        return within_pass and self._points(self.progress()) > self._points(self.evaluated_at)

    def _points(self, progress: float) -> int:
        """The evaluation points at or before ``progress``."""
        evals = self.settings.evals
        return min(evals, math.floor(progress * evals + 1e-9))

    def evaluate(self, final: bool = False) -> Evaluation | None:
        return None if self.corpus.val is None else self.validation()

    def validation(self) -> Evaluation:
        """The model's loss on the validation split, read in order (each rank its share of
        the streams, the sums added up)."""
        part, streams = (self.rank, self.world), max(16, self.world)  # a stream or more each
        mine = evaluate(self.model, self.corpus.val, streams, autocast=self.autocast, part=part)
        nats, units = distributed.all_sum([mine.nats, mine.units])
        return Evaluation(nats, len(self.corpus.val) - 1, units, mine.unit)

    def scores(self, report: Evaluation | None) -> dict[str, float]:
        return {} if report is None else {"loss": report.per_unit, "bits": report.bits_per_unit}

    def monitor(self, scores: dict[str, float]) -> float | None:
        """The validation loss: the checkpoint is the best model (every one without validation)."""
        return scores.get("loss")

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
        speed = self.streams.streams * min(self.settings.chunk_length, self.streams.length)
        speed *= self.units_per_token / seconds
        self.rate = speed if self.rate is None else 0.9 * self.rate + 0.1 * speed
        unit = self.corpus.vocab.unit
        bits = loss / self.units_per_token / math.log(2)
        return f"step {self.step} loss {loss:.3f} {bits:.3f} bits/{unit} {self.rate:,.0f} {unit}s/s"

    def result(self, report=None) -> TrainResult:
        return TrainResult(
            steps=self.step,
            epochs=self.step / self.steps_per_epoch,
            elapsed=self.elapsed,
            stopped=self.stopped(),
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
        """The carried state, all B streams' rows (gathered from the ranks)."""
        state = self.state
        kind = "none" if state is None else ("tensor" if torch.is_tensor(state) else "tuple")
        parts = () if state is None else (state,) if kind == "tensor" else state
        tensors = {f"state.{i}": distributed.gather_rows(p, 1) for i, p in enumerate(parts)}
        return tensors, {"state_kind": kind}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        rows = torch.from_numpy(self.streams.rows)
        parts = tuple(
            tensors[f"state.{i}"].index_select(1, rows).to(self.device)
            for i in range(sum(k.startswith("state.") for k in tensors))
        )
        if "evaluated_at" not in meta:  # a state saved before the loop kept it
            self.evaluated_at = int(meta["evals_done"]) / self.settings.evals
        kind = meta["state_kind"]
        self.state = None if kind == "none" else parts[0] if kind == "tensor" else parts
        if not self.records:  # a state saved before records were kept: its evaluations
            self.records = [
                {"epoch": step / self.steps_per_epoch, "step": step, "loss": loss}
                for step, loss in meta.get("evals", [])
            ]


Sources = str | Path | list[str | Path]


def read_corpus(
    text: Sources | None, settings: TrainSettings, progress: bool = False
) -> tuple[Corpus, str | list[str]]:
    """The corpus of ``text`` and the name a checkpoint records for it: the built-in corpus for
    None or ``DEFAULT_SOURCE`` (in memory), else the files and folders (through the token
    cache; recorded by absolute path, a list for several)."""
    paths = text if isinstance(text, list) else [text]
    if text is None or [str(p) for p in paths] == [DEFAULT_SOURCE]:
        return Corpus.from_text(python_sources(), settings), DEFAULT_SOURCE
    corpus = Corpus.from_files(paths, settings, progress)
    names = [str(Path(p).resolve()) for p in paths]
    return corpus, names[0] if len(names) == 1 else names


def language_trainer(
    settings: TrainSettings, options: dict, out: str | Path | None = None, **loop
) -> Trainer:
    """The trainer of ``rnnlab train``: the text ``options["text"]`` names (files and folders,
    or the built-in corpus), read through the token cache; what :data:`LANGUAGE` runs."""
    text = options.get("text")
    if not text:
        raise ValueError("train needs --text FILE and --out DIR (or --resume DIR)")
    progress = bool(loop.get("progress")) and distributed.is_main()
    corpus, source = read_corpus(text, settings, progress)
    return Trainer(corpus, settings, out, source=source, **loop)


def _saved_text(record: dict) -> dict:
    """The text a language model's data record names (its ``source``: a path or several)."""
    source = record.get("source")
    paths = source if isinstance(source, list) else [source]
    if not all(isinstance(p, str) for p in paths) or not isinstance(record.get("sha256"), str):
        raise ValueError(f"{CONFIG} is corrupt: its data record's source is not a path")
    return {"text": source} if source else {}


SAMPLE_LENGTH = 300  # symbols of the sample ``rnnlab train`` prints at the end
SAMPLE_TEMPERATURE = 0.8

#: ``rnnlab train`` on the spine (:func:`rnnlab.training.run.run_training`)
LANGUAGE = TrainingTask(
    command="train",
    settings=TrainSettings,
    trainer=language_trainer,
    models=(LanguageModel, TransformerLM),
    data_options=("text",),
    recommended=lambda given, options: recommended_settings(**given),
    saved_options=_saved_text,
)
