"""The text a language model trains on: encoded once, split into a training part (first) and a
validation part (last), with the text's SHA-256 so that a resumed run can check it reads the
same text."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from rnnlab.data.vocab import Vocabulary
from rnnlab.tasks.language.settings import TrainSettings


@dataclass
class Corpus:
    """A text as ids, split into training (first part) and validation (last part) ids."""

    vocab: Vocabulary
    train: torch.Tensor
    val: torch.Tensor | None
    digest: str  # sha256 of the text, to check a resumed run reads the same text

    @classmethod
    def from_text(cls, text: str | bytes, settings: TrainSettings) -> Corpus:
        vocab = Vocabulary.build(settings.level, text)
        ids = vocab.encode(text)
        n_val = int(ids.numel() * settings.val_fraction)
        train, val = ids[: ids.numel() - n_val], ids[ids.numel() - n_val :]
        unit = {"char": "characters", "byte": "bytes", "word": "words"}[settings.level]
        need = settings.batch_size * settings.seq_len + 1
        if train.numel() < need:
            raise ValueError(
                f"the training text is too short: {train.numel()} {unit}, but one batch of "
                f"{settings.batch_size} streams x {settings.seq_len} steps needs {need}; "
                "lower --batch-size or --seq-len, or give a longer text"
            )
        if settings.val_fraction > 0 and val.numel() < 2:
            raise ValueError(
                f"the validation split is empty ({val.numel()} {unit}); raise --val-fraction "
                "or pass --val-fraction 0 to train without validation"
            )
        data = text.encode("utf-8") if isinstance(text, str) else text
        digest = hashlib.sha256(data).hexdigest()
        return cls(vocab, train, val if n_val else None, digest)
