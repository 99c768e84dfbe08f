"""Generation without PyTorch: a language model (recurrent: its step graph, looped; a
transformer: its step graph after its key/value cache, under the sliding-window rule of
``TransformerLM.step_function``) and a conditional generator (texts for a label, as
``ConditionalGenerator.generate`` writes them)."""

from __future__ import annotations

import numpy as np

from rnnlab.portable.exported import Exported
from rnnlab.portable.text import END, START, Vocabulary, check_sampling, choose


class LanguageModel(Exported):
    """A recurrent or transformer language model: generation."""

    def __init__(self, path, threads=None) -> None:
        super().__init__(path, threads)
        self.vocab = Vocabulary(self.config["vocab"])
        self.transformer = self.kind == "rnnlab.transformer_lm"
        if not self.transformer:
            self.states = [n for n in self.sessions["step"].get_inputs() if n.name != "ids"]

    def default_prime(self) -> str:
        if self.vocab.level == "byte" or "\n" in self.vocab.symbols:
            return "\n"
        return self.vocab.symbols[-1]

    def steps(self, prime: np.ndarray, streams: int, length: int, rng, **sampling):
        """Yield ``length`` arrays (streams,) of chosen ids continuing ``prime``."""
        if len(prime) == 0:
            raise ValueError("the prime must hold at least one symbol")
        if self.transformer:
            yield from self._window_steps(prime, streams, length, rng, sampling)
            return
        layers, hidden = self.model["num_layers"], self.model["hidden_size"]
        state = {s.name: np.zeros((layers, streams, hidden), np.float32) for s in self.states}
        for symbol in prime:  # the step graph, one symbol at a time
            ids = np.full(streams, symbol, dtype=np.int64)
            out = self.run("step", ids=ids, **state)
            state = {name: out[f"{name}_out"] for name in state}
        for position in range(length):
            ids = choose(out["logits"], rng, **sampling)
            yield ids
            if position + 1 < length:
                out = self.run("step", ids=ids.astype(np.int64), **state)
                state = {name: out[f"{name}_out"] for name in state}

    def _window_steps(self, prime, streams, length, rng, sampling):
        """A transformer: the step graph after its key/value cache, which holds at most the
        context; a full window keeps its last half, whose cache the sequence graph rebuilds
        (the rule of ``TransformerLM.step_function``)."""
        context = self.model["context"]
        heads, size = self.model["heads"], self.model["hidden_size"] // self.model["heads"]
        names = [i.name for i in self.sessions["step"].get_inputs() if i.name != "ids"]
        empty = np.zeros((streams, heads, 0, size), np.float32)
        window, cache = np.empty((streams, 0), dtype=np.int64), dict.fromkeys(names, empty)

        def read(window, cache, ids):
            for i in range(ids.shape[1]):
                if window.shape[1] == context:
                    window = window[:, -(context // 2) :]
                    out = self.run("sequence", ids=window)
                    cache = {name: out[f"{name}_out"] for name in names}
                out = self.run("step", ids=ids[:, i], **cache)
                cache = {name: out[f"{name}_out"] for name in names}
                window = np.concatenate([window, ids[:, i : i + 1]], 1)
            return window, cache, out["logits"]

        window, cache, logits = read(window, cache, np.tile(prime, (streams, 1)))
        for position in range(length):
            ids = choose(logits, rng, **sampling)
            yield ids
            if position + 1 < length:
                window, cache, logits = read(window, cache, ids[:, None].astype(np.int64))

    def generate(
        self, prime=None, length=500, *, streams=1, seed=None, stream=None, **sampling
    ) -> list[str]:
        """``streams`` continuations of ``prime`` (see :func:`choose` for ``sampling``);
        ``stream`` is called with each piece of the first as it is chosen."""
        check_sampling(**sampling)
        ids = self.vocab.encode(prime or self.default_prime(), "the prime")
        rng = np.random.default_rng(seed)
        decoders = [self.vocab.decoder() for _ in range(streams)]
        pieces: list[list[str]] = [[] for _ in range(streams)]
        for chosen in self.steps(ids, streams, length, rng, **sampling):
            for row, i in enumerate(chosen.tolist()):
                pieces[row].append(decoders[row](i))
            if stream is not None and pieces[0][-1]:
                stream(pieces[0][-1])
        return ["".join(p) for p in pieces]


class LabelGenerator(Exported):
    """A conditional generator: texts for a label (or any condition vector), sampled at a
    temperature, never its start or unknown symbol, each ended by ``</s>`` or its length
    limit, as ``ConditionalGenerator.generate`` does."""

    def __init__(self, path, threads=None) -> None:
        super().__init__(path, threads)
        self.vocab = Vocabulary(self.config["vocab"])
        self.labels = list(self.config["labels"])
        self.start, self.end = self.vocab.index[START], self.vocab.index[END]
        self.never = [self.start] + (
            [self.vocab.index[self.vocab.unknown]] if self.vocab.unknown else []
        )
        self.states = [o.name[: -len("_out")] for o in self.sessions["start"].get_outputs()]

    def vector(self, label: str) -> np.ndarray:
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}; the model knows {', '.join(self.labels)}")
        labels = np.array([self.labels.index(label)], dtype=np.int64)
        return self.run("vectors", labels=labels)["v"][0]

    def generate(self, condition, count=1, prime="", temperature=1.0, seed=None, max_length=None):
        v = self.vector(condition) if isinstance(condition, str) else np.asarray(condition)
        size = self.model["condition_size"]
        if v.shape != (size,) or not np.isfinite(v).all():
            raise ValueError(f"the condition vector must have {size} finite numbers")
        check_sampling(temperature)
        rng = np.random.default_rng(seed)
        v = np.tile(v.astype(np.float32), (count, 1))
        out = self.run("start", v=v)
        state = {name: out[f"{name}_out"] for name in self.states}
        unseen = sorted({c for c in prime if c not in self.vocab.index})
        if unseen:
            raise ValueError(f"the prime has characters never seen in training: {unseen}")
        for symbol in [self.start, *self.vocab.ids(list(prime), "the prime")]:
            out = self.run("step", previous=np.full(count, symbol, np.int64), v=v, **state)
            state = {name: out[f"{name}_out"] for name in self.states}
        rows: list[list[int]] = [[] for _ in range(count)]
        done = np.zeros(count, dtype=bool)
        for _ in range(max(0, (max_length or self.model["max_length"]) - len(prime))):
            logits = out["logits"].copy()
            logits[:, self.never] = -np.inf
            chosen = choose(logits, rng, temperature)
            for row in np.flatnonzero(~done):
                if chosen[row] != self.end:
                    rows[row].append(int(chosen[row]))
            done |= chosen == self.end
            if done.all():
                break
            out = self.run("step", previous=chosen.astype(np.int64), v=v, **state)
            state = {name: out[f"{name}_out"] for name in self.states}
        return [prime + "".join(self.vocab.symbols[i] for i in row) for row in rows]
