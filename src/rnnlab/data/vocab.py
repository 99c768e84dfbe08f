"""Vocabularies: text <-> integer ids at the level of characters, bytes or words.

A vocabulary is the bijection between symbols and ids 0..V-1 that a model was trained with; it
is saved with the model as JSON (:meth:`Vocabulary.to_json`). Levels:

- ``char``: every distinct character of the training text, in code-point order. A character the
  vocabulary never saw is an error that names it (there is no unknown symbol).
- ``byte``: the 256 byte values; any input encodes (str is encoded as UTF-8 first), and decoding
  turns invalid UTF-8 into U+FFFD.
- ``word``: the text split into runs of word characters, runs of whitespace and single other
  characters (regex ``\\w+|\\s+|[^\\w\\s]``), so that joining the tokens gives the text back
  exactly. Symbols are ordered by frequency; a word the vocabulary never saw encodes as the
  explicit unknown token ``<unk>``.

A vocabulary built by :meth:`Vocabulary.from_counts` (the classifier's) has the unknown token at
every level, so that unseen characters encode too.

Losses are compared across levels per character (per byte at the byte level): a symbol's
``lengths`` entry is how many characters (bytes) it stands for.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnlab.checks import check_choice

LEVELS = ("char", "byte", "word")
UNKNOWN = "<unk>"
#: The sequence boundaries a decoder reads first (``<s>``) and emits last (``</s>``).
START, END = "<s>", "</s>"
_WORD = re.compile(r"\w+|\s+|[^\w\s]")


def check_level(level: str) -> str:
    check_choice("level", level, LEVELS)
    return level


def _shown(symbol: str) -> str:
    """A symbol as an error message shows it: repr plus code point for single characters."""
    if len(symbol) == 1:
        return f"{symbol!r} (U+{ord(symbol):04X})"
    return repr(symbol)


@dataclass(frozen=True)
class Vocabulary:
    """The symbols of one level; id i stands for ``symbols[i]`` (bytes: id = byte value)."""

    level: str
    symbols: tuple[str, ...]
    unknown: str | None = None

    def __post_init__(self) -> None:
        check_level(self.level)
        if not self.symbols:
            raise ValueError("a vocabulary needs at least one symbol")
        if not all(isinstance(s, str) and s for s in self.symbols):
            raise ValueError("vocabulary symbols must be non-empty strings")
        special = {self.unknown, START, END}
        if self.level == "char" and any(len(s) != 1 for s in self.symbols if s not in special):
            raise ValueError("a character vocabulary's symbols must be single characters")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("vocabulary symbols must be distinct")
        if self.unknown is not None and self.unknown not in self.symbols:
            raise ValueError(f"the unknown token {self.unknown!r} is not among the symbols")
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

    # -- building and saving ------------------------------------------------------------------

    @classmethod
    def build(cls, level: str, text: str | bytes, max_symbols: int | None = None) -> Vocabulary:
        """The vocabulary of ``text`` at ``level`` (all 256 bytes at the byte level; at the word
        level at most ``max_symbols``, see :meth:`from_word_counts`)."""
        check_level(level)
        if level == "byte":
            return cls("byte", tuple(chr(b) for b in range(256)))
        if isinstance(text, bytes):
            raise ValueError(f"a {level}-level vocabulary is built from str, not bytes")
        if level == "char":
            return cls("char", tuple(sorted(set(text))))
        return cls.from_word_counts(Counter(tokenize_words(text)), max_symbols)

    @classmethod
    def from_word_counts(cls, counts: Counter, max_symbols: int | None = None) -> Vocabulary:
        """A word vocabulary: ``<unk>`` (id 0), then the words of ``counts`` by frequency (ties
        in code-point order), the ``max_symbols`` - 1 most frequent where that is given; the
        rest read as ``<unk>``."""
        ranked = sorted((s for s in counts if s != UNKNOWN), key=lambda s: (-counts[s], s))
        if max_symbols is not None:
            if max_symbols < 2:
                raise ValueError("a word vocabulary needs room for <unk> and one word")
            ranked = ranked[: max_symbols - 1]
        return cls("word", (UNKNOWN, *ranked), UNKNOWN)

    @classmethod
    def from_counts(
        cls, level: str, counts: Counter, min_count: int = 1, reserved: tuple[str, ...] = ()
    ) -> Vocabulary:
        """A vocabulary with an unknown token (id 0), then the ``reserved`` symbols (such as
        start and end markers, ids 1, 2, ...), then the symbols seen at least ``min_count``
        times in ``counts`` (symbol -> count): characters in code-point order, words by
        frequency. Everything else encodes as the unknown token, which training then also sees
        (for the symbols rarer than ``min_count``)."""
        check_level(level)
        if level == "byte":
            raise ValueError("a byte-level vocabulary has all 256 bytes; it needs no counts")
        special = (UNKNOWN, *reserved)
        kept = [s for s, n in counts.items() if n >= min_count and s not in special]
        if not kept:  # only the unknown token: nothing to learn
            raise ValueError(
                f"no {'character' if level == 'char' else 'word'} occurs {min_count} times or "
                "more; lower --min-count"
            )
        kept.sort(key=(lambda s: s) if level == "char" else (lambda s: (-counts[s], s)))
        return cls(level, (*special, *kept), UNKNOWN)

    def to_json(self) -> dict:
        if self.level == "byte":
            return {"level": "byte"}
        return {"level": self.level, "symbols": list(self.symbols), "unknown": self.unknown}

    @classmethod
    def from_json(cls, data: dict) -> Vocabulary:
        try:
            level = data["level"]
            if level == "byte":
                return cls.build("byte", b"")
            return cls(level, tuple(data["symbols"]), data.get("unknown"))
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed vocabulary in config: {error}") from None

    # -- encoding -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def unit(self) -> str:
        """What losses are normalised by: ``byte`` at the byte level, else ``char``."""
        return "byte" if self.level == "byte" else "char"

    def names(self) -> list[str]:
        """How each id is shown: its symbol; a byte above 127 as ``\\xNN``."""
        if self.level == "byte":
            return [chr(b) if b < 128 else f"\\x{b:02x}" for b in range(256)]
        return list(self.symbols)

    def lengths(self) -> Tensor:
        """(V,) how many characters (bytes) each symbol stands for."""
        if self.level == "word":
            return torch.tensor([len(s) for s in self.symbols], dtype=torch.float64)
        return torch.ones(len(self.symbols), dtype=torch.float64)

    def tokens(self, text: str | bytes) -> list[str]:
        """``text`` split into this level's symbols (not yet checked against the vocabulary)."""
        if self.level == "byte":
            data = text.encode("utf-8") if isinstance(text, str) else text
            return [chr(b) for b in data]
        if isinstance(text, bytes):
            raise ValueError(f"a {self.level}-level vocabulary encodes str, not bytes")
        return list(text) if self.level == "char" else tokenize_words(text)

    def encode(self, text: str | bytes, what: str = "the text") -> Tensor:
        """(N,) int64 ids of ``text``. Unseen characters raise ValueError naming them (and
        ``what`` holds them); unseen words become the unknown token."""
        if self.level == "byte":
            data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            return torch.from_numpy(np.frombuffer(data, dtype=np.uint8).astype(np.int64))
        if self.level == "char":
            return self._encode_chars(text, what)
        index, unk = self._index, self._index.get(self.unknown, -1)
        return torch.tensor([index.get(s, unk) for s in self.tokens(text)], dtype=torch.int64)

    def encode_tokens(self, tokens: Iterable[str]) -> Tensor:
        """(N,) int64 ids of already split ``tokens``; unseen ones become the unknown token
        (a ValueError naming them for a vocabulary without one)."""
        tokens = list(tokens)
        index, unk = self._index, self._index.get(self.unknown, -1)
        ids = [index.get(s, unk) for s in tokens]
        if unk < 0 and -1 in ids:
            unseen = sorted({s for s in tokens if s not in index})
            shown = ", ".join(_shown(s) for s in unseen[:5])
            raise ValueError(f"{len(unseen)} symbol(s) the model never saw in training: {shown}")
        return torch.tensor(ids, dtype=torch.int64)

    def lookup(self, tokens: Iterable[str]) -> list[tuple[int | None, bool]]:
        """Per token, (its id, or None where the vocabulary has no id for it; whether it is
        unknown: without an id, or read as the unknown token). Never raises."""
        index = self._index
        unk = index.get(self.unknown)
        found = []
        for token in tokens:
            i = index.get(token, unk)
            found.append((i, i is None or i == unk))
        return found

    def _encode_chars(self, text: str, what: str) -> Tensor:
        if isinstance(text, bytes):
            raise ValueError("a char-level vocabulary encodes str, not bytes")
        if self.unknown is not None:
            return self.encode_tokens(list(text))
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        table = np.array([ord(s) for s in self.symbols], dtype=np.uint32)
        order = np.argsort(table)
        pos = np.searchsorted(table[order], points).clip(max=len(table) - 1)
        ids = order[pos]
        missing = table[ids] != points
        if missing.any():
            unseen = sorted({chr(p) for p in points[missing]})
            shown = ", ".join(_shown(c) for c in unseen[:5])
            more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
            raise ValueError(
                f"{what} has {len(unseen)} character(s) the model never saw in training: "
                f"{shown}{more}"
            )
        return torch.from_numpy(ids.astype(np.int64))

    def unknown_count(self, ids: Tensor) -> int:
        """How many of ``ids`` are the unknown token."""
        if self.unknown is None:
            return 0
        return int((ids == self._index[self.unknown]).sum())

    # -- decoding -----------------------------------------------------------------------------

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        """The text of ``ids`` (bytes decoded as UTF-8, invalid sequences as U+FFFD)."""
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        if self.level == "byte":
            return bytes(ids).decode("utf-8", errors="replace")
        return "".join(self.symbols[i] for i in ids)

    def decoder(self) -> Callable[[int], str]:
        """A streaming decoder: call it with one id at a time; it returns the text that id
        completes ("" while a multi-byte UTF-8 character is still incomplete)."""
        if self.level != "byte":
            return self.symbols.__getitem__
        incremental = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return lambda i: incremental.decode(bytes((i,)))


def tokenize_words(text: str) -> list[str]:
    """Word-level tokens: words, whitespace runs and single other characters; they join back
    to ``text`` exactly."""
    return _WORD.findall(text)


def target_vocabulary(level: str, counts, min_count: int = 1) -> Vocabulary:
    """A vocabulary for a decoder: ``<unk>``, ``<s>``, ``</s>``, then the tokens of ``counts``."""
    return Vocabulary.from_counts(level, counts, min_count, reserved=(START, END))
