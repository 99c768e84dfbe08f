"""The settings of a language-model run, and the sizes recommended for a time budget."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import ClassVar

import torch

from rnnlab.cells import CELLS, MinimalCell
from rnnlab.checkpoint import CONFIG, checkpoint_dir, read_json
from rnnlab.data.vocab import LEVELS
from rnnlab.fused import FUSED_CHOICES, FUSED_FROM
from rnnlab.kernels import PRECISIONS
from rnnlab.limits import OUTPUT_BATCH
from rnnlab.scan import METHODS as SCAN_METHODS
from rnnlab.settings import (
    AT_LEAST_2,
    FRACTION,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    SEED,
    SWITCH,
    TEXT,
    UNIT_INTERVAL,
    WIDTH,
    Check,
    RecurrentSettings,
    RunSettings,
    Settings,
    embedding_setting,
    one_of,
    setting,
    task_settings,
)
from rnnlab.tasks.language.blocks import BLOCKS
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.next_symbol import NextSymbolModel
from rnnlab.tasks.language.transformer import POSITIONS, TransformerLM, check_shape

ARCHS = ("recurrent", "transformer")
#: the settings that only one architecture reads (the other must leave them at their defaults)
ONLY = {
    "recurrent": (
        "cell",
        "embedding_size",
        "block",
        "weight_drop",
        "locked_dropout",
        "input_dropout",
        "embedding_dropout",
        "scan",
        "seq_len",
        "init",
        "forget_bias",
    ),
    "transformer": ("heads", "context", "positions"),
}


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
        "and the model's size, regularisation and learning rate, where not given, are sized "
        "for it (the settings measured best at the nearest of 60, 300 and 1800 s)",
    }

    level: str = setting("char", "symbols: char, byte or word", one_of(LEVELS), group="model")
    arch: str = setting(
        "recurrent",
        "recurrent: the --cell network; transformer: a causal transformer of --layers blocks "
        "--hidden wide with --heads, --context and --positions (the recurrent options do not "
        "apply to it)",
        one_of(ARCHS),
        group="model",
    )
    heads: int = setting(4, "transformer: attention heads per block", WIDTH, group="model")
    context: int = setting(
        64,
        "transformer: the most symbols one prediction sees; it trains on windows of this many, "
        "and reads longer texts by a window that keeps half of them when it slides",
        AT_LEAST_2,
        group="model",
    )
    positions: str = setting(
        "learned", "transformer: learned or rotary positions", one_of(POSITIONS), group="model"
    )
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
    weight_drop: float = setting(
        0.0,
        "DropConnect on the recurrent weights W_hh in training (AWD-LSTM's weight dropout); "
        "plain blocks",
        FRACTION,
        group="model",
    )
    locked_dropout: bool = setting(
        False,
        "every dropout mask shared by the steps of a chunk (variational dropout, as AWD-LSTM)",
        SWITCH,
        group="model",
    )
    input_dropout: float = setting(
        0.0, "dropout on the embedded inputs (AWD-LSTM's dropouti)", FRACTION, group="model"
    )
    embedding_dropout: float = setting(
        0.0,
        "drop this fraction of the symbols, whole, from each batch's inputs (AWD-LSTM's dropoute)",
        FRACTION,
        group="model",
    )
    scan: str = setting(
        "auto",
        "mingru/minlstm: the recurrence over time by a loop (sequential), the chunked scan, or "
        "the log-space scan (log); auto picks by device and shape",
        one_of(SCAN_METHODS),
        group="model",
    )
    seq_len: int = setting(
        64, "BPTT length: steps per chunk (the transformer's is its --context)", POSITIVE_INT
    )
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
        if self.arch == "transformer":  # before any text is read
            check_shape(self.hidden_size, self.heads, self.positions)
        other = "recurrent" if self.arch == "transformer" else "transformer"
        defaults = {f.name: f.default for f in fields(self)}
        for name in ONLY[other]:
            if getattr(self, name) != defaults[name]:
                raise ValueError(
                    f"{self.flag(name)} applies to the {other} model, not --arch {self.arch}"
                )

    @property
    def chunk_length(self) -> int:
        """The symbols one training row reads: the BPTT length, or the transformer's context."""
        return self.context if self.arch == "transformer" else self.seq_len

    def describe(self, precision: str) -> str:
        """The model and the run in one line, for benchmark tables (``precision``: the one the
        run resolved)."""
        if self.arch == "transformer":
            model = (
                f"transformer {self.num_layers} x {self.hidden_size}, {self.heads} heads, "
                f"context {self.context}, {self.positions} positions"
            )
        else:
            model = (
                f"{self.cell} {self.num_layers} x {self.hidden_size} ({self.block}), "
                f"emb {self.embedding_size}, T {self.seq_len}"
            )
        levers = [
            f"{name.replace('_', ' ')} {getattr(self, name):g}"
            for name in ("input_dropout", "embedding_dropout", "weight_drop", "ema")
            if getattr(self, name)
        ]
        dropout = f"{'locked ' if self.locked_dropout else ''}dropout {self.dropout:g}"
        run = [f"B {self.batch_size}", f"lr {self.lr:g}", f"wd {self.weight_decay:g}", precision]
        return ", ".join([model, dropout, *levers, *run])

    def build_model(self, vocab) -> NextSymbolModel:
        if self.arch == "transformer":
            return TransformerLM(vocab, **self.arguments(TransformerLM))
        model = LanguageModel(vocab, **self.arguments(LanguageModel))
        for module in model.modules():
            if isinstance(module, MinimalCell):
                module.scan_method = self.scan
        return model


