"""A language model reading a text one symbol at a time, as the explorer shows it.

The reader starts from the state after the model's default prime (a newline where it knows
one), so that even the first symbol has a prediction. After symbol t it holds

    state_t = step(s_t, state_{t-1})                         (every layer's h, and c for an LSTM)
    p_t(s) = softmax(logits_t)(s)                            (the model's next-symbol distribution)
    surprisal_t = -log2 p_{t-1}(s_t)                         (bits: how unexpected s_t was)

through the model's ``step_function`` in float32 (the prepared-weights stepper, or a
transformer's key/value cache over its sliding window), so the
probabilities equal those of the model's forward pass on the same text within float tolerance.
The text may change anywhere: :meth:`Reader.read` keeps the states of the longest common prefix
and steps only over what follows it, so typing one more symbol costs one step.

A symbol the vocabulary lacks (a character-level model without an unknown token) is shown but
not read: its step carries the state over unchanged and has no surprisal. A word-level model
reads unseen words as its ``<unk>`` token; those steps are marked unknown too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab.limits import check_text_length
from rnnlab.tasks.language.next_symbol import NextSymbolModel, layer_states

#: the most symbols one reader holds (each keeps its state: 8 KB for a 2 x 512 LSTM)
MAX_READ = 2_000


StepFn = Callable[[Tensor, object], tuple[Tensor, object]]


def float32_steps(model: NextSymbolModel) -> StepFn:
    """The model's one-symbol-at-a-time function, in float32 (so that probabilities match its
    forward pass); stateless apart from its weights, so readers and games may share it."""
    return model.step_function(batch_size=1, precision="float32")


@dataclass
class Step:
    """What the reader shows for one symbol of the text."""

    symbol: str
    unknown: bool
    #: bits; None for an unknown symbol (the model could not have predicted it)
    surprisal: float | None
    #: the likeliest next symbols after this one, best first: (name, probability)
    top: list[tuple[str, float]]
    #: per layer, the state tensors after this symbol, each (H,) float32
    states: list[tuple[Tensor, ...]]


class Reader:
    """Reads texts with ``model`` (a unidirectional language model), carrying the state."""

    def __init__(self, model: NextSymbolModel, step: StepFn | None = None, top: int = 8) -> None:
        self.model, self.top = model, top
        self.vocab = model.vocab
        self.names = model.vocab.names()
        self.step = step or float32_steps(model)
        prime = model.vocab.encode(model.default_prime()).view(1, -1)
        logits, state = self.step(prime, None)
        self._start = (logits[0, -1].float(), state)
        self.tokens: list[str] = []
        self._after: list[tuple[Tensor, object, int | None, bool]] = []  # logits, state, id, unk

    def read(self, text: str | bytes) -> int:
        """Make ``text`` the text read; return the length of the prefix kept from before (the
        steps from there on are new)."""
        *_, kept = self.reading(text)
        return kept

    def reading(self, text: str | bytes, every: int | None = None) -> Iterator[int]:
        """:meth:`read` in pieces: yields the length of the prefix kept from before after
        every ``every`` new steps (None: only at the end) and at the end, so that a server
        can run other work in between. Between two pieces the reader holds a prefix of the
        text, read."""
        tokens = self.vocab.tokens(text)
        check_text_length(len(tokens), "the text to read", MAX_READ)
        kept = 0
        for old, new in zip(self.tokens, tokens, strict=False):
            if old != new:
                break
            kept += 1
        del self.tokens[kept:], self._after[kept:]
        logits, state = self._after[-1][:2] if self._after else self._start
        for token, (i, unknown) in zip(
            tokens[kept:], self.vocab.lookup(tokens[kept:]), strict=True
        ):
            if i is not None:
                out, state = self.step(torch.tensor([[i]]), state)
                logits = out[0, -1].float()
            self.tokens.append(token)
            self._after.append((logits, state, i, unknown))
            if every and (len(self.tokens) - kept) % every == 0:
                yield kept
        yield kept

    def __len__(self) -> int:
        return len(self.tokens)

    def steps(self, start: int = 0) -> list[Step]:
        """The steps of the text read, from ``start`` on."""
        shown = []
        before = self._after[start - 1][0] if start > 0 else self._start[0]
        for t in range(start, len(self.tokens)):
            logits, state, i, unknown = self._after[t]
            surprisal = None
            if not unknown:
                surprisal = -float(torch.log_softmax(before, -1)[i]) / math.log(2)
            probs = torch.softmax(logits, -1)
            best = probs.topk(min(self.top, probs.numel()))
            shown.append(
                Step(
                    symbol=self.names[i] if i is not None and not unknown else self.tokens[t],
                    unknown=unknown,
                    surprisal=surprisal,
                    top=[
                        (self.names[j], float(p))
                        for p, j in zip(best.values.tolist(), best.indices.tolist(), strict=True)
                    ],
                    states=[tuple(part[0] for part in layer) for layer in layer_states(state)],
                )
            )
            before = logits
        return shown

    def state_vectors(self, layer: int, which: int) -> Tensor:
        """(T, H): state tensor ``which`` (0: h, 1: c; a transformer's k, v) of ``layer`` after
        every symbol read."""
        if not self._after:
            return torch.zeros(0, self.model.settings["hidden_size"])
        return torch.stack([layer_states(state)[layer][which][0] for _, state, _, _ in self._after])
