"""Log-mel features: what the recogniser hears of a recording.

    mel(f) = 2595 log10(1 + f / 700)                                   (the HTK mel scale)
    filter m (m = 1..M) is a triangle over frequency with corners at the mel-spaced points
        f_{m-1}, f_m, f_{m+1} (M + 2 points from f_min to f_max equally spaced in mel):
        w_m(f) = (f - f_{m-1}) / (f_m - f_{m-1})  rising,  (f_{m+1} - f) / (f_{m+1} - f_m)  falling
    X_t(k)  = STFT of the samples: Hann window of 25 ms, hop of 10 ms, centred frames
              (zero-padded by half a window at both ends), N-point FFT
    F_t(m)  = log(Σ_k w_m(f_k) |X_t(k)|² + ε)
    then per utterance and band: (F_t(m) - mean_t F(m)) / (std_t F(m) + 1e-5)

The last step makes the features independent of loudness and of the recording's fixed
colouring, so a voice or a microphone the model never heard matters less.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnlab import mel

FLOOR = 1e-6  # ε: the power below which the log is flat
HOP = 0.010  # seconds between frames


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min=0.0, f_max=None) -> Tensor:
    """(n_mels, n_fft // 2 + 1) float32: the triangular filters of the module docstring, by
    the frequency of each FFT bin (:func:`rnnlab.mel.filterbank`)."""
    return torch.tensor(
        mel.filterbank(n_mels, n_fft, sample_rate, f_min, f_max), dtype=torch.float32
    )


class LogMel(nn.Module):
    """Samples (N,) at ``sample_rate`` -> normalised log-mel features (frames, n_mels)."""

    def __init__(self, sample_rate: int = 16_000, n_mels: int = 64) -> None:
        super().__init__()
        self.sample_rate, self.n_mels = sample_rate, n_mels
        self.window_length = round(0.025 * sample_rate)
        self.hop = round(HOP * sample_rate)
        self.n_fft = 2 ** math.ceil(math.log2(self.window_length))
        window = torch.hann_window(self.window_length, periodic=True)
        self.register_buffer("window", window, persistent=False)
        filters = mel_filterbank(n_mels, self.n_fft, sample_rate)
        self.register_buffer("filters", filters, persistent=False)

    def frames(self, samples: int) -> int:
        """How many feature frames a recording of ``samples`` samples gives."""
        return 1 + samples // self.hop

    @torch.no_grad()
    def forward(self, samples: Tensor) -> Tensor:
        samples = torch.as_tensor(samples, dtype=torch.float32).to(self.window.device)
        spectrum = torch.stft(
            samples,
            self.n_fft,
            self.hop,
            self.window_length,
            self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spectrum.abs().square()  # (bins, frames)
        logmel = torch.log(self.filters @ power + FLOOR).T  # (frames, n_mels)
        mean, std = logmel.mean(0), logmel.std(0, unbiased=False)
        return (logmel - mean) / (std + 1e-5)


def augment(features: Tensor, lengths: Tensor, warp: float = 0.0, masks: int = 0) -> Tensor:
    """Training-time changes to a padded batch of features (B, N, M), each utterance drawn
    anew from torch's generator:

    - warp: the mel axis stretched by a ∈ [1 - warp, 1 + warp] (band m reads band m / a,
      linearly interpolated), as a longer or shorter vocal tract moves the formants;
    - masks: that many bands masks (up to M / 8 bands wide) and time masks (up to 10% of the
      utterance, at most 20 frames), set to 0, the normalised mean (SpecAugment, Park et al.
      2019).
    """
    batch, frames, bands = features.shape
    device = features.device
    if warp > 0:
        stretch = 1 + (torch.rand(batch, 1, device=device) * 2 - 1) * warp
        source = (torch.arange(bands, device=device) / stretch).clamp(max=bands - 1)
        low = source.floor().long()
        high = (low + 1).clamp(max=bands - 1)
        share = (source - low).unsqueeze(1)  # (B, 1, M)
        index = lambda i: i.unsqueeze(1).expand(batch, frames, bands)  # noqa: E731
        features = (
            features.gather(2, index(low)) * (1 - share) + features.gather(2, index(high)) * share
        )
    if masks > 0:
        keep = torch.ones(batch, frames, bands, dtype=torch.bool, device=device)
        band = torch.arange(bands, device=device)
        frame = torch.arange(frames, device=device)
        for _ in range(masks):
            width = torch.randint(0, bands // 8 + 1, (batch, 1), device=device)
            start = (torch.rand(batch, 1, device=device) * (bands - width + 1)).long()
            keep &= ~((band >= start) & (band < start + width)).unsqueeze(1)
            longest = torch.clamp(lengths.to(device) // 10, max=20).unsqueeze(1)
            width = (torch.rand(batch, 1, device=device) * (longest + 1)).long()
            start = (
                torch.rand(batch, 1, device=device) * (lengths.to(device).unsqueeze(1) - width + 1)
            ).long()
            keep &= ~((frame >= start) & (frame < start + width)).unsqueeze(2)
        features = features * keep
    return features
