"""Training a translator: pairs split by source, teacher forcing on a schedule, and BLEU.

The pairs are split once (:func:`~rnnlab.tasks.translate.pairs.grouped_split`: whole groups
of pairs that share a source sentence are held out, seeded), and both vocabularies come from
the training part.
One step: a batch of pairs of similar source length, padded; the decoder reads the target
shifted right (``<s> y_1 .. y_n``) and is trained to emit ``y_1 .. y_n </s>`` by cross-entropy
over the real target tokens. Teacher forcing: each input token is the true previous token with
probability p, else the model's own previous choice (scheduled sampling, Bengio et al. 2015, with
the argmax); p goes linearly from ``teacher_forcing`` to ``teacher_forcing_end`` over the run.

The held-out report (:class:`TranslationReport`), after every epoch: the perplexity and the
token accuracy of the teacher-forced decoder over the held-out pairs, and corpus BLEU
(sacrebleu, its default 13a tokenisation) of greedy translations of each held-out source against
all of its references; at the end also with beam search. The checkpoint is the model at the end
of the run (the loop is :class:`~rnnlab.training.loop.EpochTrainer`'s).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F

from rnnlab.data.batches import IGNORE, pad
from rnnlab.data.vocab import END, Vocabulary, target_vocabulary
from rnnlab.kernels import at_least_fp32
from rnnlab.modes import evaluating
from rnnlab.settings import (
    DECODED,
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    PROBABILITY,
    HeldOutSettings,
    RecurrentSettings,
    RunSettings,
    embedding_setting,
    one_of,
    setting,
    task_settings,
)
from rnnlab.tasks.translate.model import ATTENTIONS, Seq2Seq
from rnnlab.tasks.translate.pairs import (
    PAIR_LEVELS,
    Pairs,
    grouped_split,
    read_pairs,
    sentence_tokens,
)
from rnnlab.training.loop import EpochResult, EpochTrainer
from rnnlab.training.run import TrainingTask


@task_settings(bidirectional=True, dropout=0.2, batch_size=32, lr=2e-3)
class Seq2SeqSettings(HeldOutSettings, RunSettings, RecurrentSettings):
    """Everything that defines a translation run: the recurrent network (the encoder's; the
    decoder has its size), the run, the held-out fraction (see :mod:`rnnlab.settings`) and the
    fields below; saved in ``config.json``."""

    DEFAULT_EPOCHS: ClassVar[int] = 20
    HELP: ClassVar[dict[str, str]] = {"bidirectional": "encoder reads both ways"}

    level: str = setting("word", "tokens", one_of(PAIR_LEVELS), group="model")
    source_column: int = setting(0, "0-based column of the source", NON_NEGATIVE_INT, group="data")
    target_column: int = setting(1, "0-based column of the target", NON_NEGATIVE_INT, group="data")
    max_length: int = setting(
        50, "skip pairs with a side longer than this many tokens", DECODED, group="data"
    )
    attention: str = setting("luong", "luong, bahdanau or none", one_of(ATTENTIONS), group="model")
    embedding_size: int = embedding_setting(256, "embedding size")
    min_count: int = setting(
        1, "tokens seen fewer times in training become <unk>", POSITIVE_INT, group="model"
    )
    teacher_forcing: float = setting(
        1.0,
        "probability of feeding the decoder the true previous token rather than its own "
        "choice, at the start",
        PROBABILITY,
    )
    teacher_forcing_end: float | None = setting(
        None, "... at the end of the run, reached linearly", PROBABILITY, shown="the start value"
    )
    word_dropout: float = setting(
        0.0,
        "share of the decoder's input tokens replaced by <unk> in training, so that it leans on "
        "the source (Bowman et al. 2016)",
        FRACTION,
    )
    beam: int = setting(5, "beam width; 1 is greedy decoding", POSITIVE_INT)
    alpha: float = setting(
        1.0,
        "length normalisation: hypotheses ranked by log p / length^alpha",
        NON_NEGATIVE,
    )

    def __post_init__(self) -> None:
        if self.teacher_forcing_end is None:
            self.teacher_forcing_end = self.teacher_forcing
        super().__post_init__()

    def build_model(self, source_vocab: Vocabulary, target_vocab: Vocabulary) -> Seq2Seq:
        return Seq2Seq(source_vocab, target_vocab, **self.arguments(Seq2Seq))


@dataclass
class PairSplit:
    """Pairs split and encoded: training pairs, held-out pairs, and the held-out sources with
    all of their references (for BLEU)."""

    source_vocab: Vocabulary
    target_vocab: Vocabulary
    train: Pairs
    test: Pairs
    train_source: list[torch.Tensor]
    train_target: list[torch.Tensor]
    test_source: list[torch.Tensor]
    test_target: list[torch.Tensor]
    sentences: list[str] = field(default_factory=list)  # distinct held-out sources
    references: list[list[str]] = field(default_factory=list)  # per sentence, its targets
    held_out: list[int] = field(default_factory=list)  # the held-out pairs' indices

    @classmethod
    def of(
        cls,
        pairs: Pairs,
        settings: Seq2SeqSettings,
        groups: list[int] | None = None,
        reserved: tuple[str, ...] = (),
        source_limit: int | None = None,
    ) -> PairSplit:
        """Split ``pairs`` holding out whole groups: of pairs with one source, or of the pairs
        with one key in ``groups`` (a chatbot's conversations). The source vocabulary also
        holds the ``reserved`` symbols; a source keeps its last ``source_limit`` tokens."""
        keys = pairs.sources if groups is None else groups
        train_idx, test_idx = grouped_split(keys, settings.test_fraction, settings.seed)
        train, test = pairs.subset(train_idx), pairs.subset(test_idx)
        if settings.test_fraction > 0 and not len(test):
            raise ValueError("the held-out split is empty; give more pairs or --test-fraction 0")
        level = settings.level

        def counts(texts: list[str]) -> Counter:
            return Counter(t for text in texts for t in sentence_tokens(text, level))

        source_vocab = Vocabulary.from_counts(
            level, counts(train.sources), settings.min_count, reserved
        )
        target_vocab = target_vocabulary(level, counts(train.targets), settings.min_count)
        sentences, references = grouped_references(test)
        return cls(
            source_vocab,
            target_vocab,
            train,
            test,
            *encode_pairs(train, source_vocab, target_vocab, source_limit),
            *encode_pairs(test, source_vocab, target_vocab, source_limit),
            sentences,
            references,
            test_idx,
        )

    @property
    def scored(self) -> str:
        """Which split the reports score: ``held-out``, or ``training`` with nothing held out."""
        return "held-out" if len(self.test) else "training"


def encode_pairs(
    pairs: Pairs,
    source_vocab: Vocabulary,
    target_vocab: Vocabulary,
    source_limit: int | None = None,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The pairs as ids: sources (their last ``source_limit`` tokens, if given), and targets
    followed by ``</s>``."""
    end = torch.tensor([target_vocab.symbols.index(END)])
    level = source_vocab.level
    first = -source_limit if source_limit else 0
    sources = [source_vocab.encode_tokens(sentence_tokens(s, level)[first:]) for s in pairs.sources]
    targets = [
        torch.cat([target_vocab.encode_tokens(sentence_tokens(t, level)), end])
        for t in pairs.targets
    ]
    return sources, targets


def grouped_references(pairs: Pairs) -> tuple[list[str], list[list[str]]]:
    """The distinct sources of ``pairs`` in order of appearance, and each one's targets."""
    references: dict[str, list[str]] = {}
    for source, target in zip(pairs.sources, pairs.targets, strict=True):
        references.setdefault(source, []).append(target)
    return list(references), list(references.values())


def corpus_bleu(hypotheses: list[str], references: list[list[str]]) -> tuple[float, str]:
    """Corpus BLEU (0-100) of ``hypotheses`` against a varying number of references each, by
    sacrebleu, and sacrebleu's signature of how it was computed."""
    import sacrebleu

    width = max(len(r) for r in references)
    streams = [[r[k] if k < len(r) else None for r in references] for k in range(width)]
    bleu = sacrebleu.BLEU()
    return bleu.corpus_score(hypotheses, streams).score, str(bleu.get_signature())


@dataclass
class TranslationReport:
    """Scores of a translator on a split; ``examples`` are (source, references, translation)."""

    perplexity: float
    token_accuracy: float
    bleu: float
    tokens: int
    sentences: int
    beam_bleu: float | None = None
    beam: int = 1
    signature: str = ""
    examples: list[tuple[str, list[str], str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def example_lines(self) -> list[str]:
        """The example translations, each with its references, and sacrebleu's signature."""
        lines = [
            f"  {source}\n    -> {translation}\n    reference: {' | '.join(references)}"
            for source, references, translation in self.examples
        ]
        return lines + ([f"BLEU: sacrebleu {self.signature}"] if self.signature else [])

    def summary(self) -> str:
        beam = f", beam {self.beam} BLEU {self.beam_bleu:.2f}" if self.beam_bleu is not None else ""
        return (
            f"BLEU {self.bleu:.2f} (greedy){beam}, token accuracy {self.token_accuracy:.4f}, "
            f"perplexity {self.perplexity:.2f} over {self.sentences:,} sentences "
            f"({self.tokens:,} target tokens)"
        )


@torch.no_grad()
def translation_report(
    model: Seq2Seq,
    sources: list[torch.Tensor],
    targets: list[torch.Tensor],
    sentences: list[str],
    references: list[list[str]],
    *,
    beam: int = 1,
    alpha: float = 1.0,
    examples: int = 5,
    autocast=None,
    batch_size: int = 256,
) -> TranslationReport:
    """Teacher-forced perplexity and token accuracy over the pairs (``sources``, ``targets``:
    encoded, targets ending in ``</s>``), and BLEU of translating ``sentences`` (greedy, and
    with ``beam`` > 1 also beam search) against their ``references``."""
    from contextlib import nullcontext

    autocast = autocast or nullcontext
    device = model.head.weight.device
    total_nll, correct, count = 0.0, 0, 0
    with evaluating(model, no_grad=False):
        for start in range(0, len(sources), batch_size):
            rows = range(start, min(start + batch_size, len(sources)))
            with autocast():
                logits, gold = _teacher_forced(
                    model, [sources[i] for i in rows], [targets[i] for i in rows], device
                )
            real = gold != IGNORE
            logits = at_least_fp32(logits)
            total_nll += float(F.cross_entropy(logits[real], gold[real], reduction="sum"))
            correct += int((logits.argmax(-1)[real] == gold[real]).sum())
            count += int(real.sum())
        encoded = [model.encode_source(s) for s in sentences]
        greedy = []
        for start in range(0, len(encoded), batch_size):
            greedy += model.greedy(encoded[start : start + batch_size], autocast=autocast)
        hypotheses = [t.text for t in greedy]
        bleu, signature = corpus_bleu(hypotheses, references) if sentences else (0.0, "")
        report = TranslationReport(
            math.exp(total_nll / max(count, 1)),
            correct / max(count, 1),
            bleu,
            count,
            len(sentences),
            signature=signature,
            examples=[(s, r, h) for s, r, h in zip(sentences, references, hypotheses, strict=True)][
                :examples
            ],
        )
        if beam > 1 and sentences:
            best = [
                model.widen(source, first, beam, alpha, autocast=autocast)
                for source, first in zip(encoded, greedy, strict=True)
            ]
            report.beam, report.beam_bleu = beam, corpus_bleu([t.text for t in best], references)[0]
        return report


def _teacher_forced(model, sources, targets, device, own=None, word_dropout=0.0):
    """Logits (B, T, V) and gold ids (B, T) (IGNORE at padding) of a batch of encoded pairs;
    with ``word_dropout`` p each input token after ``<s>`` is ``<unk>`` with probability p."""
    ids, lengths = pad(sources)
    gold, _ = pad(targets, IGNORE)
    previous = torch.cat([torch.full((len(targets), 1), model.start), gold[:, :-1]], 1)
    previous = previous.masked_fill(previous == IGNORE, model.end)  # padding: any real id
    if word_dropout > 0:
        drop = torch.rand(previous.shape) < word_dropout
        drop[:, 0] = False
        unknown = model.target_vocab.symbols.index(model.target_vocab.unknown)
        previous = previous.masked_fill(drop, unknown)
    logits = model(ids.to(device), lengths, previous.to(device), own)
    return logits, gold.to(device)


class Seq2SeqTrainer(EpochTrainer):
    """Trains a :class:`Seq2Seq` on a :class:`PairSplit`; see the module docstring and
    :class:`~rnnlab.training.loop.EpochTrainer` for ``out``, ``echo``, ``progress`` and
    ``sources``. ``fit()`` returns an :class:`EpochResult` whose ``report`` is the final
    :class:`TranslationReport` (with beam search when ``settings.beam`` > 1)."""

    def __init__(
        self, split: PairSplit, settings: Seq2SeqSettings, out: str | Path | None = None, **options
    ) -> None:
        self.split = split
        super().__init__(
            settings,
            lambda: settings.build_model(split.source_vocab, split.target_vocab),
            [len(s) for s in split.train_source],
            out,
            **options,
        )

    def teacher_forcing(self) -> float:
        """The probability of feeding the true previous token now."""
        s = self.settings
        p = min(1.0, self.progress())
        return s.teacher_forcing + (s.teacher_forcing_end - s.teacher_forcing) * p

    def batch_sources(self, batch: list[int]) -> list[torch.Tensor]:
        """The encoded sources the decoder reads for ``batch``."""
        return [self.split.train_source[i] for i in batch]

    def batch_loss(self, batch: list[int]) -> torch.Tensor:
        split = self.split
        own = None
        forcing = self.teacher_forcing()
        if forcing < 1:
            steps = max(len(split.train_target[i]) for i in batch)
            own = torch.rand(len(batch), steps) >= forcing
            own = own.to(self.device)
        logits, gold = _teacher_forced(
            self.model,
            self.batch_sources(batch),
            [split.train_target[i] for i in batch],
            self.device,
            own,
            self.settings.word_dropout,
        )
        return F.cross_entropy(logits.float().flatten(0, 1), gold.flatten(), ignore_index=IGNORE)

    def _held_out(self):
        split = self.split
        if self.held_out(split.test, split.train) is split.test:
            return split.test_source, split.test_target, split.sentences, split.references
        return split.train_source, split.train_target, *grouped_references(split.train)

    def evaluate(self, final: bool = False) -> TranslationReport:
        """The report of the current model on the held-out split (training split if none);
        the final one with beam search too."""
        return translation_report(
            self.model,
            *self._held_out(),
            beam=self.settings.beam if final else 1,
            alpha=self.settings.alpha,
            autocast=self.autocast,
        )

    def scores(self, report: TranslationReport) -> dict[str, float]:
        return {
            "bleu": report.bleu,
            "token_accuracy": report.token_accuracy,
            "perplexity": report.perplexity,
        }

    def report_record(self) -> dict:
        split = self.split
        return {
            "split": split.scored,
            "train_pairs": len(split.train),
            "held_out_pairs": len(split.test),
            "held_out_sentences": len(split.sentences),
        }

    def setup_lines(self) -> list[str]:
        s, split = self.settings, self.split
        return [
            f"vocabularies: {len(split.source_vocab):,} source, {len(split.target_vocab):,} "
            f"target {s.level}s; attention {s.attention}; {self.setup_line()}"
        ]

    def summary_lines(self, result: EpochResult) -> list[str]:
        details = f"; {self.split.scored}: {result.report.summary()}"
        return [*result.report.example_lines(), result.summary(details, self.out)]


#: the options that say which pairs file to read and how
PAIRS_OPTIONS = ("pairs", "encoding")


def read_pairs_options(options: dict, level: str, columns: tuple[int, int], max_length: int):
    """The pairs ``options`` (:data:`PAIRS_OPTIONS`) name, of ``level`` tokens, the source and
    the target in ``columns``, those with a side over ``max_length`` tokens skipped."""
    if not options.get("pairs"):
        raise ValueError("no pairs given: --pairs FILE (tab-separated, one pair per line)")
    encoding = options.get("encoding") or "utf-8"
    return read_pairs(options["pairs"], level, *columns, max_length, encoding)


def translator_trainer(
    settings: Seq2SeqSettings, options: dict, out: str | Path | None = None, **loop
) -> Seq2SeqTrainer:
    """The trainer of ``rnnlab translate train``: the pairs ``options`` name, split by source."""
    echo = loop.setdefault("echo", print)
    columns = (settings.source_column, settings.target_column)
    pairs = read_pairs_options(options, settings.level, columns, settings.max_length)
    split = PairSplit.of(pairs, settings)
    echo(
        f"{len(pairs):,} pairs ({pairs.empty} with an empty side and {pairs.too_long} over "
        f"{settings.max_length} tokens skipped); {len(split.train):,} for training, "
        f"{len(split.test):,} held out ({len(split.sentences):,} distinct sources)"
    )
    return Seq2SeqTrainer(split, settings, out, sources=[pairs.path], **loop)


def evaluate_translator(
    model: Seq2Seq,
    options: dict,
    columns: tuple[int, int] = (0, 1),
    max_length: int | None = None,
    *,
    beam: int = 1,
    alpha: float = 1.0,
    echo: Callable[[str], object] = print,
) -> TranslationReport:
    """The report of ``model`` on every pair of the file ``options`` name (each source against
    all its references), decoded with ``beam`` and ``alpha``; pairs with a side over
    ``max_length`` tokens (None: the model's) are skipped, and counted on ``echo``."""
    longest = max_length or model.max_length
    pairs = read_pairs_options(options, model.source_vocab.level, columns, longest)
    if pairs.empty or pairs.too_long:
        echo(
            f"skipped {pairs.empty} pair(s) with an empty side and {pairs.too_long} over "
            f"{longest} tokens"
        )
    for number, source in enumerate(pairs.sources, 1):
        model.encode_source(source, f"the source of pair {number}")  # empty or over-long
    sources, targets = encode_pairs(pairs, model.source_vocab, model.target_vocab)
    references = grouped_references(pairs)
    return translation_report(model, sources, targets, *references, beam=beam, alpha=alpha)


#: ``rnnlab translate train`` on the spine (:func:`rnnlab.training.run.run_training`)
TRANSLATE = TrainingTask(
    command="translate train",
    settings=Seq2SeqSettings,
    trainer=translator_trainer,
    models=(Seq2Seq,),
    data_options=PAIRS_OPTIONS,
)
