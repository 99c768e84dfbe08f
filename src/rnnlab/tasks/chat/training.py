"""Training a chatbot: dialogues split by conversation, the translator's loop, and the held-out
measures of a dialogue model.

The (context, reply) pairs (:func:`~rnnlab.tasks.chat.dialogues.dialogue_pairs`) are split by
conversation (seeded): no turn of a held-out conversation is seen in training. Replies longer
than ``max_length`` tokens are skipped and counted. Training is
:class:`~rnnlab.tasks.translate.Seq2SeqTrainer`'s (teacher forcing, length-bucketed batches, the
model at the end of the run kept), except that a share ``unconditional`` of the pairs is read
with the empty context, which teaches the same network p(reply) (see
:mod:`rnnlab.tasks.chat.model`).

The report (:class:`ChatReport`), on the held-out pairs:

- perplexity of the true reply (per token, ``</s>`` included), teacher-forced;
- recall@1 (and @2, @5) of the true reply among ``CANDIDATES`` = 10: it and 9 replies drawn
  (seeded) from other held-out conversations, ranked by the length-normalised log p(r | c)
  (chance: 1 in 10), and the same ranked by the MMI score with lambda = ``diverse`` (1 when
  ``diverse`` is 0);
- at the end also generated replies (the settings' decoding): distinct-1 and distinct-2 (the
  share of distinct word unigrams and bigrams over all replies, Li et al. 2016), corpus BLEU
  against every reply that context has among the held-out pairs, and example exchanges.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from rnnlab.data.vocab import Vocabulary
from rnnlab.settings import (
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    SEED,
    UNIT_INTERVAL,
    Settings,
    setting,
    task_settings,
)
from rnnlab.tasks.chat.dialogues import (
    TURN,
    DialoguePairs,
    Dialogues,
    builtin,
    dialogue_pairs,
    read_dialogues,
)
from rnnlab.tasks.chat.model import Chatbot, Decoding
from rnnlab.tasks.translate.model import Seq2Seq
from rnnlab.tasks.translate.pairs import Pairs, sentence_tokens
from rnnlab.tasks.translate.training import (
    PairSplit,
    Seq2SeqSettings,
    Seq2SeqTrainer,
    corpus_bleu,
    encode_pairs,
    grouped_references,
)
from rnnlab.training.run import TrainingTask

CANDIDATES = 10
RECALL_AT = (1, 2, 5)


@task_settings(
    level="word",
    max_length=40,
    hidden_size=256,
    dropout=0.5,
    word_dropout=0.5,
    weight_decay=0.1,
    beam=5,
    batch_size=32,
    lr=2e-3,
)
class ChatSettings(Seq2SeqSettings):
    """A chatbot's run: the translator's settings (less the columns of a pairs file) and the
    fields below; saved in ``config.json``."""

    DEFAULT_EPOCHS: ClassVar[int] = 30
    OMIT: ClassVar[tuple[str, ...]] = ("source_column", "target_column")
    HELP: ClassVar[dict[str, str]] = {
        "bidirectional": "encoder reads both ways",
        "max_length": "skip replies longer than this many tokens; a reply is at most this long",
    }

    context: int = setting(
        2, "earlier turns read before the last one", NON_NEGATIVE_INT, group="model"
    )
    unconditional: float = setting(
        0.2, "share of training pairs read with an empty context (teaches p(reply))", FRACTION
    )
    no_repeat: int = setting(
        3, "no reply repeats an n-gram of this many tokens; 0 for no guard", NON_NEGATIVE_INT
    )
    diverse: float = setting(
        0.0,
        "MMI reranking: subtract this times log p(reply) from log p(reply | context)",
        NON_NEGATIVE,
    )

    def build_model(self, source_vocab: Vocabulary, target_vocab: Vocabulary) -> Chatbot:
        network = self.arguments(Seq2Seq)  # Chatbot passes them on as **network
        return Chatbot(source_vocab, target_vocab, context=self.context, **network)

    def decoding(self, sampling: ReplySampling | None = None) -> Decoding:
        """How replies are chosen: beam search as these settings say, or ``sampling``'s
        sampling when it asks for any."""
        s = sampling or ReplySampling()
        return Decoding(
            beam=self.beam,
            alpha=self.alpha,
            temperature=s.temperature,
            top_k=s.top_k,
            top_p=s.top_p,
            no_repeat=self.no_repeat,
            diverse=self.diverse,
        )


@task_settings()
class ReplySampling(Settings):
    """Replies sampled rather than searched for: at ``temperature`` (1 when only ``top_k`` or
    ``top_p`` is given), among the ``top_k`` likeliest or the nucleus of mass ``top_p``."""

    temperature: float | None = setting(
        None,
        "sample replies at this temperature",
        POSITIVE,
        group="sampling",
        shown="beam search",
    )
    top_k: int | None = setting(
        None, "sample among the K likeliest", POSITIVE_INT, group="sampling", shown=""
    )
    top_p: float | None = setting(
        None, "nucleus sampling", UNIT_INTERVAL, group="sampling", shown=""
    )
    seed: int = setting(0, "of sampling", SEED, group="sampling")


def chat_pairs(dialogues: Dialogues, settings: ChatSettings) -> tuple[Pairs, list[int]]:
    """The (context, reply) pairs with replies of at most ``max_length`` tokens (the others
    counted in ``too_long``), and each pair's conversation."""
    every: DialoguePairs = dialogue_pairs(dialogues, settings.context)
    pairs, groups = Pairs([], [], dialogues.source), []
    for context, reply, conversation in zip(
        every.contexts, every.replies, every.conversation, strict=True
    ):
        if len(sentence_tokens(reply, settings.level)) > settings.max_length:
            pairs.too_long += 1
            continue
        pairs.sources.append(context)
        pairs.targets.append(reply)
        groups.append(conversation)
    if not pairs.sources:
        raise ValueError(f"every reply is over {settings.max_length} tokens; raise --max-length")
    return pairs, groups


