"""The settings of a language-model run, and the sizes recommended for a time budget."""

from __future__ import annotations

from typing import ClassVar

from rnnlab.cells import CELLS, MinimalCell
from rnnlab.data.vocab import LEVELS
from rnnlab.scan import METHODS as SCAN_METHODS
from rnnlab.settings import (
    FRACTION,
    POSITIVE_INT,
    TEXT,
    Check,
    RecurrentSettings,
    RunSettings,
    embedding_setting,
    one_of,
    setting,
    task_settings,
)
from rnnlab.tasks.language.blocks import BLOCKS
from rnnlab.tasks.language.model import LanguageModel


@task_settings(
    hidden_size=384,
    num_layers=2,
    dropout=0.2,
    batch_size=32,
    lr=8e-3,
    weight_decay=0.1,
    warmup=100,
)
class TrainSettings(RunSettings, RecurrentSettings):
    """Everything that defines a language-model run: the recurrent network and the run (see
    :mod:`rnnlab.settings`), and the fields below; saved in the checkpoint's ``config.json``."""

    OMIT: ClassVar[tuple[str, ...]] = ("bidirectional",)  # a language model reads forward
    HELP: ClassVar[dict[str, str]] = {
        "batch_size": "parallel streams of text",
        "epochs": "passes over the text",
        "budget": "train for this wall-clock time; the learning-rate schedule is fitted to it, "
        "and --hidden, --dropout and --lr, where not given, are sized for it",
    }

    level: str = setting("char", "symbols: char, byte or word", one_of(LEVELS), group="model")
    embedding_size: int | None = embedding_setting(
        64, "learned embedding of this size for the inputs", one_hot=True
    )
    block: str = setting(
        "plain",
        "plain: stacked layers; residual: per layer x + RNN(LayerNorm(x)) and "
        "x + FFN(LayerNorm(x)), the minGRU/minLSTM paper's language model",
        one_of(BLOCKS),
        group="model",
    )
    scan: str = setting(
        "auto",
        "mingru/minlstm: the recurrence over time by a loop (sequential), the chunked scan, or "
        "the log-space scan (log); auto picks by device and shape",
        one_of(SCAN_METHODS),
        group="model",
    )
    seq_len: int = setting(64, "BPTT length: steps per chunk", POSITIVE_INT)
    val_fraction: float = setting(0.1, "last part of the text held out for validation", FRACTION)
    val_limit: int = setting(
        250_000,
        "validation reads at most this many symbols (the start of the held-out part)",
        POSITIVE_INT,
    )
    max_vocab: int = setting(
        50_000,
        "word level: keep the most frequent words, this many symbols with <unk>",
        Check(int, lambda v: isinstance(v, int) and v >= 2, "an integer >= 2"),
        group="model",
    )
    evals: int = setting(10, "validation passes over the run", POSITIVE_INT)
    encoding: str = setting("utf-8", "text encoding of the file", TEXT)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scan != "auto" and not issubclass(CELLS[self.cell][0], MinimalCell):
            raise ValueError(f"scan applies to mingru and minlstm, not {self.cell}")

    def build_model(self, vocab) -> LanguageModel:
        model = LanguageModel(vocab, **self.arguments(LanguageModel))
        for module in model.modules():
            if isinstance(module, MinimalCell):
                module.scan_method = self.scan
        return model


#: The model size, dropout and peak learning rate that reached the lowest validation loss on
#: tiny Shakespeare in a given wall-clock budget on the 2-core bench machine (bfloat16; see
#: benchmarks/RESULTS.md): (budgets up to this many seconds, settings).
BUDGET_SIZES: tuple[tuple[float, dict], ...] = (
    (150.0, {"hidden_size": 256, "dropout": 0.0, "lr": 8e-3}),
    (float("inf"), {"hidden_size": 512, "dropout": 0.25, "lr": 5e-3}),
)
SIZED = ("hidden_size", "dropout", "lr")


def sized_for_budget(budget: float) -> dict:
    """The entry of :data:`BUDGET_SIZES` for ``budget`` seconds."""
    return next(dict(sizes) for limit, sizes in BUDGET_SIZES if budget <= limit)


def recommended_settings(budget: float | None = None, **given) -> TrainSettings:
    """Settings for training for ``budget`` seconds: the defaults, with the model size, dropout
    and learning rate of :func:`sized_for_budget` where ``given`` does not set them (without a
    budget, the plain defaults: a 2 x 384 LSTM for 10 epochs)."""
    sized = sized_for_budget(budget) if budget else {}
    return TrainSettings(**(sized | given), budget=budget)
