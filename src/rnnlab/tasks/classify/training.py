"""Training a sequence classifier: padded, length-bucketed batches and a held-out report.

The labelled data, texts or numeric series, is split once, stratified and seeded
(:func:`~rnnlab.data.labelled.stratified_split`), or by the data set's official split where it
has one (the built-in series); the vocabulary, or the series' standardisation, comes from the
training part only. Series may be augmented anew in every batch (:mod:`rnnlab.data.augment`).
One step: a batch of sequences of similar length (:func:`~rnnlab.data.batches.bucket_batches`),
padded to its longest with the lengths passed to the recurrent layer; minimise the cross-entropy
(weighted by n / (C n_c) per class with ``balance``) with AdamW, the gradient norm clipped, the
learning rate warmed up and then cosine-decayed over the epochs or the wall-clock budget
(:func:`~rnnlab.training.schedule.learning_rate`). After every epoch (and at the end of a
budget) the held-out split is scored: accuracy and macro-F1 (the loop is
:class:`~rnnlab.training.loop.EpochTrainer`'s; the checkpoint is the model at the end of the
run, the held-out split is only reported). ``report.json`` holds the per-epoch scores and the
final per-class report, ``confusion.png`` the final confusion matrix.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.checkpoint import write_json
from rnnlab.data.augment import Augmentation
from rnnlab.data.batches import pad
from rnnlab.data.labelled import (
    LABELLED_OPTIONS,
    LabelledData,
    read_labelled_options,
    stratified_split,
    tokens,
)
from rnnlab.data.series import (
    MISSING,
    SERIES_OPTIONS,
    SeriesData,
    SeriesScaling,
    is_series_path,
    read_series_options,
)
from rnnlab.data.vocab import Vocabulary
from rnnlab.plots import confusion_plot
from rnnlab.settings import (
    NON_NEGATIVE,
    POSITIVE_INT,
    SWITCH,
    UNIT_INTERVAL,
    HeldOutSettings,
    RecurrentSettings,
    RunSettings,
    Settings,
    embedding_setting,
    one_of,
    setting,
    task_settings,
)
from rnnlab.tasks.classify.model import POOLS, SequenceClassifier
from rnnlab.tasks.classify.report import ClassificationReport
from rnnlab.training.loop import EpochResult, EpochTrainer
from rnnlab.training.run import TrainingTask

REPORT = "report.json"
CONFUSION = "confusion.png"


@task_settings(bidirectional=True, dropout=0.3)
class ClassifierSettings(HeldOutSettings, RunSettings, RecurrentSettings):
    """Everything that defines a classifier run: the recurrent network, the run and the held-out
    fraction (see :mod:`rnnlab.settings`) and the fields below; saved in ``config.json``."""

    level: str = setting("char", "symbols read", one_of(("char", "word")), group="model")
    pool: str = setting("max", "outputs -> one vector", one_of(POOLS), group="model")
    embedding_size: int | None = embedding_setting(
        64, "embedding size; 128 for words", one_hot=True
    )
    min_count: int = setting(
        1,
        "symbols seen fewer times in training become <unk>",
        POSITIVE_INT,
        group="model",
        shown="1 for char, 2 for word",
    )
    balance: bool = setting(
        False, "weight the loss by n / (classes x n_class), for skewed classes", SWITCH
    )
    dedupe: bool = setting(False, "drop repeated (text, label) pairs before splitting", SWITCH)
    missing: str = setting(
        "refuse",
        "series: a missing value is refused, or its channel's last value carried",
        one_of(MISSING),
        group="series",
    )
    augment_jitter: float = setting(
        0.0, "series: add N(0, SD^2) to every standardised value", NON_NEGATIVE, group="series"
    )
    augment_scale: float = setting(
        0.0, "series: multiply each channel by N(1, SD^2)", NON_NEGATIVE, group="series"
    )
    augment_warp: float = setting(
        0.0, "series: warp time with speeds ~ N(1, SD^2)", NON_NEGATIVE, group="series"
    )
    augment_slice: float = setting(
        1.0, "series: train on a random window of this fraction", UNIT_INTERVAL, group="series"
    )

    def augmentation(self) -> Augmentation:
        return Augmentation(
            self.augment_jitter, self.augment_scale, self.augment_warp, self.augment_slice
        )

    def build_model(
        self, vocab: Vocabulary | None, labels: list[str], series: SeriesScaling | None = None
    ) -> SequenceClassifier:
        return SequenceClassifier(
            vocab, labels, series=series, **self.arguments(SequenceClassifier)
        )


@task_settings()
class PredictSettings(Settings):
    """How ``classify predict`` answers."""

    top: int = setting(1, "labels per text", POSITIVE_INT)


#: Per level, the settings that differ from the defaults: words are sparser than characters (a
#: wider embedding, more dropout, the words seen once left to <unk> so that it is learned).
LEVEL_SETTINGS = {
    "char": {},
    "word": {"embedding_size": 128, "dropout": 0.5, "min_count": 2},
}
#: For numeric series: the standardised values go straight in (a few channels need no
#: embedding), the data sets are small (a few hundred series), so small batches, a narrower
#: layer and channels scaled by N(1, 0.1^2); chosen in benchmarks/series.py --development.
SERIES_SETTINGS = {
    "embedding_size": None,
    "hidden_size": 128,
    "batch_size": 16,
    "augment_scale": 0.1,
}
#: ... and epochs for about this many updates, whatever the number of series
SERIES_UPDATES = 2000
SERIES_EPOCHS = (10, 200)


def series_epochs(train_series: int, batch_size: int) -> int:
    """Epochs of about :data:`SERIES_UPDATES` updates over ``train_series`` series, within
    :data:`SERIES_EPOCHS`."""
    low, high = SERIES_EPOCHS
    return min(high, max(low, math.ceil(SERIES_UPDATES * batch_size / max(train_series, 1))))


def recommended_classifier_settings(train_series: int | None = None, **given) -> ClassifierSettings:
    """The defaults with :data:`LEVEL_SETTINGS` for ``given``'s level (or, for
    ``train_series`` numeric series, :data:`SERIES_SETTINGS` and :func:`series_epochs`) where
    ``given`` does not set them; what ``rnnlab classify train`` uses."""
    level = given.get("level", ClassifierSettings.level)
    if train_series is None:
        return ClassifierSettings(**(LEVEL_SETTINGS.get(level, {}) | given))
    recommended = dict(SERIES_SETTINGS)
    if "budget" not in given:
        batch = given.get("batch_size", recommended["batch_size"])
        recommended["epochs"] = series_epochs(train_series, batch)
    return ClassifierSettings(**(recommended | given))


def _recommended(given: dict, options: dict) -> ClassifierSettings:
    """The settings of a new ``classify train`` run: for series, sized by how many train."""
    if not reads_series(options):
        return recommended_classifier_settings(**given)
    data = read_classification_options(options, echo=lambda line: None, series=True)
    if data.part is not None:
        train = data.part.count("train")
    else:
        held = given.get("test_fraction", ClassifierSettings.test_fraction)
        train = len(data) - round(len(data) * held)
    return recommended_classifier_settings(train, **given)


def _parts(data: LabelledData | SeriesData, settings: ClassifierSettings) -> tuple:
    """(train, held-out) parts of labelled ``data`` with two or more classes: the official split
    of series that have one, else stratified by ``settings``' fraction and seed."""
    if not data.labels:
        raise ValueError("the data has no labels; training needs a label per example")
    if len(data.classes) < 2:
        raise ValueError(
            f"the data has only one class ({data.classes[0]!r}); a classifier needs at least two"
        )
    if isinstance(data, SeriesData) and data.part is not None:
        return data.official("train"), data.official("test")
    train, test = stratified_split(data.labels, settings.test_fraction, settings.seed)
    if settings.test_fraction > 0 and not test:
        raise ValueError("the held-out split is empty; give more data or --test-fraction 0")
    return data.subset(train), data.subset(test)


