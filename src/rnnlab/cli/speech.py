"""The ``rnnlab speech`` commands: ``make-data`` (speech from the synthesiser), ``train``,
``transcribe`` and ``evaluate`` a CTC recogniser. Parse, call :mod:`rnnlab.tasks.speech`, print;
errors are ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from rnnlab.checkpoint import write_json
from rnnlab.cli.options import (
    add_train_action,
    argument_type,
    finite_float,
    given,
    non_negative_float,
    out_dir,
    positive_int,
    random_seed,
    report_dir,
)
from rnnlab.data.text import read_text
from rnnlab.limits import MAX_BEAM
from rnnlab.settings import FRACTION, Check
from rnnlab.tasks.speech import (
    COMMANDS,
    MANIFEST,
    Augmentation,
    SpeechRecognizer,
    SpeechSettings,
    SpeechSplit,
    SpeechTrainer,
    hear,
    make_dataset,
    normalise,
    read_audio,
    read_manifest,
    score,
)
from rnnlab.tasks.speech.audio import add_noise
from rnnlab.tasks.speech.training import ALIGNMENT, REPORT, outside, write_alignment

COMMAND = "speech"
VOCABULARIES = ("digits", "commands")
beam_width = argument_type(
    Check(int, lambda v: isinstance(v, int) and 1 <= v <= MAX_BEAM, f"an integer in 1..{MAX_BEAM}")
)
speed_range = argument_type(Check(float, lambda v: 0 <= v < 0.5, "in [0, 0.5)"))


def add_commands(commands) -> None:
    """Add ``speech`` to the ``rnnlab`` subcommands."""
    speech = commands.add_parser(
        COMMAND,
        help="speech recognition: make spoken data, train a CTC recogniser, transcribe",
        description="Audio in, text out: a bidirectional recurrent network over log-mel frames, "
        "trained by CTC; greedy or beam-search decoding, optionally with a character language "
        "model from rnnlab train.",
    )
    which = speech.add_subparsers(dest="speech", metavar="ACTION", required=True)

    make = which.add_parser(
        "make-data",
        help="speak transcripts with eSpeak NG's voices into a data set",
        description="Write WAV files (16 kHz) and manifest.csv (path, transcript, voice, rate, "
        "pitch, split). Speakers are accents with variants; the test speakers' variants are "
        "never heard in training. Training audio is augmented; test audio is clean.",
    )
    make.add_argument("--out", required=True, type=out_dir, metavar="DIR", help="folder to write")
    what = make.add_mutually_exclusive_group()
    what.add_argument(
        "--vocabulary",
        choices=VOCABULARIES,
        default="digits",
        help="digits: strings of 1-7 spoken digits; commands: short voice-assistant phrases "
        "(digits)",
    )
    what.add_argument("--transcripts", metavar="FILE", help="speak these lines instead")
    make.add_argument("--utterances", type=positive_int, default=4000, help="how many (4000)")
    make.add_argument(
        "--test-fraction",
        type=argument_type(FRACTION),
        default=0.15,
        help="of the variants held out as test speakers, and of the utterances (0.15)",
    )
    make.add_argument(
        "--snr",
        type=finite_float,
        default=15.0,
        help="noise added to half the training audio, dB signal-to-noise (15)",
    )
    make.add_argument("--no-noise", action="store_true", help="add no noise")
    make.add_argument(
        "--speed",
        type=speed_range,
        default=0.1,
        help="training audio sped up or slowed by up to this fraction (0.1)",
    )
    make.add_argument(
        "--gain",
        type=non_negative_float,
        default=6.0,
        help="training audio louder or quieter by up to this, dB (6)",
    )
    make.add_argument("--seed", type=random_seed, default=0, help="random seed (0)")
    make.set_defaults(run=_run_make_data)

    train = add_train_action(
        which,
        SpeechSettings,
        help="train a recogniser on a data set",
        description="Train a bidirectional recurrent recogniser by CTC. Held-out voices are "
        "decoded greedily after every epoch (character and word error rate); at the end the "
        "per-voice rates and examples are printed, and report.json and alignment.png are "
        "written with the checkpoint (the model at the end of the run).",
    )
    _add_data(train)
    train.set_defaults(run=_run_train)

    transcribe = which.add_parser(
        "transcribe",
        help="print the text of recordings",
        description="Print each "
        "recording's text, tab-separated after its path when there are several.",
    )
    transcribe.add_argument("checkpoint", metavar="DIR")
    transcribe.add_argument("recordings", nargs="+", metavar="FILE.wav")
    _add_decoding(transcribe)
    transcribe.set_defaults(run=_run_transcribe)

    evaluate = which.add_parser(
        "evaluate",
        help="score a recogniser on a data set",
        description="Character and word error rate, overall and per voice, on a data set's test "
        "split (all of it when the manifest has no split column).",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    _add_data(evaluate)
    evaluate.add_argument(
        "--split", choices=("test", "train", "all"), default="test", help="which rows (test)"
    )
    evaluate.add_argument(
        "--snr", type=finite_float, metavar="DB", help="add white noise at this SNR first"
    )
    _add_decoding(evaluate)
    evaluate.add_argument(
        "--out", type=report_dir, metavar="DIR", help="write report.json and alignment.png here"
    )
    evaluate.set_defaults(run=_run_evaluate)


def _add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        "--manifest",
        dest="data",
        required=True,
        metavar="PATH",
        help="a data set folder or a manifest CSV (path, transcript[, voice, split])",
    )


def _add_decoding(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--beam", type=beam_width, default=1, help="beam width; 1 is greedy (1)")
    parser.add_argument(
        "--lm",
        metavar="DIR",
        help="a character language model (rnnlab train) in a beam search (of 8 if --beam is 1)",
    )
    parser.add_argument(
        "--lm-weight", type=non_negative_float, default=0.5, help="its weight λ (0.5)"
    )


def _decoding(args: argparse.Namespace, model: SpeechRecognizer) -> dict:
    from rnnlab.tasks.language import LanguageModel
    from rnnlab.tasks.speech.fusion import language_scores

    lm = None
    if args.lm is not None:
        lm = language_scores(LanguageModel.from_pretrained(args.lm), model.alphabet)
    beam = args.beam if lm is None or args.beam > 1 else 8
    return {"beam": beam, "lm": lm, "lm_weight": args.lm_weight}


def _run_make_data(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if (out / MANIFEST).exists():
        raise ValueError(f"{out} already holds a data set ({MANIFEST}); choose another --out")
    transcripts = None
    if args.transcripts is not None:
        lines = read_text(args.transcripts, "char").splitlines()
        transcripts = [normalise(line) for line in lines if line.strip()]
        if not transcripts:
            raise ValueError(f"{args.transcripts} has no lines to speak")
    elif args.vocabulary == "commands":
        transcripts = list(COMMANDS)
    augmentation = Augmentation(args.speed, args.gain, None if args.no_noise else args.snr)
    made = make_dataset(
        out,
        transcripts,
        args.utterances,
        args.test_fraction,
        augmentation,
        seed=args.seed,
        progress=sys.stderr.isatty(),
    )
    test = sum(s == "test" for s in made.splits)
    voices = len(set(made.voices))
    print(
        f"wrote {len(made):,} utterances ({len(made) - test:,} training, {test:,} test) "
        f"in {voices} voices to {out}; manifest: {out / MANIFEST}"
    )
    return 0


def _run_train(args: argparse.Namespace) -> int:
    settings = SpeechSettings(**given(args, SpeechSettings))
    out = Path(args.out)
    utterances = read_manifest(args.data)
    split = SpeechSplit.of(utterances, settings, progress=sys.stderr.isatty())
    for part, what in ((split.train, "training"), (split.test, "held-out")):
        if part.skipped:
            print(part.skip_note(what), flush=True)
    seconds = split.train.seconds
    print(
        f"{len(split.train):,} training utterances ({seconds / 60:.1f} min of audio, "
        f"{len(set(split.train.voices))} voices), {len(split.test):,} held out "
        f"({len(set(split.test.voices))} voices; {split.held_out_by}); "
        f"alphabet {split.alphabet!r}",
        flush=True,
    )
    trainer = SpeechTrainer(
        split, settings, out, progress=sys.stderr.isatty(), sources=[utterances.source]
    )
    print(trainer.setup_line(), flush=True)
    result = trainer.fit()
    report = result.report
    print(report.format_examples())
    print(report.format_voices())
    speed = seconds * result.epochs / max(result.elapsed, 1e-9) if result.steps else 0.0
    details = (
        f" ({speed:.0f} s of audio per second); {split.scored_name} CER {report.cer:.4f}, "
        f"WER {report.wer:.4f} ({report.decoding})"
    )
    print(result.summary(details, out))
    return 0


def _run_transcribe(args: argparse.Namespace) -> int:
    model = SpeechRecognizer.from_pretrained(args.checkpoint)
    decoding = _decoding(args, model)
    recordings = [read_audio(path, model.sample_rate) for path in args.recordings]
    texts = model.transcribe(recordings, **decoding)
    for path, text in zip(args.recordings, texts, strict=True):
        print(f"{path}\t{text}" if len(args.recordings) > 1 else text)
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    model = SpeechRecognizer.from_pretrained(args.checkpoint)
    decoding = _decoding(args, model)
    utterances = read_manifest(args.data)
    if args.split != "all":
        if not all(utterances.splits):
            raise ValueError(f"{utterances.source} has no split column; use --split all")
        utterances = utterances.subset(
            [i for i, s in enumerate(utterances.splits) if s == args.split]
        )
        if not len(utterances):
            raise ValueError(f"{utterances.source} has no {args.split} rows")

    allowed = outside(model.alphabet, "with characters the recogniser does not write")
    noise = None
    if args.snr is not None:
        rng = np.random.default_rng(0)
        noise = lambda samples: add_noise(samples, args.snr, rng)  # noqa: E731
    heard = hear(utterances, model.features, allowed, sys.stderr.isatty(), noise)
    if not len(heard):
        raise ValueError(f"no utterance could be scored: {heard.skip_note('listed')}")
    if heard.skipped:
        print(heard.skip_note("listed"), flush=True)
    report, posteriors = score(model, heard, **decoding)
    print(report.format_examples())
    print(report.format_voices())
    noisy = f", white noise at {args.snr:g} dB SNR" if args.snr is not None else ""
    print(
        f"CER {report.cer:.4f}, WER {report.wer:.4f} on {report.utterances:,} utterances "
        f"({report.decoding}{noisy})"
    )
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / REPORT, {"data": utterances.source, "snr": args.snr, **report.to_json()})
        write_alignment(out / ALIGNMENT, model, heard, posteriors)
        print(f"wrote {out / REPORT} and {out / ALIGNMENT}")
    return 0
