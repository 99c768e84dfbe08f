"""Exported rnnlab models without PyTorch: numpy and onnxruntime only.

``rnnlab export DIR --format onnx --out model.onnx`` writes a model's graphs and ``model.json``
(see :mod:`rnnlab.export.onnx_files`); this module loads them and does what the matching
``rnnlab`` commands do, on any machine with ``pip install numpy onnxruntime``:

- a language model generates (temperature, top-k, top-p, greedy, a seed), looping its step
  graph (a transformer's after its key/value cache, over the sliding window of
  ``TransformerLM.step_function``);
- a classifier labels texts, or series from an ``.npz`` file;
- a translator (or a chatbot's encoder-decoder) translates, greedily or by beam search;
- a forecaster forecasts the steps after a history;
- a conditional generator writes texts for a label;
- a speech recogniser transcribes PCM WAV files at its sample rate (greedy CTC decoding; the
  log-mel front end, which is outside the graph, computed here in numpy).

    python -m rnnlab.portable generate model.onnx --prime "ROMEO:" --length 200 --greedy
    python -m rnnlab.portable classify model.onnx "a fine film" "a dull one"
    python -m rnnlab.portable translate model.onnx "je suis content" --beam 4
    python -m rnnlab.portable forecast model.onnx --history history.csv
    python -m rnnlab.portable transcribe model.onnx hello.wav

Sampling follows :mod:`rnnlab.generation` (the same filtering, the same inverse-CDF draw), with
numpy's random generator: the same seed gives the same text here every time, though not the
text PyTorch's generator gives. Greedy output equals rnnlab's float32 output.

Nothing here may import torch, nor any rnnlab module that does; beam search and the mel
filters are shared with rnnlab through :mod:`rnnlab.beam` and :mod:`rnnlab.mel`, which are
numpy only, and ``import rnnlab`` loads its public names lazily for that reason. One module
per kind of model (:mod:`.language`, :mod:`.classify`, :mod:`.translate`, :mod:`.forecast`,
:mod:`.speech`), :mod:`.text` for vocabularies and sampling, :mod:`.exported` for the files,
:mod:`.__main__` for the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

from rnnlab.portable.classify import Classifier
from rnnlab.portable.exported import Exported
from rnnlab.portable.forecast import Forecaster
from rnnlab.portable.language import LabelGenerator, LanguageModel
from rnnlab.portable.speech import Recognizer, read_wav
from rnnlab.portable.text import Vocabulary, choose
from rnnlab.portable.translate import Translator

__all__ = [
    "KINDS",
    "Classifier",
    "Exported",
    "Forecaster",
    "LabelGenerator",
    "LanguageModel",
    "Recognizer",
    "Translator",
    "Vocabulary",
    "choose",
    "load",
    "read_wav",
]

KINDS = {
    "rnnlab.language_model": LanguageModel,
    "rnnlab.transformer_lm": LanguageModel,
    "rnnlab.sequence_classifier": Classifier,
    "rnnlab.seq2seq": Translator,
    "rnnlab.chat": Translator,
    "rnnlab.forecaster": Forecaster,
    "rnnlab.speech_recognizer": Recognizer,
    "rnnlab.conditional_generator": LabelGenerator,
}


def load(path: str | Path, threads: int | None = None) -> Exported:
    """The exported model at ``path`` (an ``.onnx`` file with its ``.json`` beside it)."""
    sidecar = Path(path).with_suffix(".json")
    if not Path(path).is_file() or not sidecar.is_file():
        raise ValueError(f"{path}: needs the .onnx file and {sidecar.name} beside it")
    try:
        kind = json.loads(sidecar.read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError) as error:
        raise ValueError(f"{sidecar}: cannot read the export's description ({error})") from None
    if kind not in KINDS:
        raise ValueError(f"{path}: this runtime does not run a {kind!r} export")
    return KINDS[kind](path, threads)
