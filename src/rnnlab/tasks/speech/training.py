"""Training a speech recogniser by CTC, and its held-out report.

The utterances are split by voice: a manifest's ``split`` column where it has one (the made data
sets do: their test speakers are never heard in training), else a seeded ``test_fraction`` of
the voices (of the utterances when no row names a voice). Every recording is read once, resampled
to 16 kHz and turned into log-mel frames (:class:`~rnnlab.tasks.speech.features.LogMel`);
unreadable, silent or missing recordings, test transcripts with characters training never saw
and utterances too short for their transcript (CTC needs a step per character and one between
repeats) are skipped and counted. The alphabet is the training transcripts' characters.

One step: a batch of utterances of similar length, padded, through the recogniser; minimise
the CTC loss (per utterance divided by its transcript's length, then averaged) with the loop's
AdamW, clipping and schedule. After every epoch the held-out utterances are decoded greedily and
scored: character and word error rate, overall and per voice. ``report.json`` holds the
per-epoch scores and the final report with examples; ``alignment.png`` shows one held-out
utterance's features with its per-frame character posteriors under them.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.limits import MAX_BEAM
from rnnlab.plots import alignment_plot
from rnnlab.settings import (
    NON_NEGATIVE,
    TEXT,
    Check,
    HeldOutSettings,
    RecurrentSettings,
    RunSettings,
    Settings,
    setting,
    task_settings,
)
from rnnlab.tasks.speech.audio import add_noise, read_audio
from rnnlab.tasks.speech.corpus import SAMPLE_RATE, Utterances, read_manifest
from rnnlab.tasks.speech.ctc import ErrorRate
from rnnlab.tasks.speech.features import HOP, LogMel, augment
from rnnlab.tasks.speech.model import (
    SpeechRecognizer,
    alphabet_ids,
    normalise,
    pad_frames,
    read_out,
    steps_of,
)
from rnnlab.training.loop import EpochResult, EpochTrainer
from rnnlab.training.run import TrainingTask

#: a beam search's width
BEAM = Check(
    int, lambda v: isinstance(v, int) and 1 <= v <= MAX_BEAM, f"an integer in 1..{MAX_BEAM}"
)

REPORT = "report.json"
ALIGNMENT = "alignment.png"

MELS = Check(int, lambda v: isinstance(v, int) and 8 <= v <= 128, "an integer in 8..128")
WARP = Check(float, lambda v: isinstance(v, float) and 0 <= v < 0.5, "in [0, 0.5)")
MASKS = Check(int, lambda v: isinstance(v, int) and 0 <= v <= 10, "an integer in 0..10")
SUBSAMPLE = Check(int, lambda v: isinstance(v, int) and 1 <= v <= 4, "an integer in 1..4")


@task_settings(
    bidirectional=True,
    hidden_size=256,
    num_layers=3,
    dropout=0.1,
    batch_size=32,
    lr=2e-3,
    test_fraction=0.15,
)
class SpeechSettings(HeldOutSettings, RunSettings, RecurrentSettings):
    """A recogniser's run: the recurrent network, the run, the held-out fraction (of voices,
    where the data has no split of its own) and the features below; saved in ``config.json``."""

    HELP: ClassVar[dict[str, str]] = {
        "test_fraction": "voices held out where the data names no split"
    }

    n_mels: int = setting(64, "mel bands per frame", MELS, group="model")
    subsample: int = setting(
        2, "adjacent frames stacked into one recurrent step", SUBSAMPLE, group="model"
    )

    warp: float = setting(
        0.1,
        "in training, stretch each utterance's mel axis by up to this fraction (as a vocal tract "
        "longer or shorter would)",
        WARP,
    )
    masks: int = setting(
        2, "in training, mask this many bands and time spans of each utterance", MASKS
    )

    def build_model(self, alphabet: str) -> SpeechRecognizer:
        return SpeechRecognizer(alphabet, **self.arguments(SpeechRecognizer))


@dataclass
class Heard:
    """Utterances read and featurised: frames, transcripts (normalised) and voices; what was
    skipped, by reason."""

    features: list[torch.Tensor] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, features: torch.Tensor, transcript: str, voice: str) -> None:
        self.features.append(features)
        self.transcripts.append(transcript)
        self.voices.append(voice)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def seconds(self) -> float:
        """The audio's duration, by its feature frames."""
        return sum(len(f) for f in self.features) * HOP

    def skip_note(self, what: str) -> str:
        """``skipped N of the WHAT utterances: reason (e.g. example); ...``, or ''."""
        if not self.skipped:
            return ""
        parts = [f"{len(v)} {reason} (e.g. {v[0]})" for reason, v in self.skipped.items()]
        total = sum(len(v) for v in self.skipped.values())
        return f"skipped {total} {what} utterance(s): " + "; ".join(parts)


