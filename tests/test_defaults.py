"""Declared once: a model constructor's default for an argument its task's settings also declare
is the settings' default, so a model built in Python and one built by the command line agree."""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest

from rnnlab.tasks.chat import Chatbot, ChatSettings
from rnnlab.tasks.classify import ClassifierSettings, SequenceClassifier
from rnnlab.tasks.conditional import ConditionalGenerator, ConditionalSettings
from rnnlab.tasks.forecast import Forecaster, ForecastSettings
from rnnlab.tasks.language import LanguageModel, TrainSettings, TransformerLM
from rnnlab.tasks.speech import SpeechRecognizer, SpeechSettings
from rnnlab.tasks.translate import Seq2Seq, Seq2SeqSettings

PAIRS = [
    (LanguageModel, TrainSettings),
    (TransformerLM, TrainSettings),
    (SequenceClassifier, ClassifierSettings),
    (Seq2Seq, Seq2SeqSettings),
    (Chatbot, ChatSettings),
    (SpeechRecognizer, SpeechSettings),
    (ConditionalGenerator, ConditionalSettings),
    (Forecaster, ForecastSettings),
]


@pytest.mark.parametrize("model, settings", PAIRS, ids=lambda x: x.__name__)
def test_constructor_defaults_are_the_settings_defaults(model, settings):
    declared = {f.name: f.default for f in fields(settings)}
    parameters = inspect.signature(model).parameters
    differ = {
        name: (p.default, declared[name])
        for name, p in parameters.items()
        if name in declared
        and p.default is not inspect.Parameter.empty
        and p.default != declared[name]
    }
    assert not differ, f"{model.__name__}: (constructor, settings) defaults differ: {differ}"
