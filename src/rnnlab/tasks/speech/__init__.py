"""Speech recognition: audio in, text out, by a bidirectional recurrent network trained with CTC.

Speech comes from the eSpeak NG synthesiser (:mod:`.synthesis`, :mod:`.corpus`) or from the
user's recordings (:mod:`.audio`); the model hears log-mel frames (:mod:`.features`), writes
characters (:mod:`.model`), is decoded greedily or by prefix beam search with an optional
character language model (:mod:`.ctc`, :mod:`.fusion`) and trained on the shared loop
(:mod:`.training`).
"""

from rnnlab.tasks.speech.audio import read_audio, write_wav
from rnnlab.tasks.speech.corpus import (
    COMMANDS,
    MANIFEST,
    Augmentation,
    Utterances,
    make_dataset,
    read_manifest,
)
from rnnlab.tasks.speech.ctc import error_rates, greedy, prefix_beam_search
from rnnlab.tasks.speech.features import LogMel, mel_filterbank
from rnnlab.tasks.speech.model import SpeechRecognizer, normalise
from rnnlab.tasks.speech.training import (
    SPEECH,
    SpeechDecoding,
    SpeechReport,
    SpeechSettings,
    SpeechSplit,
    SpeechTrainer,
    evaluate_recognizer,
    hear,
    score,
)

__all__ = [
    "COMMANDS",
    "MANIFEST",
    "SPEECH",
    "Augmentation",
    "LogMel",
    "SpeechDecoding",
    "SpeechRecognizer",
    "SpeechReport",
    "SpeechSettings",
    "SpeechSplit",
    "SpeechTrainer",
    "Utterances",
    "error_rates",
    "evaluate_recognizer",
    "greedy",
    "hear",
    "make_dataset",
    "mel_filterbank",
    "normalise",
    "prefix_beam_search",
    "read_audio",
    "read_manifest",
    "score",
    "write_wav",
]
