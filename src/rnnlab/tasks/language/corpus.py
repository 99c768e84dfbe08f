"""The text a language model trains on: encoded once, split into a training part (first) and a
validation part (last, of which at most ``val_limit`` symbols are read), with the text's SHA-256
so that a resumed run can check it reads the same text.

A text in memory (the built-in corpus, a string) is encoded into a tensor; files are encoded
into a token file and read through a memory map (:mod:`rnnlab.data.tokens`), so a corpus of any
size trains in bounded memory. Both give the same ids, and :class:`~rnnlab.data.streams.Streams`
reads either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.text import read_source
from rnnlab.data.tokens import encode_files
from rnnlab.data.vocab import Vocabulary
from rnnlab.tasks.language.settings import TrainSettings

UNITS = {"char": "characters", "byte": "bytes", "word": "words"}


@dataclass
class Corpus:
    """A text as ids (a tensor, or a NumPy memory map), split into training (first part) and
    validation (last part) ids."""

    vocab: Vocabulary
    train: torch.Tensor | np.ndarray
    val: torch.Tensor | np.ndarray | None
    digest: str  # sha256 of the text, to check a resumed run reads the same text

    @classmethod
    def from_text(cls, text: str | bytes, settings: TrainSettings) -> Corpus:
        """The corpus of a text held in memory."""
        vocab = Vocabulary.build(settings.level, text, settings.max_vocab)
        data = text.encode("utf-8") if isinstance(text, str) else text
        return cls.split(vocab, vocab.encode(text), hashlib.sha256(data).hexdigest(), settings)

    @classmethod
    def from_files(
        cls, sources: Sequence[str | Path], settings: TrainSettings, progress: bool = False
    ) -> Corpus:
        """The corpus of files and folders, concatenated, read through the token cache."""
        encoded = encode_files(
            sources,
            settings.level,
            settings.encoding,
            max_vocab=settings.max_vocab,
            progress=progress,
        )
        return cls.split(encoded.vocab, encoded.ids, encoded.digest, settings)

    @classmethod
    def split(cls, vocab: Vocabulary, ids, digest: str, settings: TrainSettings) -> Corpus:
        """The first 1 - ``val_fraction`` of ``ids`` to train on, the start of the rest (at most
        ``val_limit`` symbols) to validate on; refused when either is too short."""
        count = len(ids)
        n_val = int(count * settings.val_fraction)
        train, val = ids[: count - n_val], ids[count - n_val :][: settings.val_limit]
        unit = UNITS[settings.level]
        length = settings.chunk_length  # a recurrent row's steps, a transformer's context
        need = settings.batch_size * length + 1
        if len(train) < need:
            flag = "--context" if settings.arch == "transformer" else "--seq-len"
            raise ValueError(
                f"the training text is too short: {len(train)} {unit}, but one batch of "
                f"{settings.batch_size} streams x {length} steps needs {need}; "
                f"lower --batch-size or {flag}, or give a longer text"
            )
        if settings.val_fraction > 0 and len(val) < 2:
            raise ValueError(
                f"the validation split is empty ({len(val)} {unit}); raise --val-fraction "
                "or pass --val-fraction 0 to train without validation"
            )
        return cls(vocab, train, val if n_val else None, digest)

    def units_per_token(self, sample: int = 1_000_000) -> float:
        """Characters (bytes) per symbol, over the first ``sample`` training symbols."""
        ids = torch.from_numpy(np.asarray(self.train[:sample]).astype(np.int64))
        return float(self.vocab.lengths()[ids].mean())


def heldout_text(model, text: str | None = None) -> str:
    """A language model's held-out text: the last ``val_fraction`` of the text it was trained
    on (its config names it), or all of the file ``text`` when given."""
    config = getattr(model, "checkpoint_config", None) or {}  # none: built, not loaded
    source = (config.get("data") or {}).get("source") if text is None else text
    if source is None:
        raise ValueError("no held-out text known; give --text FILE")
    try:
        read, _ = read_source(source, model.vocab.level)
    except ValueError as error:
        raise ValueError(f"{error}; pass --text FILE") from None
    if text is not None:
        return read
    fraction = float((config.get("training") or {}).get("val_fraction", 0.1))
    return read[int(len(read) * (1 - fraction)) :]