@dataclass
class Split:
    """The data split and encoded for training: ids (series: standardised values) per example,
    class index per example."""

    vocab: Vocabulary | None
    labels: list[str]
    train_ids: list[torch.Tensor]
    train_y: torch.Tensor
    test_ids: list[torch.Tensor]
    test_y: torch.Tensor
    duplicates: int = 0  # repeated (text, label) pairs dropped by ``dedupe``
    overlap: int = 0  # held-out texts that also occur in training (with the same label)
    series: SeriesScaling | None = None  # for numeric series, in place of the vocabulary

    @classmethod
    def of(cls, data: LabelledData | SeriesData, settings: ClassifierSettings) -> Split:
        if isinstance(data, SeriesData):
            return cls.of_series(data, settings)
        duplicates = 0
        if settings.dedupe:
            data, duplicates = data.deduplicated()
        labels, (train, test) = data.classes, _parts(data, settings)
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

    @classmethod
    def of_series(cls, data: SeriesData, settings: ClassifierSettings) -> Split:
        """Series split by the data's official split, else stratified; standardised by the
        training series' statistics."""
        labels, (train, test) = data.classes, _parts(data, settings)
        scaling = SeriesScaling.fit(train.series, data.channels, settings.missing)
        index = {label: i for i, label in enumerate(labels)}
        unseen = sorted(set(test.labels) - set(train.labels))
        if unseen:
            raise ValueError(f"class {unseen[0]!r} has no training series")

        def encode(part: SeriesData) -> tuple[list[torch.Tensor], torch.Tensor]:
            pairs = zip(part.series, part.ids, strict=True)
            values = [scaling.apply(v, f"series {name}") for v, name in pairs]
            return values, torch.tensor([index[label] for label in part.labels])

        return cls(None, labels, *encode(train), *encode(test), series=scaling)

    @property
    def scored(self) -> str:
        """Which split the reports score: ``held-out``, or ``training`` when nothing is held out."""
        return "held-out" if self.test_ids else "training"

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.train_y.numpy(), minlength=len(self.labels))

    def majority(self) -> float:
        """The share of the largest class in all the examples: the accuracy of always
        answering it."""
        counts = np.bincount(torch.cat([self.train_y, self.test_y]).numpy())
        return float(counts.max() / counts.sum())


