"""Training: the TBPTT loop, its learning-rate schedule, validation and resumable checkpoints."""

from rnnlab.training.evaluation import Evaluation, evaluate, unigram_entropy
from rnnlab.training.schedule import learning_rate
from rnnlab.training.settings import Corpus, TrainSettings, recommended_settings
from rnnlab.training.trainer import Trainer, TrainResult, resume_settings

__all__ = [
    "Corpus",
    "Evaluation",
    "TrainResult",
    "TrainSettings",
    "Trainer",
    "evaluate",
    "learning_rate",
    "recommended_settings",
    "resume_settings",
    "unigram_entropy",
]
