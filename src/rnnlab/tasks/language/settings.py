"""What a training run is: its settings and the text it trains on, split and encoded."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import torch

from rnnlab.cells import CELLS, MinimalCell
from rnnlab.data.vocab import Vocabulary, check_level
from rnnlab.init import SCHEMES
from rnnlab.kernels import PRECISIONS
from rnnlab.scan import METHODS as SCAN_METHODS
from rnnlab.tasks.language.blocks import BLOCKS
from rnnlab.tasks.language.model import LanguageModel


@dataclass
class TrainSettings:
    """Everything that defines a training run; saved in the checkpoint's ``config.json``."""

    level: str = "char"
    cell: str = "lstm"
    hidden: int = 384
    layers: int = 2
    embedding: int | None = 64  # None: one-hot inputs
    dropout: float = 0.2
    init: str = "default"
    forget_bias: float | None = None
    block: str = "plain"  # or "residual": pre-norm residual blocks with a feed-forward layer
    scan: str = "auto"  # minGRU/minLSTM: how the recurrence runs over time (see rnnlab.scan)
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 8e-3
    weight_decay: float = 0.1
    warmup: int = 100
    clip: float = 1.0  # 0: no clipping
    epochs: int | None = None
    budget: float | None = None  # seconds
    val_fraction: float = 0.1
    evals: int = 10
    seed: int = 0
    precision: str = "auto"
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if self.epochs is None and self.budget is None:
            self.epochs = 10
        check_level(self.level)
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.init not in SCHEMES:
            raise ValueError(f"init must be one of {', '.join(SCHEMES)}, got {self.init!r}")
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {self.block!r}")
        if self.scan not in SCAN_METHODS:
            raise ValueError(f"scan must be one of {', '.join(SCAN_METHODS)}, got {self.scan!r}")
        if self.scan != "auto" and not issubclass(CELLS[self.cell][0], MinimalCell):
            raise ValueError(f"scan applies to mingru and minlstm, not {self.cell}")
        for name in ("hidden", "layers", "seq_len", "batch_size", "warmup", "evals"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be >= 1")
        if self.embedding is not None and self.embedding < 1:
            raise ValueError("embedding must be >= 1 (or None for one-hot inputs)")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError("epochs must be >= 1")
        if self.budget is not None and not self.budget > 0:
            raise ValueError("budget must be a positive number of seconds")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val-fraction must be in [0, 1), got {self.val_fraction}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not (self.lr > 0 and self.clip >= 0 and self.weight_decay >= 0):
            raise ValueError("lr must be > 0, clip and weight-decay >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")

    @classmethod
    def from_json(cls, data: dict) -> TrainSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def build_model(self, vocab: Vocabulary) -> LanguageModel:
        model = LanguageModel(
            vocab,
            cell=self.cell,
            hidden_size=self.hidden,
            num_layers=self.layers,
            embedding_size=self.embedding,
            dropout=self.dropout,
            init=self.init,
            forget_bias=self.forget_bias,
            block=self.block,
        )
        for module in model.modules():
            if isinstance(module, MinimalCell):
                module.scan_method = self.scan
        return model


#: The model size, dropout and peak learning rate that reached the lowest validation loss on
#: tiny Shakespeare in a given wall-clock budget on the 2-core bench machine (bfloat16; see
#: benchmarks/RESULTS.md): (budgets up to this many seconds, settings).
BUDGET_SIZES: tuple[tuple[float, dict], ...] = (
    (150.0, {"hidden": 256, "dropout": 0.0, "lr": 8e-3}),
    (float("inf"), {"hidden": 512, "dropout": 0.25, "lr": 5e-3}),
)
SIZED = ("hidden", "dropout", "lr")


def sized_for_budget(budget: float) -> dict:
    """The entry of :data:`BUDGET_SIZES` for ``budget`` seconds."""
    return next(dict(sizes) for limit, sizes in BUDGET_SIZES if budget <= limit)


def recommended_settings(budget: float | None = None, **given) -> TrainSettings:
    """Settings for training for ``budget`` seconds: the defaults, with the model size, dropout
    and learning rate of :func:`sized_for_budget` where ``given`` does not set them (without a
    budget, the plain defaults: a 2 x 384 LSTM for 10 epochs)."""
    sized = sized_for_budget(budget) if budget else {}
    return TrainSettings(**(sized | given), budget=budget)


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
