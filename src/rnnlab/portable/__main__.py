"""``python -m rnnlab.portable VERB FILE.onnx ...``: the portable runtime's command line, which
prints what the matching ``rnnlab`` command prints; a mistake is one line and exit status 2."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence

import numpy as np

from rnnlab.portable import (
    Classifier,
    Exported,
    Forecaster,
    LabelGenerator,
    LanguageModel,
    Recognizer,
    Translator,
    load,
    read_wav,
)
from rnnlab.portable.text import check_sampling


def _loaded(path: str, cls: type) -> Exported:
    model = load(path)
    if not isinstance(model, cls):
        raise ValueError(f"{path} is a {model.kind} export, not a {cls.__name__.lower()}")
    return model


def _generate(args) -> None:
    model = _loaded(args.model, LanguageModel)
    prime = args.prime or model.default_prime()
    sampling = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "greedy": args.greedy,
    }
    if args.streams > 1:
        samples = model.generate(
            prime, args.length, streams=args.streams, seed=args.seed, **sampling
        )
        for number, sample in enumerate(samples, 1):
            print(f"--- sample {number} ---\n{prime}{sample}", flush=True)
        return

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    model.vocab.encode(prime, "the prime")  # checked before anything is printed
    check_sampling(**sampling)
    sys.stdout.write(prime)
    model.generate(prime, args.length, seed=args.seed, stream=stream, **sampling)
    sys.stdout.write("\n")


def _classify(args) -> None:
    model = _loaded(args.model, Classifier)
    if model.series is not None:
        if args.texts or not args.npz:
            raise ValueError("this classifier reads numeric series: give --npz FILE")
        with np.load(args.npz, allow_pickle=False) as data:
            values = data["values"]
            lengths = data["lengths"] if "lengths" in data else [len(v) for v in values]
        items = [v[:n] for v, n in zip(values, lengths, strict=True)]
        names = [f"series {i + 1}" for i in range(len(items))]
    else:
        if not args.texts:
            raise ValueError("nothing to classify: give texts")
        names = items = args.texts
    for name, labels in zip(names, model.top_labels(items, args.top), strict=True):
        pairs = "\t".join(f"{label}\t{p:.4f}" for label, p in labels)
        print(f"{name}\t{pairs}")


def _translate(args) -> None:
    model = _loaded(args.model, Translator)
    for text, log_prob in model.translate(args.texts, args.beam, args.alpha):
        print(f"{text}\t{log_prob:.4f}" if args.scores else text)


def _forecast(args) -> None:
    model = _loaded(args.model, Forecaster)
    names = model.targets + model.covariates
    with open(args.history, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    missing = [n for n in names if rows and n not in rows[0]]
    if not rows or missing:
        raise ValueError(f"{args.history} needs the column(s) {', '.join(missing or names)}")
    try:
        history = np.array([[float(row[n]) for n in names] for row in rows])
    except ValueError as error:
        raise ValueError(f"{args.history}: {error}") from None
    level = f"{model.model['interval']:.0%}"
    print(f"{'step':<22} {'target':<14} {'forecast':>12} {level + ' interval':>26}")
    for name, point, lower, upper in model.forecast(history):
        for h in range(model.horizon):
            print(
                f"{'+' + str(h + 1):<22} {name:<14} {point[h]:>12.5g} "
                f"[{lower[h]:>11.5g}, {upper[h]:>11.5g}]"
            )


def _generate_from_label(args) -> None:
    model = _loaded(args.model, LabelGenerator)
    texts = model.generate(
        args.label, args.count, args.prime, args.temperature, args.seed, args.max_length
    )
    print("\n".join(texts))


def _transcribe(args) -> None:
    model = _loaded(args.model, Recognizer)
    texts = model.transcribe([read_wav(path, model.rate) for path in args.recordings])
    for path, text in zip(args.recordings, texts, strict=True):
        print(f"{path}\t{text}" if len(args.recordings) > 1 else text)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m rnnlab.portable",
        description="Run a model exported by `rnnlab export --format onnx`, without PyTorch.",
    )
    verbs = top.add_subparsers(dest="verb", required=True)
    generate = verbs.add_parser("generate", help="continue a prime with a language model")
    generate.add_argument("model", metavar="FILE.onnx")
    generate.add_argument("--prime", default=None)
    generate.add_argument("--length", type=int, default=500)
    generate.add_argument("--temperature", type=float, default=1.0)
    generate.add_argument("--top-k", type=_positive, default=None)
    generate.add_argument("--top-p", type=float, default=None)
    generate.add_argument("--greedy", action="store_true")
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument("--streams", type=_positive, default=1)
    generate.set_defaults(run=_generate)
    classify = verbs.add_parser("classify", help="label texts (or series) with a classifier")
    classify.add_argument("model", metavar="FILE.onnx")
    classify.add_argument("texts", nargs="*")
    classify.add_argument("--npz", metavar="FILE", help="series: values (N, T, C), lengths (N,)")
    classify.add_argument("--top", type=_positive, default=1)
    classify.set_defaults(run=_classify)
    translate = verbs.add_parser("translate", help="translate sentences")
    translate.add_argument("model", metavar="FILE.onnx")
    translate.add_argument("texts", nargs="+")
    translate.add_argument("--beam", type=_positive, default=1)
    translate.add_argument("--alpha", type=float, default=1.0)
    translate.add_argument("--scores", action="store_true")
    translate.set_defaults(run=_translate)
    forecast = verbs.add_parser("forecast", help="forecast the steps after a history")
    forecast.add_argument("model", metavar="FILE.onnx")
    forecast.add_argument("--history", required=True, metavar="CSV")
    forecast.set_defaults(run=_forecast)
    labelled = verbs.add_parser("generate-from-label", help="texts for a label")
    labelled.add_argument("model", metavar="FILE.onnx")
    labelled.add_argument("--label", required=True)
    labelled.add_argument("--count", type=_positive, default=10)
    labelled.add_argument("--prime", default="")
    labelled.add_argument("--temperature", type=float, default=0.8)
    labelled.add_argument("--max-length", type=_positive, default=None)
    labelled.add_argument("--seed", type=int, default=None)
    labelled.set_defaults(run=_generate_from_label)
    transcribe = verbs.add_parser("transcribe", help="transcribe recordings (PCM WAV files)")
    transcribe.add_argument("model", metavar="FILE.onnx")
    transcribe.add_argument("recordings", nargs="+", metavar="WAV")
    transcribe.set_defaults(run=_transcribe)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, OSError, KeyError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"rnnlab.portable: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
