"""Translation (many-to-many of another length): an encoder-decoder with attention over
sentence pairs, greedy and beam-search decoding, BLEU."""

from rnnlab.tasks.translate.model import Seq2Seq
from rnnlab.tasks.translate.training import (
    PairSplit,
    Seq2SeqSettings,
    Seq2SeqTrainer,
    TranslationReport,
    corpus_bleu,
    translation_report,
)

__all__ = [
    "PairSplit",
    "Seq2Seq",
    "Seq2SeqSettings",
    "Seq2SeqTrainer",
    "TranslationReport",
    "corpus_bleu",
    "translation_report",
]
