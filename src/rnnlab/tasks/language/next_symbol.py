"""What every next-symbol model shares, whatever computes it: its vocabulary, its checkpoint
config, and generation (prime, then sample the next symbol and feed it back) through the
model's ``step_function``.

A subclass sets ``FORMAT`` and ``KIND``, keeps the constructor's arguments in ``self.settings``
(saved as the config's ``model`` section) and supplies ``forward(ids, state) -> (logits,
state)`` and ``step_function(batch_size, precision, fused)``; its ``context`` says how many symbols
it can see (None: unbounded, the recurrent state carries them all).

Reading a text, in float32: :meth:`NextSymbolModel.next_symbols` gives the likeliest next
symbols after it (words, for a word model: the phone keyboard's suggestions), and
:meth:`NextSymbolModel.score` its log-probability, log p(x_1..x_T | context) =
sum_t log p(x_t | context, x_<t), in nats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

import torch
from torch import Tensor, nn

from rnnlab.data.vocab import Vocabulary
from rnnlab.fused import worth_fusing
from rnnlab.generation import Sampling, Step, generate_batch, generate_ids
from rnnlab.limits import require_memory
from rnnlab.pretrained import Pretrained

MAX_TOP = 100  # next symbols asked for at most


@dataclass(frozen=True)
class TextScore:
    """How likely a text is under a model: the sum of its symbols' log-probabilities (nats)."""

    symbols: int
    log_prob: float

    @property
    def nats_per_symbol(self) -> float:
        return -self.log_prob / self.symbols


