"""The chatbot: the translator's encoder-decoder reading a conversation and writing a reply.

The input is flat: the last turn and up to ``context`` turns before it, oldest first, joined by
line breaks, one token sequence (at most ``max_length`` x (``context`` + 1) tokens, the oldest
cut first). Flat rather than hierarchical (an utterance encoder under a conversation encoder, as
in HRED, Serban et al. 2016) because the contexts here are a few short turns, and the attention
decoder of :class:`~rnnlab.tasks.translate.Seq2Seq` then reads any word of any turn directly,
with no second recurrent network to train from the same few thousand pairs.

Two probabilities from one network: p(r | c), the decoder after reading the context, and p(r),
the same decoder after reading only a line break (the empty context). Training shows that empty
context in place of the real one for a share of the pairs (``unconditional``), the trick of
classifier-free guidance (Ho & Salimans 2022), so the reply language model needs no second
training.

Replying (:class:`Decoding`): beam search (width 1 is greedy) ranked by log p / len^alpha, or
sampling (temperature, top-k, top-p); either way no n-gram of ``no_repeat`` tokens twice in a
reply. ``diverse`` = lambda > 0 reranks the candidates (the beam's hypotheses, or ``beam``
samples) by maximum mutual information (Li et al. 2016, the anti-language-model form):

    score(r) = (log p(r | c) - lambda log p(r)) / len(r)^alpha

which demotes replies that are likely whatever was said ("I don't know").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab.data.vocab import Vocabulary
from rnnlab.generation import Sampling, repeating, sample_next
from rnnlab.limits import MAX_BEAM
from rnnlab.modes import evaluating
from rnnlab.tasks.chat.dialogues import TURN, context_text
from rnnlab.tasks.translate.model import Seq2Seq
from rnnlab.tasks.translate.pairs import sentence_tokens

FORMAT = "rnnlab.chat"


@dataclass(frozen=True)
class Decoding:
    """How a reply is chosen (see the module docstring): sampling when ``temperature``,
    ``top_k`` or ``top_p`` is set (the temperature 1 unless given), else beam search."""

    beam: int = 5
    alpha: float = 1.0
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    no_repeat: int = 3
    diverse: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.beam <= MAX_BEAM:
            raise ValueError(f"the beam width must be in 1..{MAX_BEAM}, got {self.beam}")
        if not (0 <= self.alpha < math.inf and 0 <= self.diverse < math.inf):
            raise ValueError("alpha and diverse must be finite numbers >= 0")
        if self.no_repeat < 0:
            raise ValueError("no_repeat must be >= 0")
        _ = self.sampling  # Sampling checks temperature, top-k and top-p

    @property
    def sampling(self) -> Sampling | None:
        if self.temperature is None and self.top_k is None and self.top_p is None:
            return None
        temperature = 1.0 if self.temperature is None else self.temperature
        return Sampling(temperature, self.top_k, self.top_p)


@dataclass
class Reply:
    """A reply: its text and tokens, log p(reply | context) (with ``</s>`` when ``finished``),
    and the score it was chosen by."""

    text: str
    tokens: list[str]
    log_prob: float
    finished: bool
    score: float


class Chatbot(Seq2Seq):
    """:class:`~rnnlab.tasks.translate.Seq2Seq` over conversations (see the module docstring).

    Args:
        source_vocab: of contexts; it must hold the line break that joins turns.
        target_vocab: of replies, with ``<s>`` and ``</s>``.
        context: the turns before the last one that the model reads.
        max_length: the longest reply (tokens) written; a context keeps its last
            ``max_length`` x (``context`` + 1) tokens.
        the rest: :class:`~rnnlab.tasks.translate.Seq2Seq`'s.
    """

    FORMAT = FORMAT
    KIND = "chatbot"

    def __init__(
        self, source_vocab: Vocabulary, target_vocab: Vocabulary, context: int = 2, **network
    ) -> None:
        super().__init__(source_vocab, target_vocab, **network)
        if TURN not in source_vocab.symbols:
            raise ValueError("a chatbot's source vocabulary must hold the line break")
        if not isinstance(context, int) or context < 0:
            raise ValueError(f"context must be a whole number of turns >= 0, got {context!r}")
        self.context = context
        self.settings["context"] = context
        self.empty = torch.tensor([source_vocab.symbols.index(TURN)])

    @property
    def max_context(self) -> int:
        return self.max_length * (self.context + 1)

    # -- text to ids ------------------------------------------------------------------------

    def encode_source(self, text: str, what: str = "the context") -> Tensor:
        """(n,) ids of a context (turns joined by line breaks), its last ``max_context``
        tokens; an empty one is a ValueError."""
        tokens = sentence_tokens(text, self.source_vocab.level)
        if not [t for t in tokens if t != TURN]:
            raise ValueError(f"{what} is empty; there is nothing to reply to")
        return self.source_vocab.encode_tokens(tokens[-self.max_context :])

    def encode_history(self, turns: Sequence[str]) -> Tensor:
        """The ids the model reads to reply to the last of ``turns``."""
        return self.encode_source(context_text(list(turns), self.context))

    def encode_reply(self, text: str) -> Tensor:
        """(n + 1,) ids of a reply followed by ``</s>``."""
        tokens = sentence_tokens(text, self.target_vocab.level)
        ids = (
            self.target_vocab.encode_tokens(tokens) if tokens else torch.zeros(0, dtype=torch.long)
        )
        return torch.cat([ids, torch.tensor([self.end])])

    # -- scoring ----------------------------------------------------------------------------

    @torch.no_grad()
    def reply_scores(
        self,
        source: Tensor,
        replies: Sequence[Tensor],
        diverse: float = 0.0,
        alpha: float = 1.0,
        autocast=nullcontext,
        log_probs: Tensor | None = None,
    ) -> Tensor:
        """(K,) float64 scores of encoded ``replies`` (each ending in ``</s>``) to the encoded
        context ``source``: (log p(r | c) - diverse log p(r)) / len^alpha; ``log_probs`` is
        log p(r | c) where the caller has it already."""
        if log_probs is None:
            log_probs = self.target_log_probs([source] * len(replies), replies, autocast)
        scores = log_probs
        if diverse:
            empty = self.target_log_probs([self.empty] * len(replies), replies, autocast)
            scores = log_probs - diverse * empty
        lengths = torch.tensor([len(r) for r in replies], dtype=torch.float64)
        return scores * lengths.clamp(min=1) ** -alpha

    # -- replying ---------------------------------------------------------------------------

    @torch.no_grad()
    def _samples(
        self, source: Tensor, decoding: Decoding, rows: int, generator, autocast
    ) -> list[list[int]]:
        """``rows`` sampled replies (ids, ``</s>`` included when reached) to one source."""
        device = self.head.weight.device
        with autocast():
            one = self.encode(source.view(1, -1).to(device), torch.tensor([len(source)]))
            memory = one.rows(torch.zeros(rows, dtype=torch.long))
            previous = torch.full((rows,), self.start, dtype=torch.long, device=device)
            state, paths = memory.state, [[] for _ in range(rows)]
            for _ in range(self.max_length + 1):
                logits, state, _ = self.step(previous, state, memory)
                logits = logits.float().cpu()
                for row, path in enumerate(paths):
                    banned = [i for i in repeating(path, decoding.no_repeat) if i != self.end]
                    logits[row, banned] = float("-inf")
                chosen = sample_next(logits, decoding.sampling, generator)
                for row, path in enumerate(paths):
                    if not path or path[-1] != self.end:
                        path.append(int(chosen[row]))
                if all(path[-1] == self.end for path in paths):
                    break
                previous = chosen.to(device)
        return paths

    def candidates(
        self, source: Tensor, decoding: Decoding, generator=None, autocast=nullcontext
    ) -> list[list[int]]:
        """Candidate replies (ids) to an encoded context: the beam's hypotheses, or samples
        (``beam`` of them when ``diverse`` reranks, else one)."""
        if decoding.sampling is not None:
            rows = decoding.beam if decoding.diverse else 1
            return self._samples(source, decoding, rows, generator, autocast)
        hypotheses = self.beam(
            source, decoding.beam, decoding.alpha, autocast=autocast, no_repeat=decoding.no_repeat
        )
        return [list(h.ids) for h in hypotheses]

    def reply(
        self,
        turns: str | Sequence[str],
        decoding: Decoding | None = None,
        generator: torch.Generator | None = None,
        autocast=nullcontext,
    ) -> Reply:
        """The reply to the last of ``turns`` (the conversation so far, oldest first)."""
        decoding = decoding or Decoding()
        turns = [turns] if isinstance(turns, str) else list(turns)
        with evaluating(self, no_grad=False):
            source = self.encode_history(turns)
            found = self.candidates(source, decoding, generator, autocast)
            ids = [torch.tensor(c, dtype=torch.long) for c in found if c]
            ids = ids or [torch.tensor([self.end])]
            log_probs = self.target_log_probs([source] * len(ids), ids, autocast)
            diverse = decoding.diverse if len(ids) > 1 else 0.0
            scores = self.reply_scores(source, ids, diverse, decoding.alpha, autocast, log_probs)
            best = int(scores.argmax())
        chosen = ids[best].tolist()
        tokens = [self.target_vocab.symbols[i] for i in chosen if i != self.end]
        finished = chosen[-1] == self.end
        return Reply(
            "".join(tokens).strip(), tokens, float(log_probs[best]), finished, float(scores[best])
        )
