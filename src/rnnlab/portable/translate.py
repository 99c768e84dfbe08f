"""Translation without PyTorch: an encoder-decoder's greedy decoding and beam search (the
same :func:`rnnlab.beam.beam_search` as rnnlab's, with ``Seq2Seq.widen``'s rule that the greedy
translation stays where it scores higher); a chatbot replies as a translator of its context."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnlab.beam import Hypothesis, beam_search, length_normalised
from rnnlab.portable.exported import Exported
from rnnlab.portable.text import END, SPACED_WORD, START, Vocabulary, padded


class Translator(Exported):
    """An encoder-decoder: greedy decoding and beam search, as ``Seq2Seq.translate``."""

    def __init__(self, path, threads=None) -> None:
        super().__init__(path, threads)
        self.source = Vocabulary(self.config["source_vocab"])
        self.target = Vocabulary(self.config["target_vocab"])
        self.start, self.end = self.target.index[START], self.target.index[END]
        self.max_length = self.model["max_length"]
        self.states = [
            i.name for i in self.sessions["decoder"].get_inputs() if i.name in ("h", "c")
        ]

    def encode(self, text: str, what: str) -> np.ndarray:
        """A sentence's ids (a chatbot's context: turns joined by line breaks, its last
        max_length x (context + 1) tokens, as ``Chatbot.encode_source`` keeps them)."""
        text = text.strip()
        level = self.source.level
        tokens = list(text) if level == "char" else SPACED_WORD.findall(text)
        if not [t for t in tokens if t != "\n"]:
            raise ValueError(f"{what} is empty; there is nothing to translate")
        if self.kind == "rnnlab.chat":
            return self.source.ids(tokens[-self.max_length * (self.model["context"] + 1) :], what)
        if len(tokens) > self.max_length:
            raise ValueError(
                f"{what} has {len(tokens)} {level} tokens; this model translates at most "
                f"{self.max_length} (its training --max-length)"
            )
        return self.source.ids(tokens, what)

    def _memory(self, sources: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        ids, lengths = padded(list(sources))
        return self.run("encoder", source=ids, lengths=lengths)

    def _step(self, previous, state, memory):
        out = self.run("decoder", previous=previous.astype(np.int64), **state, **memory)
        log_probs = out["logits"].astype(np.float64)
        log_probs -= np.log(np.exp(log_probs - log_probs.max(-1, keepdims=True)).sum(-1))[
            :, None
        ] + log_probs.max(-1, keepdims=True)
        return log_probs, {name: out[f"{name}_out"] for name in state}

    def greedy(self, sources) -> list[tuple[list[int], float]]:
        memory = self._memory(sources)
        state = {name: memory.pop(name) for name in self.states}
        batch = len(sources)
        previous = np.full(batch, self.start, dtype=np.int64)
        done = np.zeros(batch, dtype=bool)
        chosen, scores = [], []
        for _ in range(self.max_length + 1):
            log_probs, state = self._step(previous, state, memory)
            previous = log_probs.argmax(-1)
            chosen.append(previous)
            scores.append(log_probs[np.arange(batch), previous])
            done |= previous == self.end
            if done.all():
                break
        results = []
        for row in range(batch):
            ids = [int(c[row]) for c in chosen]
            n = ids.index(self.end) + 1 if self.end in ids else len(ids)
            results.append((ids[:n], float(sum(s[row] for s in scores[:n]))))
        return results

    def beam(self, source: np.ndarray, width: int, alpha: float = 1.0) -> list[Hypothesis]:
        """Beam search for one source, best first (:func:`rnnlab.beam.beam_search`)."""
        memory = self._memory([source])
        state = {name: np.repeat(memory.pop(name), width, axis=1) for name in self.states}
        memory = {k: np.repeat(v, width, axis=0) for k, v in memory.items()}

        def step(ids: np.ndarray, state):
            return self._step(ids, state, memory)

        def reorder(state, rows: np.ndarray):
            return {name: s[:, rows] for name, s in state.items()}

        limit = self.max_length + 1
        return beam_search(step, state, reorder, self.start, self.end, width, limit, alpha)

    def translate(self, texts: Sequence[str], beam: int = 1, alpha: float = 1.0):
        """(text, log-probability) of each text's translation; a beam's best is kept only
        where it scores above the greedy one, as ``Seq2Seq.widen`` does."""
        sources = [self.encode(t, f"sentence {i + 1}") for i, t in enumerate(texts)]
        results = []
        for source, (ids, log_prob) in zip(sources, self.greedy(sources), strict=True):
            if beam > 1:  # the beam's best, unless the greedy translation scores higher
                found = self.beam(source, beam, alpha)
                if found and found[0].score(alpha) >= length_normalised(log_prob, len(ids), alpha):
                    ids, log_prob = list(found[0].ids), found[0].log_prob
            tokens = [self.target.symbols[i] for i in ids if i != self.end]
            results.append(("".join(tokens).strip(), log_prob))
        return results
