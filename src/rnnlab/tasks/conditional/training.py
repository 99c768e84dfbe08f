"""Training a conditional generator on labelled texts (names by language), and its report.

The labelled data (:func:`~rnnlab.data.labelled.read_labelled`) is split once, stratified and
seeded; the vocabulary (characters, with ``<s>`` and ``</s>``) comes from the training part. One
step: a batch of texts of similar length, each read as ``<s> c_1 .. c_n`` and trained to emit
``c_1 .. c_n </s>`` given its label's vector; cross-entropy over the real steps. The loop is
:class:`~rnnlab.training.loop.EpochTrainer`'s: the checkpoint is the model at the end of the
run, and the held-out split is only reported.

The report (:class:`GenerationReport`): the held-out loss in nats per character (the ``</s>``
counted as one), overall and per label; and, for ``samples`` generated texts per label, the
fraction that are novel (not a training text of any label).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F

from rnnlab.data.batches import IGNORE, pad
from rnnlab.data.labelled import (
    LABELLED_OPTIONS,
    LabelledData,
    read_labelled_options,
    stratified_split,
)
from rnnlab.data.vocab import END, Vocabulary, target_vocabulary
from rnnlab.kernels import at_least_fp32
from rnnlab.modes import evaluating
from rnnlab.settings import (
    DECODED,
    POSITIVE,
    POSITIVE_INT,
    SEED,
    TEXT,
    HeldOutSettings,
    RecurrentSettings,
    RunSettings,
    Settings,
    embedding_setting,
    one_of,
    setting,
    task_settings,
)
from rnnlab.tasks.conditional.model import CONDITIONS, ConditionalGenerator
from rnnlab.training.loop import EpochResult, EpochTrainer
from rnnlab.training.run import TrainingTask


@task_settings(dropout=0.1)
class ConditionalSettings(HeldOutSettings, RunSettings, RecurrentSettings):
    """Everything that defines a conditional-generator run: the recurrent network, the run, the
    held-out fraction (see :mod:`rnnlab.settings`) and the fields below; saved in
    ``config.json``."""

    OMIT: ClassVar[tuple[str, ...]] = ("bidirectional",)  # a generator reads forward only

    condition: str = setting(
        "both",
        "the label vector initialises the state, is read at every step, or both",
        one_of(CONDITIONS),
        group="model",
    )
    condition_size: int = setting(32, "label vector size", POSITIVE_INT, group="model")
    embedding_size: int = embedding_setting(32, "character embedding size")
    samples: int = setting(50, "generated per label for the report", POSITIVE_INT)
    temperature: float = setting(0.8, "of the report's samples", POSITIVE)


@dataclass
class LabelSplit:
    """Labelled texts split and encoded: per example its ids (ending in ``</s>``) and label."""

    vocab: Vocabulary
    labels: list[str]
    train: LabelledData
    test: LabelledData
    train_ids: list[torch.Tensor]
    train_y: torch.Tensor
    test_ids: list[torch.Tensor]
    test_y: torch.Tensor

    @classmethod
    def of(cls, data: LabelledData, settings: ConditionalSettings) -> LabelSplit:
        train_idx, test_idx = stratified_split(data.labels, settings.test_fraction, settings.seed)
        train, test = data.subset(train_idx), data.subset(test_idx)
        vocab = target_vocabulary("char", Counter(c for text in train.texts for c in text))
        labels = data.classes
        index = {label: i for i, label in enumerate(labels)}
        end = torch.tensor([vocab.symbols.index(END)])

        def encode(part: LabelledData) -> tuple[list[torch.Tensor], torch.Tensor]:
            ids = [torch.cat([vocab.encode_tokens(list(text)), end]) for text in part.texts]
            return ids, torch.tensor([index[label] for label in part.labels], dtype=torch.long)

        return cls(vocab, labels, train, test, *encode(train), *encode(test))

    @property
    def scored(self) -> str:
        return "held-out" if len(self.test) else "training"


@dataclass
class GenerationReport:
    """Held-out loss (nats/char) overall and per label; novelty of generated texts."""

    loss: float
    loss_by_label: dict[str, float]
    count_by_label: dict[str, int]
    novelty: float | None = None  # fraction of generated texts not in training
    novelty_by_label: dict[str, float] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    def format_labels(self) -> str:
        """A text table: label, held-out examples, loss, novelty, example outputs."""
        lines = [f"{'label':<14} {'held out':>8} {'loss':>7} {'novel':>6}  generated"]
        for label, loss in self.loss_by_label.items():
            novel = self.novelty_by_label.get(label)
            shown = f"{novel:6.1%}" if novel is not None else f"{'':>6}"
            examples = ", ".join(self.examples.get(label, [])[:5])
            lines.append(
                f"{label:<14} {self.count_by_label[label]:>8} {loss:>7.4f} {shown}  {examples}"
            )
        return "\n".join(lines)


def _previous(model: ConditionalGenerator, ids: list[torch.Tensor]):
    """Inputs (<s> then the text) and gold (the text then </s>; IGNORE at padding)."""
    gold, _ = pad(ids, IGNORE)
    previous = torch.cat([torch.full((len(ids), 1), model.start), gold[:, :-1]], 1)
    return previous.masked_fill(previous == IGNORE, model.end), gold


@torch.no_grad()
def generation_report(
    model: ConditionalGenerator,
    ids: list[torch.Tensor],
    y: torch.Tensor,
    training_texts: set[str],
    samples: int = 0,
    temperature: float = 0.8,
    seed: int = 0,
    autocast=None,
) -> GenerationReport:
    """The loss of ``ids`` (labels ``y``) per label, and the novelty of ``samples`` texts per
    label against ``training_texts``."""
    from contextlib import nullcontext

    autocast = autocast or nullcontext
    device = model.head.weight.device
    nll = torch.zeros(len(model.labels), dtype=torch.float64)
    chars = torch.zeros(len(model.labels), dtype=torch.float64)
    with evaluating(model, no_grad=False):
        for start in range(0, len(ids), 512):
            previous, gold = _previous(model, ids[start : start + 512])
            labels = y[start : start + 512]
            with autocast():
                logits, _ = model(previous.to(device), model.vectors(labels.to(device)))
            losses = F.cross_entropy(
                at_least_fp32(logits).transpose(1, 2), gold.to(device), reduction="none"
            ).cpu()
            nll.index_add_(0, labels, losses.double().sum(1))
            chars.index_add_(0, labels, (gold != IGNORE).sum(1).double())
        seen = chars > 0
        report = GenerationReport(
            float(nll.sum() / max(chars.sum(), 1)),
            {lab: float(nll[i] / chars[i]) for i, lab in enumerate(model.labels) if seen[i]},
            {lab: int((y == i).sum()) for i, lab in enumerate(model.labels) if seen[i]},
        )
        if samples:
            generator = torch.Generator().manual_seed(seed)
            novel = 0
            for label in model.labels:
                texts = model.generate(label, samples, temperature=temperature, generator=generator)
                fresh = sum(text not in training_texts for text in texts)
                novel += fresh
                report.novelty_by_label[label] = fresh / samples
                report.examples[label] = texts[:10]
            report.novelty = novel / (samples * len(model.labels))
        return report


class ConditionalTrainer(EpochTrainer):
    """Trains a :class:`ConditionalGenerator` on a :class:`LabelSplit`; see the module
    docstring and :class:`~rnnlab.training.loop.EpochTrainer`. ``fit()`` returns an
    :class:`EpochResult` whose ``report`` is the final :class:`GenerationReport`."""

    def __init__(
        self,
        split: LabelSplit,
        settings: ConditionalSettings,
        out: str | Path | None = None,
        **options,
    ) -> None:
        self.split = split
        self.training_texts = set(split.train.texts)
        longest = max(len(text) for text in split.train.texts)
        super().__init__(
            settings,
            lambda: ConditionalGenerator(
                split.vocab,
                split.labels,
                **settings.arguments(ConditionalGenerator),
                max_length=longest + 10,
            ),
            [len(ids) for ids in split.train_ids],
            out,
            **options,
        )

    def batch_loss(self, batch: list[int]) -> torch.Tensor:
        previous, gold = _previous(self.model, [self.split.train_ids[i] for i in batch])
        v = self.model.vectors(self.split.train_y[batch].to(self.device))
        logits, _ = self.model(previous.to(self.device), v)
        return F.cross_entropy(logits.float().flatten(0, 1), gold.to(self.device).flatten())

    def evaluate(self, final: bool = False) -> GenerationReport:
        """The held-out loss per label; the final report also generates ``samples`` texts per
        label for the novelty figure."""
        split = self.split
        held = self.held_out(split.test, split.train) is split.test
        ids, y = (split.test_ids, split.test_y) if held else (split.train_ids, split.train_y)
        return generation_report(
            self.model,
            ids,
            y,
            self.training_texts,
            self.settings.samples if final else 0,
            self.settings.temperature,
            self.settings.seed,
            self.autocast,
        )

    def scores(self, report: GenerationReport) -> dict[str, float]:
        return {"loss": report.loss, "bits_per_char": report.loss / math.log(2)}

    def report_record(self) -> dict:
        split = self.split
        return {
            "split": split.scored,
            "train_examples": len(split.train),
            "held_out_examples": len(split.test),
        }

    def setup_lines(self) -> list[str]:
        return [
            f"vocabulary {len(self.split.vocab)} characters; condition "
            f"{self.settings.condition}; {self.setup_line()}"
        ]

    def summary_lines(self, result: EpochResult) -> list[str]:
        report, s = result.report, self.settings
        details = f"; {self.split.scored} loss {report.loss:.4f} nats/char"
        if report.novelty is not None:
            details += f"; {report.novelty:.1%} of {s.samples} samples per label are novel"
        return [report.format_labels(), result.summary(details, self.out)]


@task_settings()
class LabelSampling(Settings):
    """How ``generate-from-label`` samples: ``count`` texts, each starting with ``prime``, at
    ``temperature``, at most ``max_length`` characters (the model's limit by default)."""

    count: int = setting(10, "how many", POSITIVE_INT, group="sampling")
    prime: str = setting("", "the first characters of every text", TEXT, group="sampling")
    temperature: float = setting(0.8, "sampling temperature", POSITIVE, group="sampling")
    max_length: int | None = setting(
        None, "most characters per text", DECODED, group="sampling", shown="the model's"
    )
    seed: int | None = setting(None, "random seed", SEED, group="sampling", shown="a fresh draw")


def conditional_trainer(
    settings: ConditionalSettings, options: dict, out: str | Path | None = None, **loop
) -> ConditionalTrainer:
    """The trainer of ``rnnlab generate-from-label train``: the labelled texts ``options``
    name (:data:`~rnnlab.data.labelled.LABELLED_OPTIONS`), split by label."""
    echo = loop.setdefault("echo", print)
    data = read_labelled_options(options, echo)
    split = LabelSplit.of(data, settings)
    echo(
        f"{len(data):,} texts with {len(split.labels)} labels; {len(split.train):,} for "
        f"training, {len(split.test):,} held out"
    )
    return ConditionalTrainer(split, settings, out, sources=data.sources, **loop)


#: ``rnnlab generate-from-label train`` on the spine (:func:`rnnlab.training.run.run_training`)
CONDITIONAL = TrainingTask(
    command="generate-from-label train",
    settings=ConditionalSettings,
    trainer=conditional_trainer,
    models=(ConditionalGenerator,),
    data_options=LABELLED_OPTIONS,
)