def hear(
    utterances: Utterances,
    features: LogMel,
    allowed: Callable[[str], str | None] = lambda text: None,
    progress: bool = False,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Heard:
    """Read and featurise ``utterances``; a recording that cannot be used is skipped and counted
    (missing, unreadable or silent), as is a transcript that is empty or that ``allowed``
    objects to (it returns the reason, or None). ``transform`` changes the samples first (the
    noise of a noisy evaluation)."""
    from tqdm import tqdm

    heard = Heard()
    rows = zip(utterances.paths, utterances.transcripts, utterances.voices, strict=True)
    for path, transcript, voice in tqdm(
        list(rows), disable=not progress, unit="utt", desc="reading", leave=False
    ):
        text = normalise(transcript)
        problem = "with an empty transcript" if not text else allowed(text)
        if problem:
            heard.skipped[problem].append(str(path))
            continue
        try:
            samples = read_audio(path, features.sample_rate)
        except FileNotFoundError:
            heard.skipped["whose recording is missing"].append(str(path))
            continue
        except (ValueError, OSError) as error:
            heard.skipped["that could not be read"].append(str(error))
            continue
        if transform is not None:
            samples = transform(samples)
        heard.add(features(samples), text, voice)
    return heard


def outside(alphabet: str, reason: str) -> Callable[[str], str | None]:
    """An ``allowed`` for :func:`hear` that gives ``reason`` for a transcript with a character
    outside ``alphabet``."""
    return lambda text: reason if any(c not in alphabet for c in text) else None


def ctc_steps_needed(ids: Sequence[int]) -> int:
    """The fewest CTC steps that can write ``ids``: one per symbol and one between repeats."""
    return len(ids) + sum(a == b for a, b in itertools.pairwise(ids))


@dataclass
class SpeechSplit:
    """The data read for training: the training and held-out utterances and the alphabet."""

    train: Heard
    test: Heard
    alphabet: str
    held_out_by: str  # how the split was made, for the first line

    @classmethod
    def of(
        cls, utterances: Utterances, settings: SpeechSettings, progress: bool = False
    ) -> SpeechSplit:
        train_rows, test_rows, by = split_rows(utterances, settings.test_fraction, settings.seed)
        features = LogMel(SAMPLE_RATE, settings.n_mels)
        train = hear(utterances.subset(train_rows), features, progress=progress)
        if not len(train):
            why = train.skip_note("training") or (
                f"{by} leaves no row to train on"
                if not train_rows
                else "no training row could be heard"
            )
            raise ValueError(f"no usable training utterances: {why}")
        alphabet = "".join(sorted({c for text in train.transcripts for c in text}))

        allowed = outside(alphabet, "with characters training never saw")
        test = hear(utterances.subset(test_rows), features, allowed, progress)
        train, test = (fitting(part, alphabet, settings.subsample) for part in (train, test))
        if not len(train):
            raise ValueError("every training utterance is too short for its transcript")
        return cls(train, test, alphabet, by)

    @property
    def scored(self) -> Heard:
        """What the reports score: the held-out utterances, or the training ones if none."""
        return self.test if len(self.test) else self.train

    @property
    def scored_name(self) -> str:
        return "held-out" if len(self.test) else "training"


def fitting(heard: Heard, alphabet: str, subsample: int) -> Heard:
    """``heard`` without the utterances too short for their transcript (counted as skipped):
    ``subsample`` frames make one step, and CTC needs :func:`ctc_steps_needed` steps."""
    index = alphabet_ids(alphabet)
    kept = Heard(skipped=heard.skipped)
    for f, text, voice in zip(heard.features, heard.transcripts, heard.voices, strict=True):
        if steps_of(len(f), subsample) < ctc_steps_needed([index[c] for c in text]):
            kept.skipped["too short for their transcript"].append(repr(text))
        else:
            kept.add(f, text, voice)
    return kept


def split_rows(
    utterances: Utterances, test_fraction: float, seed: int
) -> tuple[list[int], list[int], str]:
    """(training rows, held-out rows, how): by the ``split`` column where every row has one,
    else a seeded ``test_fraction`` of the voices, else of the rows."""
    rows = range(len(utterances))
    if all(utterances.splits):
        train = [i for i in rows if utterances.splits[i] == "train"]
        test = [i for i in rows if utterances.splits[i] == "test"]
        return train, test, "the manifest's split"
    rng = np.random.default_rng(seed)
    voices = sorted(set(utterances.voices) - {""})
    if len(voices) >= 2 and all(utterances.voices):
        held = max(1, round(test_fraction * len(voices))) if test_fraction > 0 else 0
        chosen = {voices[i] for i in rng.permutation(len(voices))[:held]}
        test = [i for i in rows if utterances.voices[i] in chosen]
        train = [i for i in rows if utterances.voices[i] not in chosen]
        return train, test, f"{held} of {len(voices)} voices held out"
    order = rng.permutation(len(utterances))
    held = round(test_fraction * len(utterances))
    return sorted(order[held:].tolist()), sorted(order[:held].tolist()), "utterances held out"


@dataclass
class SpeechReport:
    """Character and word error rates, overall and per voice, and examples."""

    cer: float
    wer: float
    utterances: int
    voices: dict[str, dict[str, float]]
    examples: list[tuple[str, str]]
    decoding: str = "greedy"

    @classmethod
    def of(
        cls, references: Sequence[str], hypotheses: Sequence[str], voices: Sequence[str], decoding
    ) -> SpeechReport:
        chars, words = ErrorRate(), ErrorRate()
        per_voice: dict[str, tuple[ErrorRate, ErrorRate, list[int]]] = {}
        for ref, hyp, voice in zip(references, hypotheses, voices, strict=True):
            c, w, n = per_voice.setdefault(voice or "-", (ErrorRate(), ErrorRate(), [0]))
            for total, mine, unit in ((chars, c, list), (words, w, str.split)):
                total.add(unit(ref), unit(hyp))
                mine.add(unit(ref), unit(hyp))
            n[0] += 1
        wrong = [(r, h) for r, h in zip(references, hypotheses, strict=True) if r != h]
        right = [(r, h) for r, h in zip(references, hypotheses, strict=True) if r == h]
        return cls(
            chars.rate,
            words.rate,
            len(references),
            {
                v: {"cer": c.rate, "wer": w.rate, "utterances": n[0]}
                for v, (c, w, n) in sorted(per_voice.items())
            },
            wrong[:8] + right[:2],
            decoding,
        )

    def to_json(self) -> dict:
        return {
            "cer": self.cer,
            "wer": self.wer,
            "utterances": self.utterances,
            "decoding": self.decoding,
            "voices": self.voices,
            "examples": [{"reference": r, "hypothesis": h} for r, h in self.examples],
        }

    def format_examples(self) -> str:
        return "\n".join(f"  {'ok ' if r == h else 'err'} {r!r} -> {h!r}" for r, h in self.examples)

    def format_voices(self, worst: int = 5) -> str:
        ranked = sorted(self.voices.items(), key=lambda kv: -kv[1]["wer"])[:worst]
        return "worst voices: " + ", ".join(f"{v} WER {s['wer']:.3f}" for v, s in ranked)


def score(
    model: SpeechRecognizer,
    heard: Heard,
    beam: int = 1,
    lm=None,
    lm_weight: float = 0.0,
) -> tuple[SpeechReport, list[np.ndarray]]:
    """The report of ``model`` on ``heard`` decoded with ``beam`` (and ``lm``), and the
    log-posteriors it decoded."""
    posteriors = model.posteriors(heard.features)
    hypotheses = [model.decode(read_out(p, beam, lm, lm_weight)) for p in posteriors]
    how = "greedy" if beam == 1 and lm is None else f"beam {beam}"
    if lm is not None:
        how += f", language model x {lm_weight:g}"
    return SpeechReport.of(heard.transcripts, hypotheses, heard.voices, how), posteriors


class SpeechTrainer(EpochTrainer):
    """Trains a :class:`SpeechRecognizer` on a :class:`SpeechSplit`; see the module docstring
    and :class:`~rnnlab.training.loop.EpochTrainer` for ``out``, ``echo``, ``progress`` and
    ``sources``."""

    def __init__(
        self, split: SpeechSplit, settings: SpeechSettings, out: str | Path | None = None, **options
    ) -> None:
        self.split = split
        super().__init__(
            settings,
            lambda: settings.build_model(split.alphabet),
            [len(f) for f in split.train.features],
            out,
            **options,
        )
        index = self.model.index
        self.targets = [
            torch.tensor([index[c] for c in text], dtype=torch.int64)
            for text in split.train.transcripts
        ]
        self.posteriors: list[np.ndarray] = []

    def batch_loss(self, batch: list[int]) -> torch.Tensor:
        features, lengths = pad_frames([self.split.train.features[i] for i in batch])
        s = self.settings
        features = augment(features.to(self.device), lengths, s.warp, s.masks)
        log_probs, steps = self.model(features, lengths)
        targets = [self.targets[i] for i in batch]
        return F.ctc_loss(
            log_probs.transpose(0, 1),
            torch.cat(targets).to(self.device),
            steps,
            torch.tensor([len(t) for t in targets]),
            blank=0,
            zero_infinity=True,
        )

    def evaluate(self, final: bool = False) -> SpeechReport:
        report, self.posteriors = score(self.model, self.split.scored)
        return report

    def scores(self, report: SpeechReport) -> dict[str, float]:
        return {"cer": report.cer, "wer": report.wer}

    def summary_lines(self, result: EpochResult) -> list[str]:
        report, split = result.report, self.split
        seconds = split.train.seconds
        speed = seconds * result.epochs / max(result.elapsed, 1e-9) if result.steps else 0.0
        details = (
            f" ({speed:.0f} s of audio per second); {split.scored_name} CER {report.cer:.4f}, "
            f"WER {report.wer:.4f} ({report.decoding})"
        )
        return [report.format_examples(), report.format_voices(), result.summary(details, self.out)]

    def report_record(self) -> dict:
        split = self.split
        return {
            "held_out_by": split.held_out_by,
            "train_utterances": len(split.train),
            "held_out_utterances": len(split.test),
            "train_audio_seconds": split.train.seconds,
            "skipped": {
                part: {reason: len(v) for reason, v in heard.skipped.items()}
                for part, heard in (("train", split.train), ("held_out", split.test))
            },
        }

    def write_report(self, result: EpochResult) -> None:
        super().write_report(result)
        if self.posteriors:
            write_alignment(self.out / ALIGNMENT, self.model, self.split.scored, self.posteriors)


def write_alignment(
    path: Path, model: SpeechRecognizer, heard: Heard, posteriors: list[np.ndarray], row: int = 0
) -> None:
    """The features of utterance ``row`` of ``heard`` over its per-frame posteriors."""
    text = model.decode(read_out(posteriors[row]))
    alignment_plot(
        path,
        heard.features[row].cpu().numpy(),
        np.exp(posteriors[row]),
        ["blank", *model.alphabet.replace(" ", "␣")],
        model.subsample,
        title=f"{heard.transcripts[row]!r} -> {text!r}",
    )


@task_settings()
class SpeechDecoding(Settings):
    """How a recogniser's posteriors are read out: greedily, or by a beam search that may
    weigh in a character language model (``lm``, a checkpoint directory)."""

    #: the beam a language model gets when none is asked for
    LM_BEAM: ClassVar[int] = 8

    beam: int = setting(1, "beam width; 1 is greedy", BEAM)
    lm: str | None = setting(
        None,
        "a character language model (rnnlab train) in a beam search (of 8 if --beam is 1)",
        TEXT,
        metavar="DIR",
        shown="",
    )
    lm_weight: float = setting(0.5, "its weight λ", NON_NEGATIVE)

    def arguments_for(self, model: SpeechRecognizer) -> dict:
        """What :func:`score` and :meth:`SpeechRecognizer.transcribe` take: the beam (of
        ``LM_BEAM`` when a language model is given and no beam), the model's language scores
        over ``model``'s alphabet, its weight."""
        from rnnlab.tasks.language.model import LanguageModel
        from rnnlab.tasks.speech.fusion import language_scores

        if self.lm is None:
            return {"beam": self.beam, "lm": None, "lm_weight": self.lm_weight}
        lm = language_scores(LanguageModel.from_pretrained(self.lm), model.alphabet)
        beam = self.beam if self.beam > 1 else self.LM_BEAM
        return {"beam": beam, "lm": lm, "lm_weight": self.lm_weight}


def evaluate_recognizer(
    model: SpeechRecognizer,
    utterances: Utterances,
    decoding: SpeechDecoding,
    part: str = "test",
    snr: float | None = None,
    progress: bool = False,
    echo: Callable[[str], object] = print,
) -> tuple[SpeechReport, Heard, list[np.ndarray]]:
    """The report of ``model`` on the ``part`` rows of ``utterances`` (``test``, ``train`` or
    ``all``), white noise at ``snr`` dB added first if given; with what was heard and the
    posteriors, for :func:`write_alignment`."""
    if part != "all":
        if not all(utterances.splits):
            raise ValueError(f"{utterances.source} has no split column; use --split all")
        utterances = utterances.subset([i for i, s in enumerate(utterances.splits) if s == part])
        if not len(utterances):
            raise ValueError(f"{utterances.source} has no {part} rows")
    allowed = outside(model.alphabet, "with characters the recogniser does not write")
    noise = None
    if snr is not None:
        rng = np.random.default_rng(0)
        noise = lambda samples: add_noise(samples, snr, rng)  # noqa: E731
    heard = hear(utterances, model.features, allowed, progress, noise)
    if not len(heard):
        raise ValueError(f"no utterance could be scored: {heard.skip_note('listed')}")
    if heard.skipped:
        echo(heard.skip_note("listed"))
    report, posteriors = score(model, heard, **decoding.arguments_for(model))
    return report, heard, posteriors


def recognizer_trainer(
    settings: SpeechSettings, options: dict, out: str | Path | None = None, **loop
) -> SpeechTrainer:
    """The trainer of ``rnnlab speech train``: the data set ``options["data"]`` names (a
    folder or a manifest), heard as log-mel frames and split by voice."""
    echo = loop.setdefault("echo", print)
    if not options.get("data"):
        raise ValueError("no data given: --data PATH (a data set folder or a manifest)")
    utterances = read_manifest(options["data"])
    split = SpeechSplit.of(utterances, settings, progress=bool(loop.get("progress")))
    for part, what in ((split.train, "training"), (split.test, "held-out")):
        if part.skipped:
            echo(part.skip_note(what))
    echo(
        f"{len(split.train):,} training utterances ({split.train.seconds / 60:.1f} min of "
        f"audio, {len(set(split.train.voices))} voices), {len(split.test):,} held out "
        f"({len(set(split.test.voices))} voices; {split.held_out_by}); "
        f"alphabet {split.alphabet!r}"
    )
    return SpeechTrainer(split, settings, out, sources=[utterances.source], **loop)


#: ``rnnlab speech train`` on the spine (:func:`rnnlab.training.run.run_training`)
SPEECH = TrainingTask(
    command="speech train",
    settings=SpeechSettings,
    trainer=recognizer_trainer,
    models=(SpeechRecognizer,),
    data_options=("data",),
)
