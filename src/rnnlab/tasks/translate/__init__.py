"""Translation (many-to-many of another length): an encoder-decoder with attention over
sentence pairs, greedy and beam-search decoding, BLEU."""

from rnnlab.tasks.translate.model import Seq2Seq
from rnnlab.tasks.translate.training import (
    TRANSLATE,
    PairSplit,
    Seq2SeqSettings,
    Seq2SeqTrainer,
    TranslationReport,
    corpus_bleu,
    evaluate_translator,
    translation_report,
)

__all__ = [
    "TRANSLATE",
    "PairSplit",
    "Seq2Seq",
    "Seq2SeqSettings",
    "Seq2SeqTrainer",
    "TranslationReport",
    "corpus_bleu",
    "evaluate_translator",
    "translation_report",
]
