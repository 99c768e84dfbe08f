"""Task shapes built from the recurrent layers: the language model (many-to-many, next symbol),
the sequence classifier (many-to-one), the encoder-decoder translator (many-to-many of another
length), the conditional generator (one-to-many) and the time-series forecaster (a window of
numbers in, the next H out with intervals)."""

from rnnlab.models.classifier import SequenceClassifier
from rnnlab.models.conditional import ConditionalGenerator
from rnnlab.models.forecaster import Forecaster
from rnnlab.models.language import LanguageModel
from rnnlab.models.seq2seq import Seq2Seq

__all__ = ["ConditionalGenerator", "Forecaster", "LanguageModel", "Seq2Seq", "SequenceClassifier"]
