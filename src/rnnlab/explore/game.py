"""The RNN game: guess the next symbol of a held-out passage, against the model.

A round shows a lead-in from held-out text, then asks for N symbols one at a time (words for a
word-level model; its whitespace is shown, not asked). For each one the player guesses and the
model "guesses" its likeliest symbol; then the true symbol is revealed with the model's top 5,
and both read it. Scores: hits of each side, and the model's cross-entropy over the asked
symbols, -(1/N) sum log2 p(s_t | s_<t), in bits per symbol.
"""

from __future__ import annotations

import math
import random

import torch

from rnnlab.explore.reading import StepFn, float32_steps
from rnnlab.tasks.language.next_symbol import NextSymbolModel

ROUND = 40  # symbols asked per round, by default
MAX_ROUND = 200
LEAD = {"char": 80, "byte": 80, "word": 30}  # symbols of lead-in
TRIES = 200


class Round:
    """One round on ``tokens`` (the held-out text's symbols), from a seeded random place."""

    def __init__(
        self,
        model: NextSymbolModel,
        tokens: list[str],
        length: int = ROUND,
        seed: int | None = None,
        step: StepFn | None = None,
    ) -> None:
        if not 1 <= length <= MAX_ROUND:
            raise ValueError(f"a round asks 1 to {MAX_ROUND} symbols, got {length}")
        self.vocab, self.names = model.vocab, model.vocab.names()
        self.step = step or float32_steps(model)
        lead, self.passage = _passage(model.vocab, tokens, length, random.Random(seed))
        logits, self.state = self.step(torch.tensor([lead]), None)
        self.logits = logits[0, -1].float()
        self.lead = "".join(self.names[i] for i in lead)
        self.length, self.position = length, 0
        self.player = self.model_hits = 0
        self.bits = 0.0
        self.shown = self._skip_unasked()

    @property
    def done(self) -> bool:
        return self.position >= self.length

    def guess(self, text: str) -> dict:
        """Score the player's guess ``text`` for the next asked symbol and reveal it."""
        if self.done:
            raise ValueError("the round is over; start a new one")
        actual = self.passage.pop(0)
        probs = torch.softmax(self.logits, -1)
        best = probs.topk(min(5, probs.numel()))
        model_guess = int(best.indices[0])
        if self.vocab.level == "word":
            text = text.strip()
        hit = text == self.names[actual]
        self.player += hit
        self.model_hits += model_guess == actual
        bits = -math.log2(max(float(probs[actual]), 1e-300))
        self.bits += bits
        self.position += 1
        self._read(actual)
        revealed = self._skip_unasked() if not self.done else ""
        return {
            "actual": self.names[actual],
            "hit": hit,
            "model_guess": self.names[model_guess],
            "model_hit": model_guess == actual,
            "bits": bits,
            "top": [
                (self.names[j], float(p))
                for p, j in zip(best.values.tolist(), best.indices.tolist(), strict=True)
            ],
            "then": revealed,
            **self.score(),
        }

    def score(self) -> dict:
        asked = self.position
        return {
            "asked": asked,
            "length": self.length,
            "you": self.player,
            "rnn": self.model_hits,
            "bits_per_symbol": self.bits / asked if asked else None,
            "done": self.done,
        }

    def _read(self, i: int) -> None:
        logits, self.state = self.step(torch.tensor([[i]]), self.state)
        self.logits = logits[0, -1].float()

    def _skip_unasked(self) -> str:
        """Read (and return the text of) the symbols before the next asked one: a word-level
        model's whitespace."""
        shown = []
        while self.passage and self.vocab.level == "word" and self.names[self.passage[0]].isspace():
            i = self.passage.pop(0)
            shown.append(self.names[i])
            self._read(i)
        return "".join(shown)


def _passage(vocab, tokens: list[str], length: int, rng: random.Random):
    """(lead-in ids, passage ids) at a random place in ``tokens`` where every symbol is known
    and the passage holds ``length`` asked symbols."""
    lead = LEAD[vocab.level]
    word = vocab.level == "word"
    found = vocab.lookup(tokens)
    for _ in range(TRIES):
        if len(tokens) <= lead + length:
            break
        start = rng.randrange(lead, len(tokens) - length)
        ids, asked = [], 0
        for i, unknown in found[start - lead :]:
            if unknown or i is None:
                break
            ids.append(i)
            if len(ids) > lead and not (word and tokens[start - lead + len(ids) - 1].isspace()):
                asked += 1
            if asked == length:
                return ids[:lead], ids[lead:]
    raise ValueError(
        f"the held-out text has no stretch of {lead} + {length} symbols that the model knows"
    )
