"""The checkpoints a server explores, loaded once, and what it computes from them.

A served checkpoint (:mod:`rnnlab.api.models`) that the page explores is a language model
(char, byte or word level; read, generated from, played against, its gradient flow measured),
a sequence classifier (its prediction after every prefix of a text) or a chatbot (talked to);
the API serves the other kinds too. A language model's held-out text is the last
``val_fraction`` of the text it was trained on (recorded in its config), else the text given to
``rnnlab serve --text``.

``rnnlab serve`` with no checkpoint serves the default model: a character-level LSTM trained
for ``DEFAULT_BUDGET`` seconds on the built-in corpus the first time, then kept in the cache
directory (``$XDG_CACHE_HOME/rnnlab``, else ``~/.cache/rnnlab``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnlab import __version__
from rnnlab.api import models as api_models
from rnnlab.checkpoint import CONFIG, WEIGHTS
from rnnlab.data.labelled import tokens
from rnnlab.data.series import parse_steps
from rnnlab.data.text import read_source
from rnnlab.data.vocab import Vocabulary
from rnnlab.insight.gradients import gradient_flow, text_windows
from rnnlab.insight.networks import NetworkSpec
from rnnlab.insight.trace import stacked_layers
from rnnlab.tasks.classify.model import SequenceClassifier
from rnnlab.tasks.language.corpus import Corpus, heldout_text
from rnnlab.tasks.language.settings import recommended_settings
from rnnlab.tasks.language.training import Trainer

DEFAULT_BUDGET = 40.0  # seconds of training for the default model
MAX_PREFIXES = 500  # symbols a classifier explains prefix by prefix
GRADIENT_WINDOWS, GRADIENT_WARMUP, GRADIENT_DISTANCE = 16, 20, 100
TOY_HIDDEN, TOY_SYMBOLS, TOY_WINDOWS, TOY_DISTANCE = 32, 16, 16, 100
TOY_NONLINEARITIES = {"tanh": "rnn", "relu": "rnn-relu"}


@dataclass
class Served(api_models.Served):
    """One checkpoint, and what the explorer computes from it once: a language model's
    step function, held-out text and gradient flow."""

    text: str | None = None  # the --text given to the server, if any
    _heldout: list[str] | None = None
    _gradients: dict | None = None

    def __post_init__(self) -> None:
        if self.kind == "language":

            def step(ids: torch.Tensor, state):
                with self.lock:
                    return self.reading(ids, state)

            #: the model one symbol at a time (float32), shared by every reader and round
            self.step = step

    def heldout(self) -> list[str]:
        """The held-out text's symbols (read once); ValueError if there is none."""
        if self._heldout is None:
            try:
                text = heldout_text(self.model, self.text)
            except ValueError as error:
                raise ValueError(f"model {self.id}: {error}") from None
            self._heldout = self.model.vocab.tokens(text)
        return self._heldout

    def gradients(self) -> dict:
        """||dL_T/dh_(T-k)|| per layer for k = 0..GRADIENT_DISTANCE on windows of the held-out
        text (rnnlab.insight.gradients), computed on first use."""
        if self._gradients is None:
            stacked_layers(self.model)  # residual blocks: a one-line ValueError
            known = self.model.vocab.lookup(self.heldout())
            ids = torch.tensor([i for i, unknown in known if not unknown], dtype=torch.int64)
            length = GRADIENT_WARMUP + GRADIENT_DISTANCE + 2
            windows = text_windows(ids, GRADIENT_WINDOWS, length)
            flow = gradient_flow(self.model, windows, GRADIENT_WARMUP, name=self.id)
            self._gradients = {"norms": flow.norms, "decay": flow.decay, "windows": len(windows)}
        return self._gradients


def load_all(directories: list[str], text: str | None = None) -> dict[str, Served]:
    """The checkpoints by id (:func:`rnnlab.api.models.load_all`), ``text`` their held-out
    text when given."""
    return api_models.load_all(directories, Served, text=text)


