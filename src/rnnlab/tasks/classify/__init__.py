"""Sequence classification (many-to-one): labelled texts in, one label per text out."""

from rnnlab.tasks.classify.model import SequenceClassifier
from rnnlab.tasks.classify.report import ClassificationReport
from rnnlab.tasks.classify.training import (
    CLASSIFY,
    ClassifierSettings,
    ClassifierTrainer,
    Split,
    evaluate_classifier,
    recommended_classifier_settings,
    write_classification,
)

__all__ = [
    "CLASSIFY",
    "ClassificationReport",
    "ClassifierSettings",
    "ClassifierTrainer",
    "SequenceClassifier",
    "Split",
    "evaluate_classifier",
    "recommended_classifier_settings",
    "write_classification",
]