class ClassifierTrainer(EpochTrainer):
    """Trains a :class:`SequenceClassifier` on a :class:`Split`; see the module docstring and
    :class:`~rnnlab.training.loop.EpochTrainer` for ``out``, ``echo``, ``progress`` and
    ``sources``. ``fit()`` returns an :class:`EpochResult` whose ``report`` is the final
    :class:`ClassificationReport`."""

    def __init__(
        self, split: Split, settings: ClassifierSettings, out: str | Path | None = None, **options
    ) -> None:
        self.split = split
        self.augment = settings.augmentation()
        if self.augment.active and split.series is None:
            raise ValueError("the --augment-* options change numeric series, not texts")
        super().__init__(
            settings,
            lambda: settings.build_model(split.vocab, split.labels, split.series),
            [len(ids) for ids in split.train_ids],
            out,
            **options,
        )
        counts = split.class_counts()
        self.weight = None
        if settings.balance:
            weight = counts.sum() / (len(counts) * np.maximum(counts, 1))
            self.weight = torch.tensor(weight, dtype=torch.float32, device=self.device)

    def batch_loss(self, batch: list[int]) -> torch.Tensor:
        examples = [self.split.train_ids[i] for i in batch]
        if self.augment.active:  # drawn anew at every step, the same again on a resumed run
            rng = np.random.default_rng((self.settings.seed, self.step))
            examples = [self.augment(z, rng) for z in examples]
        ids, lengths = pad(examples)
        y = self.split.train_y[batch].to(self.device)
        logits = self.model(ids.to(self.device), lengths)
        return F.cross_entropy(logits.float(), y, weight=self.weight)

    def evaluate(self, final: bool = False) -> ClassificationReport:
        """The report of the current model on the held-out split (the training split if none)."""
        split = self.split
        ids = self.held_out(split.test_ids, split.train_ids)
        y = split.test_y if ids is split.test_ids else split.train_y
        probs = self.model.proba_of_ids(ids, 512, self.autocast)
        return ClassificationReport.of(y.tolist(), probs.argmax(1).tolist(), split.labels)

    def scores(self, report: ClassificationReport) -> dict[str, float]:
        return {"accuracy": report.accuracy, "macro_f1": report.macro_f1}

    def setup_lines(self) -> list[str]:
        s = self.settings
        if self.split.series is not None:
            channels = len(self.split.series.channels)
            longest = max(len(z) for z in self.split.train_ids)
            return [
                f"{channels} channel(s), standardised on the training series, up to {longest} "
                f"steps; {self.setup_line()}"
            ]
        rare = f", <unk> for fewer than {s.min_count}" if s.min_count > 1 else ""
        return [
            f"vocabulary {len(self.split.vocab):,} ({s.level} level{rare}); {self.setup_line()}"
        ]

    def summary_lines(self, result: EpochResult) -> list[str]:
        report, split = result.report, self.split
        details = (
            f"; {split.scored} accuracy {report.accuracy:.4f}, macro-F1 {report.macro_f1:.4f} "
            f"(majority class {split.majority():.4f})"
        )
        return [
            report.format_classes(),
            report.format_confusion(),
            result.summary(details, self.out),
        ]

    def report_record(self) -> dict:
        split = self.split
        return {
            "split": split.scored,
            "train_examples": len(split.train_ids),
            "held_out_examples": len(split.test_ids),
            "duplicates_dropped": split.duplicates,
            "held_out_seen_in_training": split.overlap,
        }

    def write_report(self, result: EpochResult) -> None:
        """``report.json`` and ``confusion.png`` (:func:`write_classification`)."""
        record = {**self.report_record(), "epochs": result.history}
        write_classification(self.out, result.report, f"{self.split.scored} split", **record)


