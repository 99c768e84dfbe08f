"""Any checkpoint directory, whatever task wrote it: the model classes by the ``format`` their
``config.json`` records, and loading one (validated as :mod:`rnnlab.pretrained` loads)."""

from __future__ import annotations

from pathlib import Path

from rnnlab.checkpoint import CONFIG, checkpoint_dir, read_json
from rnnlab.pretrained import Pretrained
from rnnlab.tasks.chat.model import Chatbot
from rnnlab.tasks.classify.model import SequenceClassifier
from rnnlab.tasks.conditional.model import ConditionalGenerator
from rnnlab.tasks.forecast.model import Forecaster
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.transformer import TransformerLM
from rnnlab.tasks.speech.model import SpeechRecognizer
from rnnlab.tasks.translate.model import Seq2Seq

#: every model class rnnlab trains, by the format its checkpoints record
MODELS: dict[str, type[Pretrained]] = {
    cls.FORMAT: cls
    for cls in (
        LanguageModel,
        TransformerLM,
        SequenceClassifier,
        Seq2Seq,
        Chatbot,
        SpeechRecognizer,
        ConditionalGenerator,
        Forecaster,
    )
}


def load_checkpoint(directory: str | Path) -> Pretrained:
    """The model in checkpoint ``directory``, of whichever kind it is."""
    path = checkpoint_dir(directory)
    config = read_json(path / CONFIG)
    kind = config.get("format")
    if kind not in MODELS:
        raise ValueError(f"{path}: unknown model format {kind!r}; not written by this rnnlab")
    return MODELS[kind].from_pretrained(path)