class NextSymbolModel(Pretrained, nn.Module):
    """Base of :class:`~rnnlab.tasks.language.LanguageModel` and
    :class:`~rnnlab.tasks.language.TransformerLM`; see the module docstring."""

    vocab: Vocabulary
    settings: dict
    context: int | None = None  # the symbols it can see; None: all (a carried state)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def step_function(
        self, batch_size: int = 1, precision: str = "auto", fused: bool = False
    ) -> Step:
        raise NotImplementedError

    # -- checkpoints (save_pretrained, from_pretrained: see rnnlab.pretrained) ----------

    def config(self) -> dict:
        """Everything needed to rebuild the model (not its weights)."""
        return {"format": self.FORMAT, "model": dict(self.settings), "vocab": self.vocab.to_json()}

    @classmethod
    def _from_config(cls, config: dict) -> Self:
        return cls(Vocabulary.from_json(config["vocab"]), **config["model"])

    # -- reading ---------------------------------------------------------------------------

    @torch.no_grad()
    def next_symbols(
        self, text: str | None = None, top: int = 5, step: Step | None = None
    ) -> list[tuple[str, float]]:
        """The ``top`` likeliest symbols after ``text`` (the default prime when empty), best
        first, with their probabilities. Unknown characters raise ValueError naming them.
        ``step``: this model's ``step_function(1, "float32")`` if the caller keeps one (a
        server: building it costs more than the reading)."""
        if not 1 <= top <= MAX_TOP:
            raise ValueError(f"top must be in 1..{MAX_TOP}, got {top}")
        ids = self.vocab.encode(text or self.default_prime(), what="the text").to(self.device)
        step = step or self.step_function(1, "float32")
        logits, _ = step(ids.view(1, -1), None)
        probs = logits[0, -1].double().softmax(-1)
        values, order = probs.topk(min(top, len(probs)))
        names = self.vocab.names()
        return [(names[i], float(p)) for i, p in zip(order.tolist(), values.tolist(), strict=True)]

    @torch.no_grad()
    def score(self, text: str, context: str | None = None, step: Step | None = None) -> TextScore:
        """The log-probability of ``text`` read after ``context`` (the default prime when
        None), every symbol of ``text`` predicted from all before it; ``step`` as in
        :meth:`next_symbols`."""
        ids = self.vocab.encode(text, what="the text").to(self.device)
        if len(ids) == 0:
            raise ValueError("the text has no symbols to score")
        known = self.vocab.encode(context or self.default_prime(), what="the context")
        read = torch.cat((known.to(self.device), ids[:-1])).view(1, -1)
        logits, _ = (step or self.step_function(1, "float32"))(read, None)
        log_probs = logits[0, len(known) - 1 :].double().log_softmax(-1)
        return TextScore(len(ids), float(log_probs.gather(1, ids.view(-1, 1)).sum()))

    # -- generation ---------------------------------------------------------------------------

    def default_prime(self) -> str:
        """What generation starts from when no prime is given: a newline if the model knows it."""
        if self.vocab.level == "byte" or "\n" in self.vocab.symbols:
            return "\n"
        return self.vocab.symbols[-1]

    def generate(
        self,
        prime: str | None = None,
        length: int = 500,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        seed: int | None = None,
        stream: Callable[[str], object] | None = None,
        precision: str = "auto",
        fused: bool | None = None,
    ) -> str:
        """Continue ``prime`` by ``length`` sampled symbols and return the new text.

        ``stream`` is called with each piece of text as soon as it is chosen. A prime with
        characters the model never saw raises ValueError naming them. The network runs through
        :meth:`step_function`, its products in ``precision`` (``auto``: bfloat16 where native),
        its steps compiled if ``fused`` (None: when ``length`` reaches
        :data:`~rnnlab.fused.FUSED_FROM`, where compiling pays for itself).
        """
        sampling, prime_ids, generator = self._sampling_setup(
            prime, length, temperature, top_k, top_p, greedy, seed
        )
        step = self.step_function(1, precision, worth_fusing(fused, length))
        decode = self.vocab.decoder()
        pieces = []
        for next_id in generate_ids(step, prime_ids, length, sampling, generator):
            piece = decode(next_id)
            pieces.append(piece)
            if stream is not None and piece:
                stream(piece)
        return "".join(pieces)

    def generate_batch(
        self,
        streams: int,
        prime: str | None = None,
        length: int = 500,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        seed: int | None = None,
        precision: str = "auto",
        fused: bool | None = None,
    ) -> list[str]:
        """``streams`` independent continuations of ``prime``, stepped together as one batch
        (much faster per symbol than one at a time); the arguments are :meth:`generate`'s."""
        if streams < 1:
            raise ValueError(f"streams must be >= 1, got {streams}")
        require_memory(streams * length * 16, f"{streams:,} samples of {length:,} symbols")
        sampling, prime_ids, generator = self._sampling_setup(
            prime, length, temperature, top_k, top_p, greedy, seed
        )
        step = self.step_function(streams, precision, worth_fusing(fused, length))
        ids = generate_batch(step, prime_ids.expand(streams, -1), length, sampling, generator)
        return [self.vocab.decode(row) for row in ids]

    def _sampling_setup(self, prime, length, temperature, top_k, top_p, greedy, seed):
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        sampling = Sampling(temperature, top_k, top_p, greedy)
        prime_ids = self.vocab.encode(prime or self.default_prime(), what="the prime")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return sampling, prime_ids.to(self.device), generator


def layer_states(state) -> list[tuple[Tensor, ...]]:
    """A step function's state (:meth:`NextSymbolModel.step_function`) as one tuple (h,) or
    (h, c) per layer, each (B, H); a model of residual blocks has one stepper state per block,
    flattened in order. A transformer's
    state is (window, cache): its memory is the cache, and what the newest symbol added to it
    is shown, the key and the value of its position, (k, v) per layer, heads side by side."""
    if isinstance(state, tuple):  # TransformerLM.step_function's (window, cache)
        return [(k[:, :, -1].flatten(1), v[:, :, -1].flatten(1)) for k, v in state[1]]
    if state and isinstance(state[0], list):
        return [layer for block in state for layer in block]
    return list(state)
