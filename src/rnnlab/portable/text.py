"""Text and choice for the portable runtime: vocabularies as rnnlab's configs record them
(char, byte and word levels, the unknown token), padding, and the sampling rule of
:mod:`rnnlab.generation` (temperature on logits shifted to a maximum of 0, top-k, top-p, then the
inverse of the cumulative distribution at a uniform draw), in numpy."""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence

import numpy as np

WORD = re.compile(r"\w+|\s+|[^\w\s]")  # rnnlab.data.vocab.tokenize_words
SPACED_WORD = re.compile(r"\n|[^\S\n]*(?:\w+|[^\w\s])")  # rnnlab.tasks.translate.pairs
START, END = "<s>", "</s>"


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
        return self.ids(list(text) if self.level == "char" else WORD.findall(text), what)

    def decoder(self):
        """A streaming decoder, one id at a time (a byte model's UTF-8 decoded incrementally)."""
        if self.level != "byte":
            return self.symbols.__getitem__
        incremental = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return lambda i: incremental.decode(bytes((i,)))


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
        p = softmax(ranked)
        drop = (np.cumsum(p, -1) - p) >= top_p
        drop[:, 0] = False
        np.put_along_axis(drop, order, drop.copy(), -1)
        z = np.where(drop, -np.inf, z)
    cdf = np.cumsum(softmax(z), -1)
    u = rng.random((len(z), 1), dtype=np.float32) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(-1), z.shape[-1] - 1)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def check_sampling(temperature=1.0, top_k=None, top_p=None, greedy=False) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def padded(rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows (n_i, ...) zero-padded to the longest, and their lengths."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    shape = (len(rows), int(lengths.max()), *rows[0].shape[1:])
    out = np.zeros(shape, dtype=rows[0].dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, lengths
