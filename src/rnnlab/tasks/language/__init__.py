"""The language model: next-symbol prediction over a text read as TBPTT streams, generation."""

from rnnlab.tasks.language.evaluation import Evaluation, evaluate, unigram_entropy
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.settings import Corpus, TrainSettings, recommended_settings
from rnnlab.tasks.language.training import Trainer, TrainResult, resume_settings

__all__ = [
    "Corpus",
    "Evaluation",
    "LanguageModel",
    "TrainResult",
    "TrainSettings",
    "Trainer",
    "evaluate",
    "recommended_settings",
    "resume_settings",
    "unigram_entropy",
]
