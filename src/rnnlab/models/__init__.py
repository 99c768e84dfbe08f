"""Task shapes built from the recurrent layers: the language model (many-to-many, next symbol)
and the sequence classifier (many-to-one)."""

from rnnlab.models.classifier import SequenceClassifier
from rnnlab.models.language import LanguageModel

__all__ = ["LanguageModel", "SequenceClassifier"]
