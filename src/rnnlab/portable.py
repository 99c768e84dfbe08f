"""Exported rnnlab models without PyTorch: numpy and onnxruntime only.

``rnnlab export DIR --format onnx --out model.onnx`` writes a model's graphs and ``model.json``
(see :mod:`rnnlab.export.onnx_files`); this module loads them and does what the matching
``rnnlab`` commands do, on any machine with ``pip install numpy onnxruntime``:

- a language model generates (temperature, top-k, top-p, greedy, a seed), looping its step
  graph (a transformer's after its key/value cache, over the sliding window of
  ``TransformerLM.step_function``);
- a classifier labels texts, or series from an ``.npz`` file;
- a translator (or a chatbot's encoder-decoder) translates, greedily or by beam search;
- a forecaster forecasts the steps after a history;
- a conditional generator writes texts for a label;
- a speech recogniser transcribes PCM WAV files at its sample rate (greedy CTC decoding; the
  log-mel front end, which is outside the graph, computed here in numpy).

    python -m rnnlab.portable generate model.onnx --prime "ROMEO:" --length 200 --greedy
    python -m rnnlab.portable classify model.onnx "a fine film" "a dull one"
    python -m rnnlab.portable translate model.onnx "je suis content" --beam 4
    python -m rnnlab.portable forecast model.onnx --history history.csv
    python -m rnnlab.portable transcribe model.onnx hello.wav

Sampling follows :mod:`rnnlab.generation` (the same filtering, the same inverse-CDF draw), with
numpy's random generator: the same seed gives the same text here every time, though not the
text PyTorch's generator gives. Greedy output equals rnnlab's float32 output.

Nothing here may import torch or the rest of rnnlab but this module: ``import rnnlab`` loads
its public names lazily for that reason.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import json
import math
import re
import sys
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

FORMAT, VERSION = "rnnlab.onnx", 1
_WORD = re.compile(r"\w+|\s+|[^\w\s]")  # rnnlab.data.vocab.tokenize_words
_SPACED_WORD = re.compile(r"\n|[^\S\n]*(?:\w+|[^\w\s])")  # rnnlab.tasks.translate.pairs
START, END = "<s>", "</s>"


# -- vocabularies ------------------------------------------------------------------------------


class Vocabulary:
    """Symbols <-> ids as :class:`rnnlab.data.Vocabulary` (the ``vocab`` JSON of a config)."""

    def __init__(self, data: dict) -> None:
        self.level = data["level"]
        if self.level == "byte":
            self.symbols, self.unknown = [chr(b) for b in range(256)], None
        else:
            self.symbols, self.unknown = list(data["symbols"]), data.get("unknown")
        self.index = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def ids(self, tokens: Sequence[str], what: str) -> np.ndarray:
        """(N,) int64 ids of ``tokens``; one the model never saw is the unknown token, or a
        ValueError naming it where there is none."""
        unknown = self.index.get(self.unknown, -1)
        ids = [self.index.get(t, unknown) for t in tokens]
        if -1 in ids:
            unseen = sorted({t for t in tokens if t not in self.index})
            shown = ", ".join(repr(t) for t in unseen[:5])
            raise ValueError(f"{what} has symbol(s) the model never saw in training: {shown}")
        return np.array(ids, dtype=np.int64)

    def encode(self, text: str, what: str = "the text") -> np.ndarray:
        """A language model's reading of ``text``: bytes, characters or word tokens."""
        if self.level == "byte":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        return self.ids(list(text) if self.level == "char" else _WORD.findall(text), what)

    def decoder(self):
        """A streaming decoder, one id at a time (a byte model's UTF-8 decoded incrementally)."""
        if self.level != "byte":
            return self.symbols.__getitem__
        incremental = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return lambda i: incremental.decode(bytes((i,)))


# -- sampling ----------------------------------------------------------------------------------


