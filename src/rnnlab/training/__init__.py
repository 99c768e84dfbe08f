"""Training: the TBPTT loop for language models; the epoch loop shared by the classifier, the
translator and the conditional generator; their schedule, validation, metrics and checkpoints."""

from rnnlab.training.classifier import (
    ClassifierSettings,
    ClassifierTrainer,
    Split,
    recommended_classifier_settings,
)
from rnnlab.training.epochs import EpochResult, EpochSettings, EpochTrainer
from rnnlab.training.evaluation import Evaluation, evaluate, unigram_entropy
from rnnlab.training.metrics import ClassificationReport
from rnnlab.training.schedule import learning_rate
from rnnlab.training.settings import Corpus, TrainSettings, recommended_settings
from rnnlab.training.trainer import Trainer, TrainResult, resume_settings

__all__ = [
    "ClassificationReport",
    "ClassifierSettings",
    "ClassifierTrainer",
    "Corpus",
    "EpochResult",
    "EpochSettings",
    "EpochTrainer",
    "Evaluation",
    "Split",
    "TrainResult",
    "TrainSettings",
    "Trainer",
    "evaluate",
    "learning_rate",
    "recommended_classifier_settings",
    "recommended_settings",
    "resume_settings",
    "unigram_entropy",
]
