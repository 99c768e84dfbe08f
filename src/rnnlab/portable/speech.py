"""Speech recognition without PyTorch: PCM WAV read with the standard library, the log-mel
front end of :mod:`rnnlab.tasks.speech.features` (which the exported graph leaves out) in numpy,
the network, and greedy CTC decoding."""

from __future__ import annotations

import math
import wave
from collections.abc import Sequence

import numpy as np

from rnnlab.mel import filterbank
from rnnlab.portable.exported import Exported
from rnnlab.portable.text import padded


class Recognizer(Exported):
    """A speech recogniser: the log-mel front end of ``rnnlab.tasks.speech.features`` in
    numpy, the exported network, and greedy CTC decoding (the best path, repeats collapsed,
    blanks dropped)."""

    FLOOR, HOP = 1e-6, 0.010  # features.FLOOR, features.HOP

    def __init__(self, path, threads=None) -> None:
        super().__init__(path, threads)
        self.alphabet = self.config["alphabet"]
        self.rate, self.n_mels = self.model["sample_rate"], self.model["n_mels"]
        self.window_length = round(0.025 * self.rate)
        self.hop = round(self.HOP * self.rate)
        self.n_fft = 2 ** math.ceil(math.log2(self.window_length))
        n = np.arange(self.window_length)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / self.window_length)  # Hann, periodic
        left = (self.n_fft - self.window_length) // 2  # centred in the FFT, as torch.stft does
        self.window = np.zeros(self.n_fft)
        self.window[left : left + self.window_length] = window
        self.filters = filterbank(self.n_mels, self.n_fft, self.rate)

    def features(self, samples: np.ndarray) -> np.ndarray:
        """(frames, n_mels) normalised log-mel features of mono ``samples`` at the model's rate."""
        padded = np.pad(np.asarray(samples, np.float64), self.n_fft // 2)
        count = 1 + (len(padded) - self.n_fft) // self.hop
        starts = np.arange(count)[:, None] * self.hop + np.arange(self.n_fft)
        power = np.abs(np.fft.rfft(padded[starts] * self.window, axis=1)) ** 2
        logmel = np.log(power @ self.filters.T + self.FLOOR)
        return ((logmel - logmel.mean(0)) / (logmel.std(0) + 1e-5)).astype(np.float32)

    def transcribe(self, recordings: Sequence[np.ndarray]) -> list[str]:
        features = [self.features(r) for r in recordings]
        frames, lengths = padded(features)
        out = self.run("recognise", features=frames, lengths=lengths)
        texts = []
        for row, steps in enumerate(out["steps"].tolist()):
            best = out["log_probs"][row, :steps].argmax(-1).tolist()
            kept = [i for j, i in enumerate(best) if i != 0 and (j == 0 or i != best[j - 1])]
            texts.append("".join(self.alphabet[i - 1] for i in kept))
        return texts


def read_wav(path: str, rate: int) -> np.ndarray:
    """Mono float samples in [-1, 1] of an integer PCM WAV file recorded at ``rate`` Hz."""
    with wave.open(path, "rb") as file:
        if file.getframerate() != rate:
            raise ValueError(
                f"{path} is at {file.getframerate()} Hz; this model hears {rate} Hz "
                "(resample it first, or use rnnlab speech transcribe, which resamples)"
            )
        width, channels = file.getsampwidth(), file.getnchannels()
        data = file.readframes(file.getnframes())
    kinds = {1: np.uint8, 2: np.int16, 4: np.int32}
    if width not in kinds:
        raise ValueError(f"{path}: {8 * width}-bit samples; give 8, 16 or 32-bit PCM")
    samples = np.frombuffer(data, dtype=np.dtype(kinds[width]).newbyteorder("<"))
    samples = samples.astype(np.float64)
    if width == 1:
        samples -= 128
    samples = samples.reshape(-1, channels).mean(1) / 2.0 ** (8 * width - 1)
    if samples.size == 0:
        raise ValueError(f"{path}: the recording holds no samples")
    return samples.astype(np.float32)
