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

from rnnlab.cells import (
    CELLS,
    Cell,
    GRUCell,
    LSTMCell,
    MinGRUCell,
    MinLSTMCell,
    RNNCell,
    make_cell,
)
from rnnlab.init import SCHEMES as INIT_SCHEMES
from rnnlab.recurrent import GRU, LSTM, RNN, Recurrent
from rnnlab.tasks.classify import SequenceClassifier
from rnnlab.tasks.conditional import ConditionalGenerator
from rnnlab.tasks.forecast import Forecaster
from rnnlab.tasks.language import LanguageModel, TransformerLM
from rnnlab.tasks.translate import Seq2Seq

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
