"""Task shapes built from the recurrent layers: the language model (many-to-many, next symbol),
the sequence classifier (many-to-one), the encoder-decoder translator (many-to-many of another
length) and the conditional generator (one-to-many)."""

from rnnlab.models.classifier import SequenceClassifier
from rnnlab.models.conditional import ConditionalGenerator
from rnnlab.models.language import LanguageModel
from rnnlab.models.seq2seq import Seq2Seq

__all__ = ["ConditionalGenerator", "LanguageModel", "Seq2Seq", "SequenceClassifier"]