def write_classification(
    out: str | Path, report: ClassificationReport, what: str, **record
) -> None:
    """``report.json`` (``record``, then the report as ``final``) and ``confusion.png`` in
    ``out``: what ``classify train`` leaves with the checkpoint and ``classify evaluate --out``
    writes."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / REPORT, {**record, "final": report.to_json()})
    title = f"{what}: accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}"
    confusion_plot(out / CONFUSION, report.confusion, report.labels, title=title)


#: the options that say which labelled texts or series ``classify`` reads
CLASSIFY_OPTIONS = LABELLED_OPTIONS + tuple(o for o in SERIES_OPTIONS if o not in LABELLED_OPTIONS)


def reads_series(options: dict) -> bool:
    """Whether ``options`` (:data:`CLASSIFY_OPTIONS`) name numeric series: ``builtin``, or one
    ``.ts``/``.npz`` file, or a table with an id column."""
    paths = options.get("data") or []
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    return bool(options.get("builtin")) or (
        len(paths) == 1 and is_series_path(paths[0], options.get("id_column"))
    )


def read_classification_options(
    options: dict, echo=print, series: bool | None = None
) -> LabelledData | SeriesData:
    """The labelled texts or series ``options`` name (:data:`CLASSIFY_OPTIONS`); ``series``
    says which a model reads (None: by the options)."""
    series = reads_series(options) if series is None else series
    if not series:
        if options.get("builtin"):
            raise ValueError("--builtin names series; this classifier reads texts")
        return read_labelled_options(options, echo)
    if options.get("text_column"):
        raise ValueError("--text-column is for texts; series have channels")
    return read_series_options(options, echo)


def series_to_predict(options: dict) -> SeriesData:
    """The series ``classify predict`` labels: those ``options`` name (a built-in set's test
    part), read silently, since the answers are the output."""
    if not (options.get("data") or options.get("builtin")):
        raise ValueError("no data given: --data PATH or --builtin NAME")
    data = read_classification_options(options, lambda line: None, series=True)
    return data.official("test") if data.part is not None else data


def evaluate_classifier(
    model: SequenceClassifier, data: LabelledData | SeriesData
) -> ClassificationReport:
    """The report of ``model`` on labelled ``data`` (texts or series, as the model reads; the
    official test part of a built-in set), whose labels must all be the model's."""
    if isinstance(data, SeriesData) and data.part is not None:
        data = data.official("test")
    if not data.labels:
        raise ValueError("the data has no labels to score against")
    index = {label: i for i, label in enumerate(model.labels)}
    unknown = sorted(set(data.labels) - set(index))
    if unknown:
        shown = ", ".join(repr(label) for label in unknown[:5])
        raise ValueError(
            f"the data has {len(unknown)} label(s) the model was not trained on: {shown}; "
            f"it knows {', '.join(model.labels)}"
        )
    probs = model.predict_proba(data.series if isinstance(data, SeriesData) else data.texts)
    return ClassificationReport.of(
        [index[label] for label in data.labels], probs.argmax(1).tolist(), model.labels
    )


def classifier_trainer(
    settings: ClassifierSettings, options: dict, out: str | Path | None = None, **loop
) -> ClassifierTrainer:
    """The trainer of ``rnnlab classify train``: the labelled texts or series ``options`` name
    (:data:`CLASSIFY_OPTIONS`), split and encoded."""
    echo = loop.setdefault("echo", print)
    data = read_classification_options(options, echo)
    split = Split.of(data, settings)
    echo(
        f"{len(data):,} examples in {len(data.counts())} classes (largest "
        f"{split.majority():.1%}); {len(split.train_ids):,} for training, "
        f"{len(split.test_ids):,} held out"
        + (f" ({split.overlap} of them also in training, same label)" if split.overlap else "")
        + (f"; {split.duplicates} repeated examples dropped" if settings.dedupe else "")
    )
    return ClassifierTrainer(split, settings, out, sources=data.sources, **loop)


#: ``rnnlab classify train`` on the spine (:func:`rnnlab.training.run.run_training`)
CLASSIFY = TrainingTask(
    command="classify train",
    settings=ClassifierSettings,
    trainer=classifier_trainer,
    models=(SequenceClassifier,),
    data_options=CLASSIFY_OPTIONS,
    recommended=_recommended,
)
