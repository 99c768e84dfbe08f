"""Sequence classification (many-to-one): labelled texts in, one label per text out."""

from rnnlab.tasks.classify.model import SequenceClassifier
from rnnlab.tasks.classify.report import ClassificationReport
from rnnlab.tasks.classify.training import (
    ClassifierSettings,
    ClassifierTrainer,
    Split,
    recommended_classifier_settings,
)

__all__ = [
    "ClassificationReport",
    "ClassifierSettings",
    "ClassifierTrainer",
    "SequenceClassifier",
    "Split",
    "recommended_classifier_settings",
]
