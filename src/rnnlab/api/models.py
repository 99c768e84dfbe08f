"""The checkpoints a server serves, loaded once: each model with its id, its kind, and what
``/v1/models`` says of it.

A kind names what can be asked of a model: ``language`` (recurrent or transformer language
models), ``classifier``, ``translator``, ``chatbot``, ``speech``, ``forecaster`` and
``conditional`` (generation from a label). A model is
used by one request at a time (``lock``), except for generation, which the batcher runs.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rnnlab.checkpoint import WEIGHTS, checkpoint_dir
from rnnlab.export.models import load_checkpoint
from rnnlab.generation import Step
from rnnlab.tasks.chat.model import Chatbot
from rnnlab.tasks.classify.model import SequenceClassifier
from rnnlab.tasks.conditional.model import ConditionalGenerator
from rnnlab.tasks.forecast.model import Forecaster
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.next_symbol import NextSymbolModel
from rnnlab.tasks.language.transformer import TransformerLM
from rnnlab.tasks.speech.model import SpeechRecognizer
from rnnlab.tasks.translate.model import Seq2Seq

#: the kinds, by the model class (a chatbot is a Seq2Seq too: the first match wins)
KINDS = (
    (NextSymbolModel, "language"),
    (SequenceClassifier, "classifier"),
    (Chatbot, "chatbot"),
    (Seq2Seq, "translator"),
    (SpeechRecognizer, "speech"),
    (Forecaster, "forecaster"),
    (ConditionalGenerator, "conditional"),
)


def kind_of(model) -> str | None:
    return next((kind for cls, kind in KINDS if isinstance(model, cls)), None)


@dataclass
class Served:
    """One checkpoint: its id in URLs and the model."""

    id: str
    directory: Path
    model: object
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def kind(self) -> str:
        return kind_of(self.model)

    @functools.cached_property
    def reading(self) -> Step:
        """A language model's one-symbol-at-a-time function in float32 (its probabilities are
        its forward pass's), built once: what ``next``, ``score`` and the explorer read with
        (under ``lock``: it is one function for everyone)."""
        return self.model.step_function(batch_size=1, precision="float32")

    @property
    def states(self) -> tuple[str, ...]:
        """The names of a language model's state tensors per layer: h (and c), or a
        transformer's newest key and value."""
        if isinstance(self.model, TransformerLM):
            return ("k", "v")
        return self.model.cell.state_names

    def describe(self) -> dict:
        """What ``/v1/models`` says of the model (:class:`rnnlab.api.schema.ModelInfo`)."""
        model, kind = self.model, self.kind
        settings = getattr(model, "settings", {})
        meta = getattr(model, "checkpoint_meta", None) or {}
        info = {
            "id": self.id,
            "kind": kind,
            "name": self.directory.name,
            "format": model.FORMAT,
            "parameters": sum(p.numel() for p in model.parameters()),
            "bytes": (self.directory / WEIGHTS).stat().st_size,
            "scores": {k: float(v) for k, v in meta.items() if isinstance(v, int | float)},
            "cell": settings.get("cell", "transformer" if kind == "language" else None),
            "hidden": settings.get("hidden_size"),
            "layers": settings.get("num_layers"),
        }
        info["scores"].pop("step", None)
        vocab = model.target_vocab if kind == "chatbot" else getattr(model, "vocab", None)
        if kind in ("language", "classifier", "chatbot", "translator", "conditional"):
            info["level"] = "series" if vocab is None else vocab.level
        if kind == "language":
            # the explorer's gradient flow reads plain stacked recurrent layers
            insight = getattr(model, "rnn", None) is not None
            return info | {"states": list(self.states), "insight": insight}
        if kind == "classifier":
            info["labels"] = list(model.labels)
            if model.series is not None:
                info["channels"] = list(model.series.channels)
        if kind == "chatbot":
            info["context"] = model.context
        if kind == "conditional":
            info |= {"labels": list(model.labels), "condition_size": model.condition_size}
        if kind == "forecaster":
            info |= {"targets": list(model.targets), "horizon": model.horizon}
            info |= {"window": model.window, "columns": model.targets + model.covariates}
        return info


def load(directory: str | Path, id: str, make: type[Served] = Served, **extra) -> Served:
    """The checkpoint in ``directory`` as ``make(id, directory, model, **extra)``."""
    directory = checkpoint_dir(directory)
    model = load_checkpoint(directory)
    if isinstance(model, LanguageModel) and model.rnn is not None and model.rnn.bidirectional:
        raise ValueError(f"{directory}: a bidirectional language model cannot be stepped")
    return make(id, directory, model, **extra)


def load_all(directories: list[str], make: type[Served] = Served, **extra) -> dict[str, Served]:
    """The checkpoints by id: each directory's name, made unique with -2, -3, ..."""
    served: dict[str, Served] = {}
    for directory in directories:
        name = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(directory).name)
        name = name.strip(".") or "model"
        unique, n = name, 1
        while unique in served:
            n += 1
            unique = f"{name}-{n}"
        served[unique] = load(directory, unique, make, **extra)
    return served
