"""Speech data: made by the synthesiser, or read from a manifest of recordings.

A data set is a folder of 16-bit WAV files and ``manifest.csv``, one row per utterance:
``path`` (relative to the manifest's folder, or absolute), ``transcript``, and optionally
``voice`` (who speaks: the per-voice report and the split go by it), ``rate``, ``pitch`` and
``split`` (``train`` or ``test``). Any CSV with ``path`` and ``transcript`` columns is a manifest.

Making one (:func:`make_dataset`): each utterance is a transcript (a built-in vocabulary or the
user's lines) spoken by a speaker, an eSpeak NG accent with a variant (``en-us+f3``), at a random
rate and pitch, resampled to 16 kHz. The variants are split, seeded: the test speakers' variants
are never heard in training, in any accent. Training audio is augmented (speed, gain, and noise
at ``snr`` dB for half of it); test audio is left clean.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnlab.data.tables import rows as table_rows
from rnnlab.data.text import read_text
from rnnlab.limits import require_disk
from rnnlab.settings import (
    FINITE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE_INT,
    SEED,
    SWITCH,
    Check,
    Settings,
    setting,
    task_settings,
)
from rnnlab.tasks.speech.audio import add_noise, change_gain, change_speed, resample, write_wav
from rnnlab.tasks.speech.model import normalise
from rnnlab.tasks.speech.synthesis import ACCENTS, UNVOICED, synthesizer

MANIFEST = "manifest.csv"
COLUMNS = ("path", "transcript", "voice", "rate", "pitch", "split")
SAMPLE_RATE = 16_000

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: the command phrases: short requests to a voice assistant
_DEVICES = ("the lights", "the radio", "the heating", "the fan", "the television", "the alarm")
COMMANDS = (
    *(f"turn {state} {device}" for state in ("on", "off") for device in _DEVICES),
    *(f"go {way}" for way in ("left", "right", "forward", "back", "up", "down")),
    "play some music",
    "pause the music",
    "next song",
    "previous song",
    "volume up",
    "volume down",
    "what time is it",
    "what is the weather like",
    "set a timer for five minutes",
    "set an alarm for seven",
    "call my sister",
    "read my messages",
    "open the door",
    "close the window",
    "stop",
    "cancel",
    "yes please",
    "no thanks",
)


def digit_string(rng: np.random.Generator) -> str:
    """1-7 spoken digits; a zero is said "zero" or "oh", at random."""
    digits = rng.integers(0, 10, size=int(rng.integers(1, 8)))
    return " ".join(
        ("oh" if rng.random() < 0.5 else "zero") if d == 0 else DIGITS[d] for d in digits
    )


@dataclass
class Utterances:
    """Rows of a manifest: recording paths, transcripts, voices and splits ('' if none)."""

    paths: list[Path] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, rows: Sequence[int]) -> Utterances:
        return Utterances(
            [self.paths[i] for i in rows],
            [self.transcripts[i] for i in rows],
            [self.voices[i] for i in rows],
            [self.splits[i] for i in rows],
            self.source,
        )


def read_manifest(path: str | Path) -> Utterances:
    """The utterances of a manifest CSV, or of ``DIR/manifest.csv`` for a folder."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if path.exists() and not path.is_file():  # a pipe would be read forever
        raise ValueError(f"{path} is not a regular file; a manifest is a CSV file")
    found = Utterances(source=str(path))
    with open(path, newline="", encoding="utf-8-sig") as handle:  # a byte-order mark is skipped
        try:
            table = (row for row in table_rows(handle, path) if row)  # blank lines skipped
            columns = next(table, [])
            missing = {"path", "transcript"} - set(columns)
            if missing:
                raise ValueError(
                    f"{path}: a manifest needs the columns path and transcript "
                    f"(it has {', '.join(columns) or 'none'})"
                )
            for cells in table:
                row = dict(zip(columns, cells, strict=False))
                where = Path(row.get("path") or "")
                found.paths.append(where if where.is_absolute() else path.parent / where)
                found.transcripts.append(row.get("transcript") or "")
                found.voices.append((row.get("voice") or "").strip())
                found.splits.append((row.get("split") or "").strip().lower())
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not UTF-8 text; a manifest is a CSV file") from None
    bad = sorted({s for s in found.splits if s not in ("", "train", "test")})
    if bad:
        raise ValueError(f"{path}: split must be train or test, got {bad[0]!r}")
    if not len(found):
        raise ValueError(f"{path} lists no recordings")
    return found


