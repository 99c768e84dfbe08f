"""rnnlab: recurrent neural networks, readable and fast.

The recurrent core: cells (one time step, equations in their docstrings), layers of cells
unrolled over time with torch's argument and weight names, and initialisation schemes; minGRU
and minLSTM, whose linear recurrence :mod:`rnnlab.scan` computes over a whole sequence at once.
On top of it, the character (byte, word) language model: ``LanguageModel`` with
``from_pretrained``, ``save_pretrained`` and ``generate`` (and ``TransformerLM``, the causal
transformer it is measured against, with the same methods); the sequence classifier
``SequenceClassifier`` with ``predict``; the encoder-decoder ``Seq2Seq`` with ``translate``
(and the chatbot and the speech recogniser in :mod:`rnnlab.tasks`); the conditional generator
``ConditionalGenerator`` with ``generate``; and the time-series ``Forecaster`` with
``predict``. Each task's settings, data and training slice live in :mod:`rnnlab.tasks` (one
folder per task), on the one training loop of :mod:`rnnlab.training`.
"""

from importlib import import_module

#: the public names, by the module that defines them; imported when first used (PEP 562), so
#: that ``rnnlab.portable`` runs without PyTorch installed
_PUBLIC = {
    "CELLS": "rnnlab.cells",
    "Cell": "rnnlab.cells",
    "GRUCell": "rnnlab.cells",
    "LSTMCell": "rnnlab.cells",
    "MinGRUCell": "rnnlab.cells",
    "MinLSTMCell": "rnnlab.cells",
    "RNNCell": "rnnlab.cells",
    "make_cell": "rnnlab.cells",
    "INIT_SCHEMES": "rnnlab.init",
    "GRU": "rnnlab.recurrent",
    "LSTM": "rnnlab.recurrent",
    "RNN": "rnnlab.recurrent",
    "Recurrent": "rnnlab.recurrent",
    "SequenceClassifier": "rnnlab.tasks.classify",
    "ConditionalGenerator": "rnnlab.tasks.conditional",
    "Forecaster": "rnnlab.tasks.forecast",
    "LanguageModel": "rnnlab.tasks.language",
    "TransformerLM": "rnnlab.tasks.language",
    "Seq2Seq": "rnnlab.tasks.translate",
}
_RENAMED = {"INIT_SCHEMES": "SCHEMES"}


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "CELLS",
    "GRU",
    "INIT_SCHEMES",
    "LSTM",
    "RNN",
    "Cell",
    "ConditionalGenerator",
    "Forecaster",
    "GRUCell",
    "LSTMCell",
    "LanguageModel",
    "MinGRUCell",
    "MinLSTMCell",
    "RNNCell",
    "Recurrent",
    "Seq2Seq",
    "SequenceClassifier",
    "TransformerLM",
    "__version__",
    "make_cell",
]