@torch.no_grad()
def prefix_predictions(model: SequenceClassifier, text: str) -> dict:
    """The classifier's class probabilities after every prefix of ``text`` (all its symbols,
    at most MAX_PREFIXES), each prefix read as a whole text. For a classifier of series the
    text holds one step per line (:func:`~rnnlab.data.series.parse_steps`); the symbols are
    the steps' numbers."""
    if model.series is not None:
        encoded = model.encode(parse_steps(text, len(model.series.channels)), "the series")
        symbols, what, unit = [str(t + 1) for t in range(len(encoded))], "series", "steps"
        unknown = [False] * len(encoded)
    else:
        encoded, symbols = model.encode(text), tokens(text, model.vocab.level)
        what, unit = "text", "symbols"
        unknown = [unknown for _, unknown in model.vocab.lookup(symbols)]
    if len(encoded) > MAX_PREFIXES:
        raise ValueError(
            f"the {what} has {len(encoded):,} {unit}; a classifier is explained over at most "
            f"{MAX_PREFIXES:,}"
        )
    probs = model.proba_of_ids([encoded[: t + 1] for t in range(len(encoded))])
    return {
        "symbols": symbols,
        "unknown": unknown,
        "labels": list(model.labels),
        "probabilities": probs.tolist(),
    }


def toy_flow(scale: float, nonlinearity: str, seed: int = 0) -> list[float]:
    """The lesson's vanishing gradient on a real small RNN: ||dL_T/dh_(T-k)|| / ||dL_T/dh_T||
    for k = 0..TOY_DISTANCE, for a fresh vanilla RNN of TOY_HIDDEN units with an orthogonal
    W_hh scaled by ``scale`` (its spectral radius), reading random symbols."""
    if nonlinearity not in TOY_NONLINEARITIES:
        raise ValueError(f"nonlinearity must be tanh or relu, got {nonlinearity!r}")
    if not 0.05 <= scale <= 3.0:
        raise ValueError(f"scale must be in [0.05, 3], got {scale}")
    spec = NetworkSpec(TOY_NONLINEARITIES[nonlinearity], "orthogonal", scale)
    vocab = Vocabulary("char", tuple(chr(ord("a") + i) for i in range(TOY_SYMBOLS)))
    torch.manual_seed(seed)
    model = spec.language_model(vocab, TOY_HIDDEN)
    generator = torch.Generator().manual_seed(seed)
    windows = torch.randint(0, TOY_SYMBOLS, (TOY_WINDOWS, TOY_DISTANCE + 2), generator=generator)
    norms = gradient_flow(model, windows, warmup=0).norms[0]
    return [n / norms[0] if norms[0] > 0 else 0.0 for n in norms]


def default_checkpoint(
    budget: float = DEFAULT_BUDGET,
    cache: str | Path | None = None,
    echo: Callable[[str], object] = print,
) -> Path:
    """The default model's checkpoint directory, trained on first use (see the module
    docstring). Training writes to a temporary directory renamed into place when done, so a
    run killed half way leaves nothing that a later run would trust."""
    root = Path(cache) if cache else default_cache()
    target = root / f"default-model-{__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    if (target / CONFIG).is_file() and (target / WEIGHTS).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    text, source = read_source(None)
    settings = recommended_settings(budget, evals=2)
    corpus = Corpus.from_text(text, settings)
    echo(
        f"training the default model (a {settings.num_layers} x {settings.hidden_size} "
        f"{settings.cell.upper()} on the Python standard library's sources) for {budget:g} s; "
        f"it is kept in {target} for next time"
    )
    Trainer(corpus, settings, partial, echo=lambda _: None, progress=False, source=source).fit()
    try:
        os.rename(partial, target)
    except OSError:  # another server trained it at the same time: use theirs
        shutil.rmtree(partial, ignore_errors=True)
        if not (target / WEIGHTS).is_file():
            raise
    return target


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rnnlab"
