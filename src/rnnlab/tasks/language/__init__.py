"""The language model: next-symbol prediction over a text read as TBPTT streams (recurrent) or
windows (the transformer), generation."""

from rnnlab.tasks.language.corpus import Corpus
from rnnlab.tasks.language.evaluation import Evaluation, evaluate, unigram_entropy
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.next_symbol import NextSymbolModel
from rnnlab.tasks.language.settings import TrainSettings, load_model, recommended_settings
from rnnlab.tasks.language.training import (
    Run,
    Trainer,
    TrainResult,
    read_corpus,
    resume_settings,
    start_run,
)
from rnnlab.tasks.language.transformer import TransformerLM

__all__ = [
    "Corpus",
    "Evaluation",
    "LanguageModel",
    "NextSymbolModel",
    "Run",
    "TrainResult",
    "TrainSettings",
    "Trainer",
    "TransformerLM",
    "evaluate",
    "load_model",
    "read_corpus",
    "recommended_settings",
    "resume_settings",
    "start_run",
    "unigram_entropy",
]