def speakers(test_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(training, test) speakers, ``accent+variant``: the variants (all but the unvoiced ones)
    split, seeded, with every accent on both sides."""
    variants = [v for v in synthesizer().variants() if v not in UNVOICED]
    order = np.random.default_rng(seed).permutation(len(variants))
    held = max(1, round(test_fraction * len(variants))) if test_fraction > 0 else 0
    test = sorted(variants[i] for i in order[:held])
    train = sorted(variants[i] for i in order[held:])
    return (
        [f"{a}+{v}" for v in train for a in ACCENTS],
        [f"{a}+{v}" for v in test for a in ACCENTS],
    )


#: seconds of speech per character, for the disk a data set needs (eSpeak NG's slowest voices
#: speak about 12 characters a second)
SECONDS_PER_CHARACTER = 0.1

#: the most characters one made utterance speaks (about half a minute of speech, well inside
#: the recordings a recogniser reads and the fields a manifest holds)
MAX_TRANSCRIPT = 500

#: how far training audio may be sped up or slowed down
SPEED = Check(float, lambda v: isinstance(v, float) and 0 <= v < 0.5, "in [0, 0.5)")


@dataclass
class Augmentation:
    """How training audio varies: speed factor in [1 - speed, 1 + speed], gain in ±gain dB,
    and noise at ``snr`` dB for a ``noisy`` fraction of it (no noise when ``snr`` is None)."""

    speed: float = 0.1
    gain: float = 6.0
    snr: float | None = 15.0
    noisy: float = 0.5

    def __call__(self, samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        samples = change_speed(samples, float(rng.uniform(1 - self.speed, 1 + self.speed)))
        if self.snr is not None and rng.random() < self.noisy:
            samples = add_noise(samples, self.snr, rng)
        return change_gain(samples, float(rng.uniform(-self.gain, self.gain)))


@task_settings()
class DataSetSettings(Settings):
    """What ``speech make-data`` makes: how many utterances, the held-out share, and how the
    training audio is augmented (:class:`Augmentation`)."""

    utterances: int = setting(4000, "how many", POSITIVE_INT, group="data set")
    test_fraction: float = setting(
        0.15,
        "of the variants held out as test speakers, and of the utterances",
        FRACTION,
        group="data set",
    )
    snr: float = setting(
        15.0,
        "noise added to half the training audio, dB signal-to-noise",
        FINITE,
        group="data set",
    )
    noise: bool = setting(True, "add noise to training audio", SWITCH, group="data set")
    speed: float = setting(
        0.1, "training audio sped up or slowed by up to this fraction", SPEED, group="data set"
    )
    gain: float = setting(
        6.0, "training audio louder or quieter by up to this, dB", NON_NEGATIVE, group="data set"
    )
    seed: int = setting(0, "random seed", SEED, group="data set")

    def augmentation(self) -> Augmentation:
        return Augmentation(self.speed, self.gain, self.snr if self.noise else None)


def spoken_lines(
    vocabulary: str = "digits", transcripts: str | Path | None = None
) -> list[str] | None:
    """What a made data set speaks: the lines of the file ``transcripts`` (normalised), the
    voice-assistant ``commands``, or None for random digit strings."""
    if transcripts is not None:
        lines = read_text(transcripts, "char").splitlines()
        for number, line in enumerate(lines, 1):
            if len(line) > MAX_TRANSCRIPT:
                raise ValueError(
                    f"{transcripts}, line {number}: {len(line):,} characters; an utterance "
                    f"speaks at most {MAX_TRANSCRIPT:,} (split it into lines)"
                )
        spoken = [normalise(line) for line in lines if line.strip()]
        if not spoken:
            raise ValueError(f"{transcripts} has no lines to speak")
        return spoken
    return list(COMMANDS) if vocabulary == "commands" else None


def make_dataset(
    out: str | Path,
    transcripts: Sequence[str] | None = None,
    utterances: int = 4000,
    test_fraction: float = 0.15,
    augmentation: Augmentation | None = None,
    rates: tuple[int, int] = (120, 220),
    pitches: tuple[int, int] = (25, 75),
    seed: int = 0,
    progress: bool = False,
) -> Utterances:
    """Speak ``utterances`` transcripts (random digit strings when ``transcripts`` is None, else
    drawn from it) into WAV files in ``out``, with ``manifest.csv``; see the module docstring.
    A ``test_fraction`` of the utterances go to the held-out speakers."""
    from tqdm import tqdm

    out = Path(out)
    spoken = transcripts or [" ".join(DIGITS[:4])]  # a digit string: up to 7 short words
    seconds = 1 + SECONDS_PER_CHARACTER * float(np.mean([len(t) for t in spoken]))
    require_disk(  # 16-bit samples at SAMPLE_RATE, before a file is written
        utterances * seconds * SAMPLE_RATE * 2, out, f"speaking {utterances:,} utterances"
    )
    (out / "wav").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_speakers, test_speakers = speakers(test_fraction, seed)
    augmentation = augmentation or Augmentation()
    voice = synthesizer()
    rows = []
    for n in tqdm(range(utterances), disable=not progress, unit="utt", desc="speaking"):
        split = "test" if test_speakers and rng.random() < test_fraction else "train"
        speaker = rng.choice(test_speakers if split == "test" else train_speakers)
        text = (
            digit_string(rng)
            if transcripts is None
            else transcripts[rng.integers(len(transcripts))]
        )
        rate, pitch = (
            int(rng.integers(*rates, endpoint=True)),
            int(rng.integers(*pitches, endpoint=True)),
        )
        spoken = voice.speak(text, str(speaker), rate, pitch).astype(np.float32) / 32768
        samples = resample(spoken, voice.sample_rate, SAMPLE_RATE)
        if split == "train":
            samples = augmentation(samples, rng)
        name = Path("wav") / f"{n:06d}.wav"
        write_wav(out / name, samples, SAMPLE_RATE)
        rows.append((str(name), text, str(speaker), rate, pitch, split))
    manifest = out / MANIFEST
    partial = manifest.with_name(f".{MANIFEST}.partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    partial.replace(manifest)  # the manifest appears whole, after every file it names
    return read_manifest(manifest)