#: the model classes by their checkpoints' format
MODELS: dict[str, type[NextSymbolModel]] = {m.FORMAT: m for m in (LanguageModel, TransformerLM)}


def model_class(config: dict) -> type[NextSymbolModel]:
    """The class of the language model, recurrent or transformer, a checkpoint's ``config``
    describes; ValueError for any other format."""
    kind = config.get("format") if isinstance(config, dict) else None
    if not isinstance(kind, str) or kind not in MODELS:
        raise ValueError(f"the checkpoint is not a language model (format {kind!r})")
    return MODELS[kind]


def load_model(directory) -> NextSymbolModel:
    """The language model, recurrent or transformer, saved in checkpoint ``directory``."""
    path = checkpoint_dir(directory)
    return model_class(read_json(path / CONFIG)).from_pretrained(path)


#: Per architecture, the settings that reached the lowest validation loss on tiny Shakespeare in
#: a wall-clock budget on the 2-core bench machine, by the budget (seconds) they were measured at
#: (benchmarks/RESULTS.md; the sweeps in benchmarks/budgets/). A budget takes the entry measured
#: nearest it on a log scale: the 60 s entry up to sqrt(60 x 300) = 134 s, the 300 s entry up to
#: sqrt(300 x 1800) = 735 s, the 1800 s entry beyond. The recurrent entries were fitted for the
#: LSTM (bfloat16); the transformer's start from nanoGPT's CPU "baby GPT".
BUDGET_SIZES: dict[str, tuple[tuple[float, dict], ...]] = {
    "recurrent": (
        (60.0, {"hidden_size": 256, "dropout": 0.0, "lr": 8e-3, "ema": 0.999}),
        (300.0, {"hidden_size": 512, "dropout": 0.25, "lr": 5e-3, "ema": 0.999}),
        (
            1800.0,
            {
                "hidden_size": 512,
                "dropout": 0.4,
                "locked_dropout": True,
                "input_dropout": 0.1,
                "lr": 5e-3,
                "ema": 0.999,
            },
        ),
    ),
    "transformer": tuple(
        (budget, {"hidden_size": 128, "num_layers": 4, "heads": 4, "context": 64} | entry)
        for budget, entry in (
            (60.0, {"dropout": 0.0, "lr": 5e-3, "batch_size": 12}),
            (300.0, {"dropout": 0.0, "lr": 2e-3, "batch_size": 12}),
            (1800.0, {"dropout": 0.1, "lr": 2e-3, "batch_size": 12, "ema": 0.999}),
        )
    ),
}


@task_settings()
class GenerateSettings(Settings):
    """How ``rnnlab generate`` samples from a language model."""

    length: int = setting(500, "symbols to generate", NON_NEGATIVE_INT, group="sampling")
    temperature: float = setting(1.0, "> 0; lower is safer", POSITIVE, group="sampling")
    top_k: int | None = setting(
        None, "sample among the k likeliest", POSITIVE_INT, group="sampling", shown=""
    )
    top_p: float | None = setting(
        None,
        "sample from the smallest set with mass >= p",
        UNIT_INTERVAL,
        group="sampling",
        shown="",
    )
    greedy: bool = setting(False, "always take the likeliest", SWITCH, group="sampling")
    seed: int | None = setting(
        None, "for a repeatable sample", SEED, group="sampling", shown="a fresh draw"
    )
    streams: int = setting(
        1,
        f"generate this many samples, stepped together in batches of {OUTPUT_BATCH} (1: "
        "streamed as it goes)",
        POSITIVE_INT,
        group="sampling",
    )
    precision: str = setting(
        "auto",
        "of the matrix products; auto: bfloat16 where the hardware has it natively",
        one_of(PRECISIONS),
        group="sampling",
    )
    fused: str = setting(
        "auto",
        "compile each step into one program (seconds to compile, then faster steps); auto: "
        f"from {FUSED_FROM:,} symbols",
        one_of(FUSED_CHOICES),
        group="sampling",
    )

    @property
    def fused_steps(self) -> bool | None:
        """``fused`` as :meth:`NextSymbolModel.generate` takes it (None: decide by length)."""
        return FUSED_CHOICES[self.fused]


def sized_for_budget(budget: float | None, arch: str = "recurrent") -> dict:
    """The entry of :data:`BUDGET_SIZES` measured nearest ``budget`` seconds (on a log scale)
    for ``arch``. Without a budget: nothing for the recurrent model (its defaults are the
    fields'), the longest budget's settings for the transformer. Without a GPU the transformer
    computes in float32: at these sizes bfloat16 autocast trained it 9 to 21% slower on the
    bench CPU (the recurrent kernel gains from it)."""
    sizes = BUDGET_SIZES[arch]
    if budget is None:
        entry = {} if arch == "recurrent" else dict(sizes[-1][1])
    else:
        entry = dict(min(sizes, key=lambda size: abs(math.log(budget / size[0])))[1])
    if arch == "transformer" and not torch.cuda.is_available():
        entry["precision"] = "float32"
    return entry


def recommended_settings(budget: float | None = None, **given) -> TrainSettings:
    """Settings for training for ``budget`` seconds: the defaults, with the sizes of
    :func:`sized_for_budget` for the architecture where ``given`` does not set them (without a
    budget and for the recurrent model, the plain defaults: a 2 x 384 LSTM for 10 epochs)."""
    sized = sized_for_budget(budget, given.get("arch", "recurrent"))
    return TrainSettings(**(sized | given), budget=budget)