def choose(logits: np.ndarray, rng, temperature=1.0, top_k=None, top_p=None, greedy=False):
    """(B,) next ids from (B, V) logits, as :func:`rnnlab.generation.sample_next` chooses."""
    if greedy:
        return logits.argmax(-1)
    shifted = logits.astype(np.float64) - logits.max(-1, keepdims=True)
    z = (shifted / temperature).astype(np.float32)
    if top_k is not None and top_k < z.shape[-1]:
        kth = -np.sort(-z, axis=-1)[:, top_k - 1 : top_k]
        z = np.where(z < kth, -np.inf, z)
    if top_p is not None and top_p < 1:
        order = np.argsort(-z, axis=-1, kind="stable")
        ranked = np.take_along_axis(z, order, -1)
        p = _softmax(ranked)
        drop = (np.cumsum(p, -1) - p) >= top_p
        drop[:, 0] = False
        np.put_along_axis(drop, order, drop.copy(), -1)
        z = np.where(drop, -np.inf, z)
    cdf = np.cumsum(_softmax(z), -1)
    u = rng.random((len(z), 1), dtype=np.float32) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(-1), z.shape[-1] - 1)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# -- models ------------------------------------------------------------------------------------


class Exported:
    """An exported model: its JSON and one onnxruntime session per graph."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        path = Path(path)
        sidecar = path.with_suffix(".json")
        if not path.is_file() or not sidecar.is_file():
            raise ValueError(f"{path}: needs the .onnx file and {sidecar.name} beside it")
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(f"{sidecar} is not an rnnlab ONNX export (version {VERSION})")
        self.meta, self.config = meta, meta["config"]
        self.kind = meta["kind"]
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.sessions = {
            role: _session(path, str(graph["file"]), options)
            for role, graph in meta["graphs"].items()
        }

    def run(self, role: str, **feed) -> dict[str, np.ndarray]:
        """Run graph ``role`` on the inputs it has (unused ones are dropped by name)."""
        session = self.sessions[role]
        wanted = {i.name for i in session.get_inputs()}
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, {k: v for k, v in feed.items() if k in wanted})
        return dict(zip(names, values, strict=True))

    @property
    def model(self) -> dict:
        return self.config["model"]


def _session(main: Path, name: str, options: ort.SessionOptions) -> ort.InferenceSession:
    """An onnxruntime session of the graph file ``name`` beside ``main``; one that cannot be
    read is a ValueError of one line (onnxruntime raises its own kinds of error)."""
    if not name or Path(name).name != name:
        raise ValueError(f"{main.with_suffix('.json')} names a graph file outside its folder")
    path = main.with_name(name)
    if not path.is_file():
        raise ValueError(f"{path}: the export's graph file is missing")
    try:
        return ort.InferenceSession(str(path), options)
    except Exception as error:  # InvalidProtobuf, Fail, ...: all say the file is unusable
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path}: not a usable ONNX model ({reason})") from None


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
        _check_sampling(**sampling)
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


def _check_sampling(temperature=1.0, top_k=None, top_p=None, greedy=False) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def _padded(rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows (n_i, ...) zero-padded to the longest, and their lengths."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    shape = (len(rows), int(lengths.max()), *rows[0].shape[1:])
    out = np.zeros(shape, dtype=rows[0].dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, lengths


class Classifier(Exported):
    """A sequence classifier of texts or series."""

    def __init__(self, path, threads=None) -> None:
        super().__init__(path, threads)
        self.labels = list(self.config["labels"])
        self.series = self.config.get("series")
        self.vocab = None if self.series else Vocabulary(self.config["vocab"])

    def encode(self, item, what: str) -> np.ndarray:
        if self.series is not None:
            values = np.asarray(item, dtype=np.float32)
            channels = len(self.series["channels"])
            if values.ndim != 2 or values.shape[1] != channels or len(values) == 0:
                raise ValueError(f"{what}: expected (steps, {channels}) values")
            if not np.isfinite(values).all():
                raise ValueError(f"{what} holds a missing or infinite value")
            return values
        level = self.vocab.level
        text = (
            list(item) if level == "char" else [t for t in _WORD.findall(item) if not t.isspace()]
        )
        if not text:
            raise ValueError(f"{what} is empty; there is nothing to classify")
        return self.vocab.ids(text, what)

    def probabilities(self, items: Sequence, batch_size: int = 256) -> np.ndarray:
        """(N, K) class probabilities, in batches of similar length (as rnnlab batches)."""
        what = "series" if self.series is not None else "text"
        encoded = [self.encode(x, f"{what} {i + 1}") for i, x in enumerate(items)]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        name = "values" if self.series is not None else "ids"
        probs = np.empty((len(encoded), len(self.labels)), np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            inputs, lengths = _padded([encoded[i] for i in rows])
            probs[rows] = self.run("classify", **{name: inputs, "lengths": lengths})[
                "probabilities"
            ]
        return probs

    def top_labels(self, items: Sequence, k: int = 1) -> list[list[tuple[str, float]]]:
        probs = self.probabilities(items)
        order = np.argsort(-probs, axis=1, kind="stable")[:, : min(k, len(self.labels))]
        return [
            [(self.labels[i], float(p[i])) for i in row]
            for p, row in zip(probs, order, strict=True)
        ]


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
        tokens = list(text) if level == "char" else _SPACED_WORD.findall(text)
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
        ids, lengths = _padded(list(sources))
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


class Forecaster(Exported):
    """A forecaster: the ``horizon`` steps after a history, point and interval, in the data's
    units (the window scaled as ``Scaling.inputs`` scales it, the interval widened by the
    model's calibration)."""

    def __init__(self, path, threads=None) -> None:
        super().__init__(path, threads)
        m, series = self.model, self.config["series"]
        self.targets, self.covariates = series["targets"], series["covariates"]
        self.window, self.horizon, self.mode = m["window"], m["horizon"], m["mode"]
        scaling = series["scaling"]
        self.scale = np.asarray(scaling["scale"], np.float64)
        self.mean = np.asarray(scaling["mean"], np.float64)
        self.std = np.asarray(scaling["std"], np.float64)
        self.spread = scaling.get("spread", "train")
        self.calibration = series.get("calibration")
        self.states = [i.name for i in self.sessions["forecast"].get_inputs() if i.name != "window"]

    def forecast(self, history: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """history (T, S + C) rows, T >= window -> per target (name, point, lower, upper)."""
        history = np.asarray(history, dtype=np.float64)
        columns = len(self.targets) + len(self.covariates)
        if history.ndim != 2 or history.shape[1] != columns or len(history) < self.window:
            raise ValueError(
                f"the history needs {self.window} rows or more of {columns} column(s): "
                + ", ".join(self.targets + self.covariates)
            )
        if not np.isfinite(history).all():
            raise ValueError("the history holds a missing or infinite value")
        rows = history[-self.window :]
        results = []
        for j, name in enumerate(self.targets):
            target = rows[:, j]
            deviation = max(target.std(), self.scale[j] / 10)
            centre = target.mean()
            spread = deviation if self.spread == "window" else self.scale[j]
            z = (target - centre) / spread
            c = (rows[:, len(self.targets) :] - self.mean) / self.std
            x = np.concatenate([z[:, None], c], -1).astype(np.float32)[None]
            point, lower, upper = self._z_forecast(x)
            if self.calibration is not None:
                move = self.calibration[j] * deviation / spread
                lower, upper = lower - move, upper + move
            results.append(
                (name, centre + spread * point, centre + spread * lower, centre + spread * upper)
            )
        return results

    def _z_forecast(self, x: np.ndarray):
        layers, hidden = self.model["num_layers"], self.model["hidden_size"]
        state = {name: np.zeros((layers, 1, hidden), np.float32) for name in self.states}
        out = self.run("forecast", window=x, **state)
        if self.mode == "direct":
            return (out[k][0].astype(np.float64) for k in ("point", "lower", "upper"))
        # autoregressive: roll the point forecast out; the interval is the network's, step by
        # step along that path (rnnlab draws sample paths instead)
        path = {k: [] for k in ("point", "lower", "upper")}
        for h in range(self.horizon):
            for k in path:
                path[k].append(float(out[k][0, -1]))
            if h + 1 < self.horizon:
                state = {name: out[f"{name}_out"] for name in self.states}
                step = np.array([[[path["point"][-1]]]], np.float32)
                out = self.run("forecast", window=step, **state)
        return (np.array(path[k]) for k in ("point", "lower", "upper"))


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
        _check_sampling(temperature)
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


class Recognizer(Exported):
    """A speech recogniser: the log-mel front end of ``rnnlab.tasks.speech.features`` in
    numpy, the exported network, and greedy CTC decoding (the best path, repeats collapsed,
    blanks dropped)."""

    FLOOR, HOP = 1e-6, 0.010  # features.FLOOR, features.HOP

    def __init__(self, path, threads=None) -> None:
        super().__init__(path, threads)
        self.alphabet = self.config["alphabet"]
        self.rate, self.n_mels = self.model["sample_rate"], self.model["n_mels"]
        self.window_length = round(0.025 * self.rate)
        self.hop = round(self.HOP * self.rate)
        self.n_fft = 2 ** math.ceil(math.log2(self.window_length))
        n = np.arange(self.window_length)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / self.window_length)  # Hann, periodic
        left = (self.n_fft - self.window_length) // 2  # centred in the FFT, as torch.stft does
        self.window = np.zeros(self.n_fft)
        self.window[left : left + self.window_length] = window
        self.filters = _mel_filterbank(self.n_mels, self.n_fft, self.rate)

    def features(self, samples: np.ndarray) -> np.ndarray:
        """(frames, n_mels) normalised log-mel features of mono ``samples`` at the model's rate."""
        padded = np.pad(np.asarray(samples, np.float64), self.n_fft // 2)
        count = 1 + (len(padded) - self.n_fft) // self.hop
        starts = np.arange(count)[:, None] * self.hop + np.arange(self.n_fft)
        power = np.abs(np.fft.rfft(padded[starts] * self.window, axis=1)) ** 2
        logmel = np.log(power @ self.filters.T + self.FLOOR)
        return ((logmel - logmel.mean(0)) / (logmel.std(0) + 1e-5)).astype(np.float32)

    def transcribe(self, recordings: Sequence[np.ndarray]) -> list[str]:
        features = [self.features(r) for r in recordings]
        frames, lengths = _padded(features)
        out = self.run("recognise", features=frames, lengths=lengths)
        texts = []
        for row, steps in enumerate(out["steps"].tolist()):
            best = out["log_probs"][row, :steps].argmax(-1).tolist()
            kept = [i for j, i in enumerate(best) if i != 0 and (j == 0 or i != best[j - 1])]
            texts.append("".join(self.alphabet[i - 1] for i in kept))
        return texts


def _mel_filterbank(n_mels: int, n_fft: int, rate: int) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles between mel-spaced corners (the HTK scale)."""
    mel = 2595.0 * np.log10(1.0 + (rate / 2) / 700.0)
    corners = 700.0 * (10.0 ** (np.linspace(0.0, mel, n_mels + 2) / 2595.0) - 1.0)
    bins = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    low, centre, high = corners[:-2, None], corners[1:-1, None], corners[2:, None]
    rising, falling = (bins - low) / (centre - low), (high - bins) / (high - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def read_wav(path: str, rate: int) -> np.ndarray:
    """Mono float samples in [-1, 1] of an integer PCM WAV file recorded at ``rate`` Hz."""
    with wave.open(path, "rb") as file:
        if file.getframerate() != rate:
            raise ValueError(
                f"{path} is at {file.getframerate()} Hz; this model hears {rate} Hz "
                "(resample it first, or use rnnlab speech transcribe, which resamples)"
            )
        width, channels = file.getsampwidth(), file.getnchannels()
        data = file.readframes(file.getnframes())
    kinds = {1: np.uint8, 2: np.int16, 4: np.int32}
    if width not in kinds:
        raise ValueError(f"{path}: {8 * width}-bit samples; give 8, 16 or 32-bit PCM")
    samples = np.frombuffer(data, dtype=np.dtype(kinds[width]).newbyteorder("<"))
    samples = samples.astype(np.float64)
    if width == 1:
        samples -= 128
    samples = samples.reshape(-1, channels).mean(1) / 2.0 ** (8 * width - 1)
    if samples.size == 0:
        raise ValueError(f"{path}: the recording holds no samples")
    return samples.astype(np.float32)


KINDS = {
    "rnnlab.language_model": LanguageModel,
    "rnnlab.transformer_lm": LanguageModel,
    "rnnlab.sequence_classifier": Classifier,
    "rnnlab.seq2seq": Translator,
    "rnnlab.chat": Translator,
    "rnnlab.forecaster": Forecaster,
    "rnnlab.speech_recognizer": Recognizer,
    "rnnlab.conditional_generator": LabelGenerator,
}


def load(path: str | Path, threads: int | None = None) -> Exported:
    """The exported model at ``path`` (an ``.onnx`` file with its ``.json`` beside it)."""
    sidecar = Path(path).with_suffix(".json")
    if not Path(path).is_file() or not sidecar.is_file():
        raise ValueError(f"{path}: needs the .onnx file and {sidecar.name} beside it")
    try:
        kind = json.loads(sidecar.read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError) as error:
        raise ValueError(f"{sidecar}: cannot read the export's description ({error})") from None
    if kind not in KINDS:
        raise ValueError(f"{path}: this runtime does not run a {kind!r} export")
    return KINDS[kind](path, threads)


# -- the command line --------------------------------------------------------------------------


def _loaded(path: str, cls: type) -> Exported:
    model = load(path)
    if not isinstance(model, cls):
        raise ValueError(f"{path} is a {model.kind} export, not a {cls.__name__.lower()}")
    return model


def _generate(args) -> None:
    model = _loaded(args.model, LanguageModel)
    prime = args.prime or model.default_prime()
    sampling = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "greedy": args.greedy,
    }
    if args.streams > 1:
        samples = model.generate(
            prime, args.length, streams=args.streams, seed=args.seed, **sampling
        )
        for number, sample in enumerate(samples, 1):
            print(f"--- sample {number} ---\n{prime}{sample}", flush=True)
        return

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    model.vocab.encode(prime, "the prime")  # checked before anything is printed
    _check_sampling(**sampling)
    sys.stdout.write(prime)
    model.generate(prime, args.length, seed=args.seed, stream=stream, **sampling)
    sys.stdout.write("\n")


def _classify(args) -> None:
    model = _loaded(args.model, Classifier)
    if model.series is not None:
        if args.texts or not args.npz:
            raise ValueError("this classifier reads numeric series: give --npz FILE")
        with np.load(args.npz, allow_pickle=False) as data:
            values = data["values"]
            lengths = data["lengths"] if "lengths" in data else [len(v) for v in values]
        items = [v[:n] for v, n in zip(values, lengths, strict=True)]
        names = [f"series {i + 1}" for i in range(len(items))]
    else:
        if not args.texts:
            raise ValueError("nothing to classify: give texts")
        names = items = args.texts
    for name, labels in zip(names, model.top_labels(items, args.top), strict=True):
        pairs = "\t".join(f"{label}\t{p:.4f}" for label, p in labels)
        print(f"{name}\t{pairs}")


def _translate(args) -> None:
    model = _loaded(args.model, Translator)
    for text, log_prob in model.translate(args.texts, args.beam, args.alpha):
        print(f"{text}\t{log_prob:.4f}" if args.scores else text)


def _forecast(args) -> None:
    model = _loaded(args.model, Forecaster)
    names = model.targets + model.covariates
    with open(args.history, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    missing = [n for n in names if rows and n not in rows[0]]
    if not rows or missing:
        raise ValueError(f"{args.history} needs the column(s) {', '.join(missing or names)}")
    try:
        history = np.array([[float(row[n]) for n in names] for row in rows])
    except ValueError as error:
        raise ValueError(f"{args.history}: {error}") from None
    level = f"{model.model['interval']:.0%}"
    print(f"{'step':<22} {'target':<14} {'forecast':>12} {level + ' interval':>26}")
    for name, point, lower, upper in model.forecast(history):
        for h in range(model.horizon):
            print(
                f"{'+' + str(h + 1):<22} {name:<14} {point[h]:>12.5g} "
                f"[{lower[h]:>11.5g}, {upper[h]:>11.5g}]"
            )


def _generate_from_label(args) -> None:
    model = _loaded(args.model, LabelGenerator)
    texts = model.generate(
        args.label, args.count, args.prime, args.temperature, args.seed, args.max_length
    )
    print("\n".join(texts))


def _transcribe(args) -> None:
    model = _loaded(args.model, Recognizer)
    texts = model.transcribe([read_wav(path, model.rate) for path in args.recordings])
    for path, text in zip(args.recordings, texts, strict=True):
        print(f"{path}\t{text}" if len(args.recordings) > 1 else text)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m rnnlab.portable",
        description="Run a model exported by `rnnlab export --format onnx`, without PyTorch.",
    )
    verbs = top.add_subparsers(dest="verb", required=True)
    generate = verbs.add_parser("generate", help="continue a prime with a language model")
    generate.add_argument("model", metavar="FILE.onnx")
    generate.add_argument("--prime", default=None)
    generate.add_argument("--length", type=int, default=500)
    generate.add_argument("--temperature", type=float, default=1.0)
    generate.add_argument("--top-k", type=_positive, default=None)
    generate.add_argument("--top-p", type=float, default=None)
    generate.add_argument("--greedy", action="store_true")
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument("--streams", type=_positive, default=1)
    generate.set_defaults(run=_generate)
    classify = verbs.add_parser("classify", help="label texts (or series) with a classifier")
    classify.add_argument("model", metavar="FILE.onnx")
    classify.add_argument("texts", nargs="*")
    classify.add_argument("--npz", metavar="FILE", help="series: values (N, T, C), lengths (N,)")
    classify.add_argument("--top", type=_positive, default=1)
    classify.set_defaults(run=_classify)
    translate = verbs.add_parser("translate", help="translate sentences")
    translate.add_argument("model", metavar="FILE.onnx")
    translate.add_argument("texts", nargs="+")
    translate.add_argument("--beam", type=_positive, default=1)
    translate.add_argument("--alpha", type=float, default=1.0)
    translate.add_argument("--scores", action="store_true")
    translate.set_defaults(run=_translate)
    forecast = verbs.add_parser("forecast", help="forecast the steps after a history")
    forecast.add_argument("model", metavar="FILE.onnx")
    forecast.add_argument("--history", required=True, metavar="CSV")
    forecast.set_defaults(run=_forecast)
    labelled = verbs.add_parser("generate-from-label", help="texts for a label")
    labelled.add_argument("model", metavar="FILE.onnx")
    labelled.add_argument("--label", required=True)
    labelled.add_argument("--count", type=_positive, default=10)
    labelled.add_argument("--prime", default="")
    labelled.add_argument("--temperature", type=float, default=0.8)
    labelled.add_argument("--max-length", type=_positive, default=None)
    labelled.add_argument("--seed", type=int, default=None)
    labelled.set_defaults(run=_generate_from_label)
    transcribe = verbs.add_parser("transcribe", help="transcribe recordings (PCM WAV files)")
    transcribe.add_argument("model", metavar="FILE.onnx")
    transcribe.add_argument("recordings", nargs="+", metavar="WAV")
    transcribe.set_defaults(run=_transcribe)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, OSError, KeyError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"rnnlab.portable: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