def chat_split(dialogues: Dialogues, settings: ChatSettings) -> tuple[PairSplit, list[int]]:
    """The pairs split by conversation and encoded, the source vocabulary holding the line
    break between turns; and the held-out pairs' conversations."""
    pairs, groups = chat_pairs(dialogues, settings)
    limit = settings.max_length * (settings.context + 1)  # as Chatbot.max_context
    split = PairSplit.of(pairs, settings, groups, reserved=(TURN,), source_limit=limit)
    split.train.too_long = pairs.too_long
    return split, [groups[i] for i in split.held_out]


def recall_at(scores: torch.Tensor, k: int) -> float:
    """The share of rows of ``scores`` (N, K), the true candidate in column 0, whose true
    candidate ranks in the first ``k``; a tie counts against it."""
    if not len(scores):
        return 0.0
    rank = (scores[:, 1:] >= scores[:, :1]).sum(1)
    return float((rank < k).double().mean())


def distinct(replies: list[str], n: int) -> float:
    """distinct-n: distinct word n-grams over all word n-grams of ``replies`` (0 if none)."""
    grams = [
        tuple(words[i : i + n])
        for words in (r.split() for r in replies)
        for i in range(len(words) - n + 1)
    ]
    return len(set(grams)) / len(grams) if grams else 0.0


