"""Translation without PyTorch: an encoder-decoder's greedy decoding and beam search (the
algorithm of :func:`rnnlab.generation.beam_search`, with ``Seq2Seq.widen``'s rule that the greedy
translation stays where it scores higher); a chatbot replies as a translator of its context."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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

    def beam(self, source: np.ndarray, width: int) -> list[tuple[list[int], float, bool]]:
        """Beam search for one source, as :func:`rnnlab.generation.beam_search`."""
        memory = self._memory([source])
        state = {name: np.repeat(memory.pop(name), width, axis=1) for name in self.states}
        memory = {k: np.repeat(v, width, axis=0) for k, v in memory.items()}
        ids = np.full(width, self.start, dtype=np.int64)
        totals = np.full(width, -np.inf)
        totals[0] = 0.0
        paths: list[tuple[int, ...]] = [()] * width
        finished = []
        for _ in range(self.max_length + 1):
            log_probs, state = self._step(ids, state, memory)
            vocab = log_probs.shape[-1]
            candidates = (totals[:, None] + log_probs).ravel()
            flat = _top(candidates, min(2 * width, candidates.size))
            rows, new_paths, new_totals, next_ids = [], [], [], []
            for rank, index in enumerate(flat):
                value = candidates[index]
                if value == -np.inf:
                    break
                row, symbol = divmod(int(index), vocab)
                if symbol == self.end:
                    if rank < width:
                        finished.append(((*paths[row], self.end), float(value), True))
                    continue
                rows.append(row)
                new_paths.append((*paths[row], symbol))
                new_totals.append(value)
                next_ids.append(symbol)
                if len(rows) == width:
                    break
            if len(finished) >= width or not rows:
                break
            while len(rows) < width:
                rows.append(rows[0])
                new_paths.append(new_paths[0])
                new_totals.append(-np.inf)
                next_ids.append(next_ids[0])
            state = {name: s[:, rows] for name, s in state.items()}
            paths, ids = new_paths, np.array(next_ids, dtype=np.int64)
            totals = np.array(new_totals)
        else:
            finished.extend(
                (p, float(t), False) for p, t in zip(paths, totals, strict=True) if t > -np.inf
            )
        return finished

    def translate(self, texts: Sequence[str], beam: int = 1, alpha: float = 1.0):
        """(text, log-probability) of each text's translation; a beam's best is kept only
        where it scores above the greedy one, as ``Seq2Seq.widen`` does."""
        sources = [self.encode(t, f"sentence {i + 1}") for i, t in enumerate(texts)]
        results = []
        for source, (ids, log_prob) in zip(sources, self.greedy(sources), strict=True):
            if beam > 1:
                found = self.beam(source, beam)
                greedy_score = _normalised(log_prob, len(ids), alpha)
                best = max(found, key=lambda h: _normalised(h[1], len(h[0]), alpha), default=None)
                if best is not None and _normalised(best[1], len(best[0]), alpha) >= greedy_score:
                    ids, log_prob = list(best[0]), best[1]
            tokens = [self.target.symbols[i] for i in ids if i != self.end]
            results.append(("".join(tokens).strip(), log_prob))
        return results


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first (ties: the lower index first)."""
    return np.argsort(-values, kind="stable")[:k]


def _normalised(log_prob: float, length: int, alpha: float) -> float:
    return log_prob * max(1, length) ** -alpha
