"""The language model: next-symbol prediction over a text read as TBPTT streams (recurrent) or
windows (the transformer), generation."""

from rnnlab.tasks.language.corpus import Corpus
from rnnlab.tasks.language.evaluation import Evaluation, evaluate, unigram_entropy
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.next_symbol import NextSymbolModel
from rnnlab.tasks.language.settings import TrainSettings, load_model, recommended_settings
from rnnlab.tasks.language.training import (
    LANGUAGE,
    Trainer,
    TrainResult,
    language_trainer,
    read_corpus,
)
from rnnlab.tasks.language.transformer import TransformerLM

__all__ = [
    "LANGUAGE",
    "Corpus",
    "Evaluation",
    "LanguageModel",
    "NextSymbolModel",
    "TrainResult",
    "TrainSettings",
    "Trainer",
    "TransformerLM",
    "evaluate",
    "language_trainer",
    "load_model",
    "read_corpus",
    "recommended_settings",
    "unigram_entropy",
]