@dataclass
class ChatReport:
    """Held-out measures of a chatbot (see the module docstring); ``examples`` are (context,
    true reply, generated reply)."""

    perplexity: float
    recall: dict[str, float]
    recall_mmi: dict[str, float]
    mmi_lambda: float
    candidates: int
    pairs: int
    tokens: int
    distinct_1: float | None = None
    distinct_2: float | None = None
    bleu: float | None = None
    signature: str = ""
    examples: list[tuple[str, str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def example_lines(self) -> list[str]:
        """The example exchanges, each with its true reply, and sacrebleu's signature."""
        lines = [
            f"  {' / '.join(context.splitlines())}\n    -> {reply}\n    true reply: {truth}"
            for context, truth, reply in self.examples
        ]
        return lines + ([f"BLEU: sacrebleu {self.signature}"] if self.signature else [])

    def summary(self) -> str:
        line = (
            f"recall@1 {self.recall['1']:.3f} (MMI {self.recall_mmi['1']:.3f}) of "
            f"{self.candidates}, perplexity {self.perplexity:.2f} over {self.pairs:,} replies"
        )
        if self.distinct_1 is not None:
            line += (
                f"; generated: distinct-1 {self.distinct_1:.3f}, distinct-2 "
                f"{self.distinct_2:.3f}, BLEU {self.bleu:.2f}"
            )
        return line


def distractors(groups: list[int], replies: list[str], seed: int) -> list[list[int]]:
    """For each pair, up to ``CANDIDATES`` - 1 other pairs (seeded) whose replies come from
    another conversation and differ from its own reply."""
    rng = np.random.default_rng(seed)
    chosen = []
    for i, (group, _reply) in enumerate(zip(groups, replies, strict=True)):
        others = [j for j in range(len(replies)) if groups[j] != group and replies[j] != replies[i]]
        size = min(CANDIDATES - 1, len(others))
        chosen.append([int(j) for j in rng.choice(others, size, replace=False)] if size else [])
    return chosen


@torch.no_grad()
def chat_report(
    model: Chatbot,
    sources: list[torch.Tensor],
    targets: list[torch.Tensor],
    contexts: list[str],
    replies: list[str],
    groups: list[int],
    *,
    decoding: Decoding | None = None,
    seed: int = 0,
    generate: bool = True,
    examples: int = 5,
    autocast=None,
) -> ChatReport:
    """The :class:`ChatReport` of ``model`` on encoded pairs (``targets`` end in ``</s>``)
    whose texts are ``contexts`` and ``replies`` and conversations ``groups``; with
    ``generate`` also the measures of generated replies."""
    from contextlib import nullcontext

    autocast = autocast or nullcontext
    decoding = decoding or Decoding()
    mmi = decoding.diverse or 1.0
    nll, tokens, rows, rows_mmi = 0.0, 0, [], []
    others = distractors(groups, replies, seed)
    width = min((len(o) for o in others), default=0) + 1
    for i, source in enumerate(sources):
        candidates = [targets[i], *(targets[j] for j in others[i][: width - 1])]
        log_probs = model.target_log_probs([source] * len(candidates), candidates, autocast)
        nll -= float(log_probs[0])
        tokens += len(targets[i])
        if width > 1:
            score = partial(model.reply_scores, source, candidates, log_probs=log_probs)
            rows.append(score(0.0))
            rows_mmi.append(score(mmi, autocast=autocast))
    plain = torch.stack(rows) if width > 1 else torch.zeros(0, 1)
    scored_mmi = torch.stack(rows_mmi) if rows_mmi else torch.zeros(0, 1)
    report = ChatReport(
        math.exp(nll / max(tokens, 1)),
        {str(k): recall_at(plain, k) for k in RECALL_AT},
        {str(k): recall_at(scored_mmi, k) for k in RECALL_AT},
        mmi,
        width,
        len(sources),
        tokens,
    )
    if generate and contexts:
        sentences, references = grouped_references(Pairs(contexts, replies))
        generated = [
            model.reply(c.split(TURN), decoding, autocast=autocast).text for c in sentences
        ]
        report.distinct_1, report.distinct_2 = distinct(generated, 1), distinct(generated, 2)
        report.bleu, report.signature = corpus_bleu(generated, references)
        report.examples = [
            (c, r[0], g) for c, r, g in zip(sentences, references, generated, strict=True)
        ][:examples]
    return report


class ChatTrainer(Seq2SeqTrainer):
    """Trains a :class:`Chatbot` on a :func:`chat_split`; ``groups`` are the held-out pairs'
    conversations. ``fit()`` returns an :class:`EpochResult` whose ``report`` is the final
    :class:`ChatReport`."""

    def __init__(
        self,
        split: PairSplit,
        groups: list[int],
        settings: ChatSettings,
        out: str | Path | None = None,
        **options,
    ) -> None:
        super().__init__(split, settings, out, **options)
        self.groups = groups
        self.empty_rng = np.random.default_rng(settings.seed + 1)

    def batch_sources(self, batch: list[int]) -> list[torch.Tensor]:
        sources = super().batch_sources(batch)
        drop = self.empty_rng.random(len(sources)) < self.settings.unconditional
        return [self.model.empty if d else s for s, d in zip(sources, drop, strict=True)]

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors, meta = super().state_tensors()
        return tensors, meta | {"empty_rng": self.empty_rng.bit_generator.state}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        super().load_state_tensors(tensors, meta)
        self.empty_rng.bit_generator.state = meta["empty_rng"]

    def setup_lines(self) -> list[str]:
        s, split = self.settings, self.split
        return [
            f"vocabularies: {len(split.source_vocab):,} context, {len(split.target_vocab):,} "
            f"reply {s.level}s; context {s.context} earlier turns; {self.setup_line()}"
        ]

    def evaluate(self, final: bool = False) -> ChatReport:
        """Teacher-forced measures after every epoch; generated replies at the end."""
        split = self.split
        held = self.held_out(split.test, split.train) is split.test
        pairs = split.test if held else split.train
        return chat_report(
            self.model,
            split.test_source if held else split.train_source,
            split.test_target if held else split.train_target,
            pairs.sources,
            pairs.targets,
            self.groups if held else list(range(len(pairs))),
            decoding=self.settings.decoding(),
            seed=self.settings.seed,
            generate=final,
            autocast=self.autocast,
        )

    def scores(self, report: ChatReport) -> dict[str, float]:
        return {
            "recall@1": report.recall["1"],
            "recall@1_mmi": report.recall_mmi["1"],
            "perplexity": report.perplexity,
        }

    def report_record(self) -> dict:
        split = self.split
        return {
            "split": split.scored,
            "train_pairs": len(split.train),
            "held_out_pairs": len(split.test),
        }


#: the options that say which dialogues to read and how
DIALOGUE_OPTIONS = ("dialogues", "builtin", "encoding")


def read_dialogue_options(options: dict) -> Dialogues:
    """The dialogues ``options`` (:data:`DIALOGUE_OPTIONS`) name: a built-in corpus or a file."""
    if options.get("builtin"):
        return builtin(options["builtin"])
    if not options.get("dialogues"):
        raise ValueError("no dialogues given: --dialogues PATH or --builtin NAME")
    return read_dialogues(options["dialogues"], options.get("encoding") or "utf-8")


def chatbot_trainer(
    settings: ChatSettings, options: dict, out: str | Path | None = None, **loop
) -> ChatTrainer:
    """The trainer of ``rnnlab chat train``: the dialogues ``options`` name, cut into (context,
    reply) pairs and split by conversation."""
    echo = loop.setdefault("echo", print)
    dialogues = read_dialogue_options(options)
    split, groups = chat_split(dialogues, settings)
    echo(
        f"{dialogues.describe()}; {len(split.train) + len(split.test):,} replies "
        f"({split.train.too_long:,} over {settings.max_length} tokens skipped): "
        f"{len(split.train):,} for training, {len(split.test):,} held out "
        f"({len(set(groups)):,} conversations)"
    )
    return ChatTrainer(split, groups, settings, out, sources=[dialogues.source], **loop)


def evaluate_chatbot(
    model: Chatbot, dialogues: Dialogues, decoding: Decoding, echo: Callable[[str], object] = print
) -> ChatReport:
    """The held-out measures of ``model`` on every (context, reply) pair of ``dialogues``."""
    settings = ChatSettings(
        level=model.target_vocab.level, context=model.context, max_length=model.max_length
    )
    pairs, groups = chat_pairs(dialogues, settings)
    echo(f"{dialogues.describe()}; {len(pairs):,} replies ({pairs.too_long:,} too long)")
    sources, targets = encode_pairs(
        pairs, model.source_vocab, model.target_vocab, model.max_context
    )
    return chat_report(
        model, sources, targets, pairs.sources, pairs.targets, groups, decoding=decoding
    )


#: ``rnnlab chat train`` on the spine (:func:`rnnlab.training.run.run_training`)
CHAT = TrainingTask(
    command="chat train",
    settings=ChatSettings,
    trainer=chatbot_trainer,
    models=(Chatbot,),
    data_options=DIALOGUE_OPTIONS,
)
