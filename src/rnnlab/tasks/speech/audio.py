"""Audio in and out: reading a recording as mono float samples at the model's rate, writing
16-bit WAV files, and the augmentations that make synthetic speech vary.

Reading (``soundfile``: WAV of any PCM or float width, FLAC, OGG) mixes channels down by their
mean and resamples by a polyphase filter (``scipy.signal.resample_poly``, up/down being the two
rates over their greatest common divisor). A recording is refused, with its name, when it cannot
be decoded, holds no samples, is silent (peak below :data:`SILENCE`, about -66 dBFS) or has a
rate outside :data:`RATES`.

Augmentation, each seeded by the caller's generator:

    noise at SNR s dB:  x + n,  n ~ N(0, σ²),  σ² = mean(x²) / 10^(s/10)
    speed by factor a:  x resampled so that it lasts 1/a as long (pitch moves with it)
    gain g dB:          x · 10^(g/20)
"""

from __future__ import annotations

import io
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

RATES = (4_000, 192_000)  # sample rates a recording may have, in Hz
SILENCE = 5e-4  # peak amplitude (full scale 1) below which a recording holds nothing to hear
MAX_SECONDS = 600  # one recording's length; longer ones are refused before they are resampled


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``samples`` at ``rate`` Hz as float32 samples at ``target`` Hz."""
    samples = np.asarray(samples, dtype=np.float32)
    if rate == target:
        return samples
    from scipy.signal import resample_poly  # scipy comes with statsmodels

    ratio = Fraction(target, rate)
    return resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)


def read_audio(source: str | Path | bytes, target: int) -> np.ndarray:
    """The recording at ``source`` (a path, or a whole file's bytes, as a server receives it) as
    mono float32 samples in [-1, 1] at ``target`` Hz."""
    import soundfile

    if isinstance(source, bytes):
        name, opened = "the recording", lambda: io.BytesIO(source)
    else:
        path = Path(source)
        if path.exists() and not path.is_file():  # a pipe or a device would be read forever
            raise ValueError(f"{path} is not a regular file; give a recording")
        name, opened = str(path), lambda: str(path)
    try:
        info = soundfile.info(opened())
        if not RATES[0] <= info.samplerate <= RATES[1]:
            raise ValueError(
                f"{name}: a sample rate of {info.samplerate} Hz cannot be used "
                f"(rnnlab reads {RATES[0]:,} to {RATES[1]:,} Hz)"
            )
        if info.frames > MAX_SECONDS * info.samplerate:
            raise ValueError(f"{name}: longer than {MAX_SECONDS} s; cut it into shorter files")
        samples, rate = soundfile.read(opened(), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        if not isinstance(source, bytes) and not Path(source).exists():
            raise FileNotFoundError(2, "No such file or directory", name) from None
        why = getattr(error, "error_string", None) or str(error).splitlines()[0]
        raise ValueError(f"{name}: not a readable audio file ({why})") from None
    samples = samples.mean(axis=1)
    if not samples.size:
        raise ValueError(f"{name}: the recording holds no samples")
    if not np.isfinite(samples).all():
        raise ValueError(f"{name}: the recording holds samples that are not numbers")
    if np.abs(samples).max() < SILENCE:
        raise ValueError(f"{name}: the recording is silent")
    return resample(samples, rate, target)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """``samples`` (float in [-1, 1], or int16) as a 16-bit PCM WAV file at ``path``."""
    import soundfile

    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        samples = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    soundfile.write(str(path), samples, rate, subtype="PCM_16", format="WAV")


def add_noise(samples: np.ndarray, snr: float, rng: np.random.Generator) -> np.ndarray:
    """``samples`` plus white Gaussian noise at a signal-to-noise ratio of ``snr`` dB."""
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    sigma = math.sqrt(power / 10 ** (snr / 10))
    return (samples + rng.normal(0.0, sigma, samples.shape)).astype(np.float32)


def change_speed(samples: np.ndarray, factor: float) -> np.ndarray:
    """``samples`` played ``factor`` times as fast (resampled; pitch changes with speed)."""
    ratio = Fraction(factor).limit_denominator(100)
    if ratio == 1:
        return np.asarray(samples, dtype=np.float32)
    return resample(samples, ratio.numerator, ratio.denominator)


def change_gain(samples: np.ndarray, decibels: float) -> np.ndarray:
    """``samples`` scaled by ``decibels`` and clipped to full scale."""
    return np.clip(samples * 10 ** (decibels / 20), -1, 1).astype(np.float32)
