"""Training a sequence classifier: padded, length-bucketed batches and a held-out report.

The labelled data is split once, stratified and seeded (:func:`~rnnlab.data.labelled.
stratified_split`); the vocabulary comes from the training part only. One step: a batch of
sequences of similar length (:func:`~rnnlab.data.labelled.bucket_batches`), padded to its
longest with the lengths passed to the recurrent layer; minimise the cross-entropy (weighted by
n / (C n_c) per class with ``balance``) with AdamW, the gradient norm clipped, the learning rate
warmed up and then cosine-decayed over the epochs or the wall-clock budget
(:func:`~rnnlab.training.schedule.learning_rate`). After every epoch (and at the end of a
budget) the held-out split is scored: accuracy and macro-F1.

The checkpoint keeps the model as it is at the end of the run (after each epoch it is saved, so
a run cut short keeps its last finished epoch); the held-out split is only reported, never used
to choose a model. ``report.json`` holds the per-epoch scores and the final per-class report,
``confusion.png`` the final confusion matrix.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from rnnlab.cells import CELLS
from rnnlab.checkpoint import CONFIG, WEIGHTS, write_json
from rnnlab.data.labelled import LabelledData, bucket_batches, pad, stratified_split, tokens
from rnnlab.data.vocab import Vocabulary
from rnnlab.init import SCHEMES
from rnnlab.kernels import PRECISIONS, resolve_precision
from rnnlab.models.classifier import POOLS, SequenceClassifier
from rnnlab.plots import confusion_plot
from rnnlab.training.metrics import ClassificationReport
from rnnlab.training.schedule import learning_rate
from rnnlab.training.setup import adamw, autocast, training_device, update

REPORT = "report.json"
CONFUSION = "confusion.png"


@dataclass
class ClassifierSettings:
    """Everything that defines a classifier run; saved in the checkpoint's ``config.json``."""

    level: str = "char"
    cell: str = "lstm"
    hidden: int = 256
    layers: int = 1
    bidirectional: bool = True
    pool: str = "max"
    embedding: int | None = 64  # None: one-hot inputs
    dropout: float = 0.3
    init: str = "default"
    forget_bias: float | None = None
    min_count: int = 1  # symbols seen fewer times in training become <unk>
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 50
    clip: float = 1.0
    epochs: int | None = None  # None without a budget: 10
    budget: float | None = None  # seconds
    test_fraction: float = 0.1
    balance: bool = False
    dedupe: bool = False
    seed: int = 0
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs is None and self.budget is None:
            self.epochs = 10
        if self.level not in ("char", "word"):
            raise ValueError(f"level must be char or word, got {self.level!r}")
        for name, allowed in (("cell", CELLS), ("init", SCHEMES), ("pool", POOLS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        for name in ("hidden", "layers", "batch_size", "warmup", "embedding", "min_count"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name.replace('_', '-')} must be >= 1")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError("epochs must be >= 1")
        if self.budget is not None and not self.budget > 0:
            raise ValueError("budget must be a positive number of seconds")
        if not (0 <= self.test_fraction < 1 and 0 <= self.dropout < 1):
            raise ValueError("test-fraction and dropout must be in [0, 1)")
        if not (self.lr > 0 and self.clip >= 0 and self.weight_decay >= 0):
            raise ValueError("lr must be > 0, clip and weight-decay >= 0")

    @classmethod
    def from_json(cls, data: dict) -> ClassifierSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def build_model(self, vocab: Vocabulary, labels: list[str]) -> SequenceClassifier:
        return SequenceClassifier(
            vocab,
            labels,
            cell=self.cell,
            hidden_size=self.hidden,
            num_layers=self.layers,
            bidirectional=self.bidirectional,
            pool=self.pool,
            embedding_size=self.embedding,
            dropout=self.dropout,
            init=self.init,
            forget_bias=self.forget_bias,
        )


#: Per level, the settings that differ from the defaults: words are sparser than characters (a
#: wider embedding, more dropout, the words seen once left to <unk> so that it is learned).
LEVEL_SETTINGS = {
    "char": {},
    "word": {"embedding": 128, "dropout": 0.5, "min_count": 2},
}


def recommended_classifier_settings(**given) -> ClassifierSettings:
    """The defaults with :data:`LEVEL_SETTINGS` for ``given``'s level where ``given`` does not
    set them; what ``rnnlab classify train`` uses."""
    level = given.get("level", ClassifierSettings.level)
    return ClassifierSettings(**(LEVEL_SETTINGS.get(level, {}) | given))


@dataclass
class Split:
    """The data split and encoded for training: ids per example, class index per example."""

    vocab: Vocabulary
    labels: list[str]
    train_ids: list[torch.Tensor]
    train_y: torch.Tensor
    test_ids: list[torch.Tensor]
    test_y: torch.Tensor
    duplicates: int = 0  # repeated (text, label) pairs dropped by ``dedupe``
    overlap: int = 0  # held-out texts that also occur in training (with the same label)

    @classmethod
    def of(cls, data: LabelledData, settings: ClassifierSettings) -> Split:
        duplicates = 0
        if settings.dedupe:
            data, duplicates = data.deduplicated()
        labels = data.classes
        if len(labels) < 2:
            raise ValueError(
                f"the data has only one class ({labels[0]!r}); a classifier needs at least two"
            )
        train_idx, test_idx = stratified_split(data.labels, settings.test_fraction, settings.seed)
        train, test = data.subset(train_idx), data.subset(test_idx)
        if settings.test_fraction > 0 and not len(test):
            raise ValueError("the held-out split is empty; give more data or --test-fraction 0")
        counts = Counter(s for text in train.texts for s in tokens(text, settings.level))
        vocab = Vocabulary.from_counts(settings.level, counts, settings.min_count)
        index = {label: i for i, label in enumerate(labels)}

        def encode(part: LabelledData) -> tuple[list[torch.Tensor], torch.Tensor]:
            ids = [vocab.encode_tokens(tokens(text, settings.level)) for text in part.texts]
            empty = [text for text, i in zip(part.texts, ids, strict=True) if i.numel() == 0]
            if empty:
                raise ValueError(
                    f"{len(empty)} example(s) have no {settings.level}s to read, e.g. {empty[0]!r}"
                )
            return ids, torch.tensor([index[label] for label in part.labels])

        seen = set(zip(train.texts, train.labels, strict=True))
        overlap = sum(pair in seen for pair in zip(test.texts, test.labels, strict=True))
        return cls(vocab, labels, *encode(train), *encode(test), duplicates, overlap)

    @property
    def scored(self) -> str:
        """Which split the reports score: ``held-out``, or ``training`` when nothing is held out."""
        return "held-out" if self.test_ids else "training"

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.train_y.numpy(), minlength=len(self.labels))


@dataclass
class ClassifierResult:
    epochs: float
    steps: int
    elapsed: float
    history: list[dict] = field(default_factory=list)  # per epoch: loss, accuracy, macro_f1
    report: ClassificationReport | None = None  # final, on the held-out split


class ClassifierTrainer:
    """Trains a :class:`SequenceClassifier` on a :class:`Split`; see the module docstring.

    Args:
        out: checkpoint directory (must not hold another run), or None to keep nothing.
        echo: where per-epoch lines go; progress: show a tqdm bar on stderr.
        sources: the data files, recorded in the config.
    """

    def __init__(
        self,
        split: Split,
        settings: ClassifierSettings,
        out: str | Path | None = None,
        *,
        echo: Callable[[str], object] | None = None,
        progress: bool = True,
        sources: list[str] | None = None,
    ) -> None:
        self.split, self.settings = split, settings
        self.out = Path(out) if out is not None else None
        self.echo = echo or tqdm.write
        self.progress_bar, self.sources = progress, sources or []
        self.device = training_device()
        self.precision = resolve_precision(settings.precision, self.device)
        torch.manual_seed(settings.seed)
        self.rng = np.random.default_rng(settings.seed)
        self.model = settings.build_model(split.vocab, split.labels).to(self.device)
        self.optimizer = adamw(self.model, settings.lr, settings.weight_decay)
        counts = split.class_counts()
        self.weight = None
        if settings.balance:
            weight = counts.sum() / (len(counts) * np.maximum(counts, 1))
            self.weight = torch.tensor(weight, dtype=torch.float32, device=self.device)
        self.batches_per_epoch = math.ceil(len(split.train_ids) / settings.batch_size)
        self.total_steps = settings.epochs * self.batches_per_epoch if settings.epochs else None
        self.lengths = [len(ids) for ids in split.train_ids]
        self.step, self.elapsed = 0, 0.0

    def autocast(self):
        return autocast(self.precision, self.device)

    def progress(self) -> float:
        done = self.step / self.total_steps if self.total_steps else 0.0
        if self.settings.budget:
            done = max(done, self.elapsed / self.settings.budget)
        return done

    def evaluate(self) -> ClassificationReport:
        """The report of the current model on the held-out split (the training split if none)."""
        ids, y = self.split.test_ids, self.split.test_y
        if not ids:
            ids, y = self.split.train_ids, self.split.train_y
        probs = self.model.proba_of_ids(ids, 512, self.autocast)
        return ClassificationReport.of(y.tolist(), probs.argmax(1).tolist(), self.split.labels)

    def fit(self) -> ClassifierResult:
        """Train until the epochs or the budget are used up."""
        if self.out is not None:
            self._claim_out()
        result = ClassifierResult(0.0, 0, 0.0)
        bar = tqdm(
            total=1000,
            disable=not self.progress_bar,
            bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}",
            dynamic_ncols=True,
        )
        clock = time.perf_counter()
        epoch = 0
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
                report = self.evaluate()
                fraction = len(losses) / len(batches)
                result.history.append(
                    {
                        "epoch": epoch - 1 + fraction,
                        "step": self.step,
                        "elapsed": time.perf_counter() - clock,
                        "train_loss": float(np.mean(losses)),
                        "accuracy": report.accuracy,
                        "macro_f1": report.macro_f1,
                    }
                )
                self.echo(
                    f"epoch {epoch - 1 + fraction:.2f}: train loss {np.mean(losses):.4f}, "
                    f"{self.split.scored} accuracy {report.accuracy:.4f}, "
                    f"macro-F1 {report.macro_f1:.4f}"
                )
                self._save_model(report)
                self.elapsed = time.perf_counter() - clock
        finally:
            bar.close()
        result.epochs = result.history[-1]["epoch"] if result.history else 0.0
        result.steps, result.elapsed, result.report = self.step, self.elapsed, report
        self._write_report(result, report)
        return result

    def _train_step(self, batch: list[int]) -> float:
        s = self.settings
        ids, lengths = pad([self.split.train_ids[i] for i in batch])
        y = self.split.train_y[batch].to(self.device)
        lr = learning_rate(self.step, self.progress(), s.lr, s.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        with self.autocast():
            logits = self.model(ids.to(self.device), lengths)
        loss = F.cross_entropy(logits.float(), y, weight=self.weight)
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
        config["training"] = asdict(self.settings)
        config["data"] = {"sources": self.sources}
        write_json(self.out / CONFIG, config)

    def _save_model(self, report: ClassificationReport) -> None:
        if self.out is not None:
            meta = {"step": self.step, "accuracy": report.accuracy, "macro_f1": report.macro_f1}
            self.model.save_pretrained(self.out, meta)

    def _write_report(self, result: ClassifierResult, report: ClassificationReport) -> None:
        if self.out is None:
            return
        write_json(
            self.out / REPORT,
            {
                "split": self.split.scored,
                "train_examples": len(self.split.train_ids),
                "held_out_examples": len(self.split.test_ids),
                "duplicates_dropped": self.split.duplicates,
                "held_out_seen_in_training": self.split.overlap,
                "epochs": result.history,
                "final": report.to_json(),
            },
        )
        title = (
            f"{self.split.scored} split: accuracy {report.accuracy:.3f}, "
            f"macro-F1 {report.macro_f1:.3f}"
        )
        confusion_plot(self.out / CONFUSION, report.confusion, report.labels, title=title)
