"""The mel scale and its triangular filters, numpy only: the part of the speech recogniser's
log-mel front end (:mod:`rnnlab.tasks.speech.features`) that the portable runtime, which runs
without PyTorch, computes the same way.

    mel(f) = 2595 log10(1 + f / 700)                                   (the HTK mel scale)
    filter m (m = 1..M) is a triangle over frequency with corners at the mel-spaced points
        f_{m-1}, f_m, f_{m+1} (M + 2 points from f_min to f_max equally spaced in mel):
        w_m(f) = (f - f_{m-1}) / (f_m - f_{m-1})  rising,  (f_{m+1} - f) / (f_{m+1} - f_m)  falling
"""

from __future__ import annotations

import numpy as np


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min=0.0, f_max=None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float64: the triangular filters, by the frequency of each FFT
    bin."""
    f_max = sample_rate / 2 if f_max is None else f_max
    corners = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    low, centre, high = corners[:-2, None], corners[1:-1, None], corners[2:, None]
    rising = (bins - low) / (centre - low)
    falling = (high - bins) / (high - centre)
    return np.maximum(0.0, np.minimum(rising, falling))
