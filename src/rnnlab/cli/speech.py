"""The ``rnnlab speech`` commands: ``make-data`` (speech from the synthesiser), ``train``,
``transcribe`` and ``evaluate`` a CTC recogniser. Parse, call :mod:`rnnlab.tasks.speech`, print;
errors are ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnlab.checkpoint import write_json
from rnnlab.cli.options import (
    add_settings,
    add_train_action,
    finite_float,
    given,
    report_dir,
)
from rnnlab.tasks.speech import (
    MANIFEST,
    SPEECH,
    SpeechDecoding,
    SpeechRecognizer,
    evaluate_recognizer,
    make_dataset,
    read_audio,
    read_manifest,
)
from rnnlab.tasks.speech.corpus import DataSetSettings, spoken_lines
from rnnlab.tasks.speech.training import ALIGNMENT, REPORT, write_alignment

COMMAND = "speech"
VOCABULARIES = ("digits", "commands")


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
    make.add_argument(
        "--out", required=True, type=report_dir, metavar="DIR", help="folder to write"
    )
    what = make.add_mutually_exclusive_group()
    what.add_argument(
        "--vocabulary",
        choices=VOCABULARIES,
        default="digits",
        help="digits: strings of 1-7 spoken digits; commands: short voice-assistant phrases "
        "(digits)",
    )
    what.add_argument("--transcripts", metavar="FILE", help="speak these lines instead")
    add_settings(make, DataSetSettings)
    make.set_defaults(run=_run_make_data)

    train = add_train_action(
        which,
        SPEECH,
        help="train a recogniser on a data set",
        description="Train a bidirectional recurrent recogniser by CTC. Held-out voices are "
        "decoded greedily after every epoch (character and word error rate); at the end the "
        "per-voice rates and examples are printed, and report.json and alignment.png are "
        "written with the checkpoint (the model at the end of the run).",
    )
    _add_data(train, required=False)

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


def _add_data(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--data",
        "--manifest",
        dest="data",
        required=required,
        metavar="PATH",
        help="a data set folder or a manifest CSV (path, transcript[, voice, split])",
    )


def _add_decoding(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, SpeechDecoding, only=("beam", "lm", "lm_weight"))


def _decoding(args: argparse.Namespace) -> SpeechDecoding:
    return SpeechDecoding(**given(args, SpeechDecoding))


def _run_make_data(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if (out / MANIFEST).exists():
        raise ValueError(f"{out} already holds a data set ({MANIFEST}); choose another --out")
    settings = DataSetSettings(**given(args, DataSetSettings))
    made = make_dataset(
        out,
        spoken_lines(args.vocabulary, args.transcripts),
        settings.utterances,
        settings.test_fraction,
        settings.augmentation(),
        seed=settings.seed,
        progress=sys.stderr.isatty(),
    )
    test = sum(s == "test" for s in made.splits)
    voices = len(set(made.voices))
    print(
        f"wrote {len(made):,} utterances ({len(made) - test:,} training, {test:,} test) "
        f"in {voices} voices to {out}; manifest: {out / MANIFEST}"
    )
    return 0


def _run_transcribe(args: argparse.Namespace) -> int:
    model = SpeechRecognizer.from_pretrained(args.checkpoint)
    decoding = _decoding(args).arguments_for(model)
    recordings = [read_audio(path, model.sample_rate) for path in args.recordings]
    texts = model.transcribe(recordings, **decoding)
    for path, text in zip(args.recordings, texts, strict=True):
        print(f"{path}\t{text}" if len(args.recordings) > 1 else text)
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    model = SpeechRecognizer.from_pretrained(args.checkpoint)
    utterances = read_manifest(args.data)
    report, heard, posteriors = evaluate_recognizer(
        model,
        utterances,
        _decoding(args),
        args.split,
        args.snr,
        progress=sys.stderr.isatty(),
        echo=lambda line: print(line, flush=True),
    )
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
