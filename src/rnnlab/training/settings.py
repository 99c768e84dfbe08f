"""What a training run is: its settings and the text it trains on, split and encoded."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import torch

from rnnlab.cells import CELLS
from rnnlab.data.vocab import Vocabulary, check_level
from rnnlab.init import SCHEMES
from rnnlab.models.language import LanguageModel

PRECISIONS = ("auto", "float32", "bfloat16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bfloat16 where the hardware multiplies in it natively (CPUs with AVX-512 BF16
    or AMX, CUDA GPUs that support it; measured 1.6x faster on the AMX CPU), else float32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    native = any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return "bfloat16" if native else "float32"


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
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 8e-3
    weight_decay: float = 0.01
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
        return LanguageModel(
            vocab,
            cell=self.cell,
            hidden_size=self.hidden,
            num_layers=self.layers,
            embedding_size=self.embedding,
            dropout=self.dropout,
            init=self.init,
            forget_bias=self.forget_bias,
        )


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
