"""The language model: next-symbol prediction over a text read as TBPTT streams, generation."""

from rnnlab.tasks.language.corpus import Corpus
from rnnlab.tasks.language.evaluation import Evaluation, evaluate, unigram_entropy
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.settings import TrainSettings, recommended_settings
from rnnlab.tasks.language.training import (
    Run,
    Trainer,
    TrainResult,
    read_corpus,
    resume_settings,
    start_run,
)

__all__ = [
    "Corpus",
    "Evaluation",
    "LanguageModel",
    "Run",
    "TrainResult",
    "TrainSettings",
    "Trainer",
    "evaluate",
    "read_corpus",
    "recommended_settings",
    "resume_settings",
    "start_run",
    "unigram_entropy",
]
