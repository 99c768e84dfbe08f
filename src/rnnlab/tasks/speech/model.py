"""The speech recogniser: frames of sound in, characters out, trained by CTC.

    F_1..F_N   = LogMel(samples)                   (:mod:`~rnnlab.tasks.speech.features`)
    x_t        = [F_{kt+1}; ...; F_{kt+k}]         (k = ``subsample`` adjacent frames stacked;
                                                    the last group padded with zeros)
    o_1..o_T   = BiRNN(x_1..x_T)                   (any rnnlab cell, stacked, bidirectional)
    p_t(c | x) = softmax(W dropout(o_t) + b)       over the alphabet and the blank (id 0)

A batch is padded to its longest utterance and the lengths go to the recurrent layers, so an
utterance gets the same posteriors alone and in any padded batch. Symbol i of ``alphabet`` has
id i + 1. Transcripts are normalised (:func:`normalise`) before they are encoded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.modes import evaluating
from rnnlab.pretrained import Pretrained
from rnnlab.recurrent import Recurrent
from rnnlab.tasks.speech.audio import RATES
from rnnlab.tasks.speech.ctc import BLANK, LanguageScores, greedy, prefix_beam_search
from rnnlab.tasks.speech.features import LogMel

FORMAT = "rnnlab.speech_recognizer"


def normalise(transcript: str) -> str:
    """What a transcript means to the recogniser: lower case, single spaces, no edges."""
    return " ".join(transcript.lower().split())


def alphabet_ids(alphabet: str) -> dict[str, int]:
    """Symbol i of ``alphabet`` -> id i + 1 (id 0 is the blank)."""
    return {c: i + 1 for i, c in enumerate(alphabet)}


def steps_of(frames, subsample: int):
    """The recurrent steps that ``frames`` feature frames (an int or a tensor of them) make
    when ``subsample`` frames are stacked into one: ceil(frames / subsample), written with a
    floor division of non-negative numbers, which an ONNX export (whose integer division
    truncates) computes the same."""
    return (frames + subsample - 1) // subsample


class SpeechRecognizer(Pretrained, nn.Module):
    """A CTC recogniser over ``alphabet`` (see the module docstring).

    Args:
        alphabet: the characters it writes (a string of distinct characters).
        cell, hidden_size, num_layers, bidirectional, dropout, init, forget_bias: of the
            recurrent layers (see :class:`rnnlab.Recurrent`); ``dropout`` also before the output.
        n_mels: mel bands per frame; subsample: adjacent frames stacked into one step;
        sample_rate: the rate recordings are resampled to.
    """

    FORMAT = FORMAT
    KIND = "speech recognizer"
    DATA = ("alphabet",)

    def __init__(
        self,
        alphabet: str,
        cell: str = "lstm",
        hidden_size: int = 256,
        num_layers: int = 3,
        bidirectional: bool = True,
        dropout: float = 0.1,
        init: str = "default",
        forget_bias: float | None = None,
        n_mels: int = 64,
        subsample: int = 2,
        sample_rate: int = 16_000,
    ) -> None:
        super().__init__()
        if not alphabet or len(set(alphabet)) != len(alphabet):
            raise ValueError("the alphabet must be distinct characters, at least one")
        if not isinstance(sample_rate, int) or not RATES[0] <= sample_rate <= RATES[1]:
            raise ValueError(f"sample_rate must be an integer in {RATES[0]}..{RATES[1]} Hz")
        self.alphabet = alphabet
        self.index = alphabet_ids(alphabet)
        self.subsample, self.n_mels, self.sample_rate = subsample, n_mels, sample_rate
        self.features = LogMel(sample_rate, n_mels)
        self.rnn = Recurrent(
            cell,
            n_mels * subsample,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            init=init,
            forget_bias=forget_bias,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * self.rnn.num_directions, len(alphabet) + 1)
        self.settings = self.constructor_arguments(locals())

    # -- text ---------------------------------------------------------------------------------

    def encode(self, transcript: str, what: str = "the transcript") -> list[int]:
        """The ids of normalised ``transcript``; a character outside the alphabet is an error."""
        text = normalise(transcript)
        unknown = sorted({c for c in text if c not in self.index})
        if unknown:
            shown = "".join(unknown[:10])
            raise ValueError(
                f"{what} has character(s) the recogniser does not write: {shown!r} "
                f"(its alphabet: {self.alphabet!r})"
            )
        return [self.index[c] for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.alphabet[i - 1] for i in ids if i != BLANK)

    # -- the network --------------------------------------------------------------------------

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``features`` (B, N, n_mels) padded, ``lengths`` (B,) frames -> float32 log-posteriors
        (B, T, alphabet + 1) and steps (B,)."""
        batch, frames, bands = features.shape
        k = self.subsample
        extra = -frames % k
        if extra:
            features = F.pad(features, (0, 0, 0, extra))
        x = features.reshape(batch, (frames + extra) // k, k * bands)
        steps = steps_of(lengths.cpu(), k)
        output, _ = self.rnn(x, lengths=steps)
        return self.head(self.drop(output)).float().log_softmax(-1), steps

    def featurise(self, recordings: Sequence[np.ndarray]) -> list[Tensor]:
        """The normalised log-mel frames of each recording (samples at ``sample_rate``)."""
        device = self.head.weight.device
        return [self.features(torch.as_tensor(r).to(device)) for r in recordings]

    @torch.no_grad()
    def posteriors(self, features: Sequence[Tensor], batch_size: int = 32) -> list[np.ndarray]:
        """The log-posteriors (T, alphabet + 1) of each utterance's features, in eval mode,
        read in batches of similar length."""
        with evaluating(self, no_grad=False):
            out: list[np.ndarray | None] = [None] * len(features)
            order = sorted(range(len(features)), key=lambda i: len(features[i]))
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                padded, lengths = pad_frames([features[i] for i in chunk])
                device = self.head.weight.device
                log_probs, steps = self(padded.to(device), lengths)
                for row, i in enumerate(chunk):
                    out[i] = log_probs[row, : steps[row]].cpu().numpy()
            return out

    def transcribe(
        self,
        recordings: Sequence[np.ndarray],
        beam: int = 1,
        lm: LanguageScores | None = None,
        lm_weight: float = 0.0,
    ) -> list[str]:
        """The text of each recording (samples at ``sample_rate``): greedy with ``beam`` 1,
        else prefix beam search, with shallow fusion of ``lm`` when given."""
        return [
            self.decode(read_out(p, beam, lm, lm_weight))
            for p in self.posteriors(self.featurise(recordings))
        ]

    # -- checkpoints --------------------------------------------------------------------------

    def config(self) -> dict:
        return {"format": FORMAT, "alphabet": self.alphabet, "model": dict(self.settings)}

    @classmethod
    def _from_config(cls, config: dict) -> SpeechRecognizer:
        alphabet = config["alphabet"]
        if not isinstance(alphabet, str):
            raise ValueError("alphabet is not a string")
        return cls(alphabet, **config["model"])


def read_out(
    log_probs: np.ndarray, beam: int = 1, lm: LanguageScores | None = None, lm_weight: float = 0.0
) -> list[int]:
    """The ids one utterance's log-posteriors decode to: greedy for ``beam`` 1 without a
    language model, prefix beam search otherwise."""
    if beam == 1 and lm is None:
        return greedy(log_probs)
    return prefix_beam_search(log_probs, beam, lm, lm_weight)


def pad_frames(features: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Features (B, N, bands) zero-padded to the longest, and their frame counts (B,)."""
    lengths = torch.tensor([len(f) for f in features], dtype=torch.int64)
    return nn.utils.rnn.pad_sequence(list(features), batch_first=True), lengths
