"""The language-model commands: ``demo`` (the main job), ``train``, ``tune``, ``generate``,
``next`` and ``evaluate``.
Parse, call :mod:`rnnlab.tasks.language`, print; errors are ValueErrors (see :mod:`rnnlab.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnlab.cli.options import (
    add_settings,
    add_training,
    given,
    non_negative_int,
    out_dir,
    positive_float,
    positive_int,
    run_train,
)
from rnnlab.data.tokens import encode_files
from rnnlab.demo import DEMO_BUDGET, run_demo
from rnnlab.generation import Sampling
from rnnlab.limits import OUTPUT_BATCH
from rnnlab.tasks.language import LANGUAGE, TrainSettings, evaluate
from rnnlab.tasks.language.next_symbol import NextSymbolModel
from rnnlab.tasks.language.settings import GenerateSettings, load_model
from rnnlab.tasks.language.training import SAMPLE_LENGTH, SAMPLE_TEMPERATURE
from rnnlab.tasks.language.tuning import TRIAL_BUDGET, tune


def add_commands(commands) -> None:
    """Add ``demo``, ``train``, ``tune``, ``generate``, ``next`` and ``evaluate`` to the
    ``rnnlab`` subcommands."""
    demo = commands.add_parser(
        "demo",
        help="train a character language model for about a minute and show samples",
        description="Train a character-level language model on a built-in corpus (the Python "
        "standard library's own sources, nothing to download) or on --text FILE, and print "
        "samples before and after training and the validation loss.",
    )
    demo.add_argument("--text", metavar="FILE", help="train on this text instead")
    demo.add_argument("--out", type=out_dir, metavar="DIR", help="also keep the checkpoint here")
    add_settings(demo, TrainSettings, only=("budget", "seed"), defaults={"budget": DEMO_BUDGET})
    demo.set_defaults(run=_run_demo)

    train = commands.add_parser(
        "train",
        help="train a language model on a text file",
        description="Train a character (or byte, or word) level language model, recurrent by "
        "truncated backpropagation through time or a transformer (--arch transformer) on "
        "windows of --context symbols, and write a checkpoint directory (the best model by "
        "validation loss, and the state to resume from). Ctrl-C stops after the current step "
        "and saves; --resume continues.",
        argument_default=argparse.SUPPRESS,
    )
    train.add_argument(
        "--text",
        nargs="+",
        metavar="FILE",
        help="the training text: files and folders, read as one corpus (encoded once into a "
        "token cache, read through a memory map); python-stdlib: the built-in corpus",
    )
    train.add_argument(
        "--sample-length",
        type=non_negative_int,
        default=SAMPLE_LENGTH,
        metavar="N",
        help=f"print a sample of N symbols at the end ({SAMPLE_LENGTH}; 0 for none)",
    )
    add_training(train, LANGUAGE)
    train.set_defaults(run=_run_train)

    tune = commands.add_parser(
        "tune",
        help="search for a language model's settings on your text (Optuna)",
        description="Train trials of --trial-budget seconds each (the built-in sizing first, "
        "then settings drawn by Optuna's TPE sampler from the search space; a trial behind the "
        "median at a validation is stopped early) until --budget seconds are spent; print the "
        "best trial's settings as the rnnlab train command that reproduces them and write them "
        "to DIR/recipe.yaml for rnnlab train --recipe. The study is kept in DIR: the same "
        "command continues it after Ctrl-C. Training options given are fixed, not searched.",
        argument_default=argparse.SUPPRESS,
    )
    tune.add_argument("--text", nargs="+", metavar="FILE", required=True, help="the text")
    tune.add_argument(
        "--budget",
        dest="total",
        type=positive_float,
        required=True,
        metavar="SECONDS",
        help="the whole search's wall-clock time",
    )
    tune.add_argument(
        "--trial-budget",
        type=positive_float,
        default=TRIAL_BUDGET,
        metavar="SECONDS",
        help=f"each trial's training time: the budget you will train with ({TRIAL_BUDGET:g})",
    )
    tune.add_argument(
        "--trials", type=positive_int, metavar="N", help="run at most N trials (this time)"
    )
    tune.add_argument("--out", type=out_dir, required=True, metavar="DIR", help="the study")
    tune.add_argument(
        "--space",
        metavar="FILE",
        help="the search space, YAML: setting: [choices] or setting: {low: L, high: H, log: "
        "true} (default: width, depth, dropouts, learning rate, weight decay, BPTT length, "
        "batch and weight averaging)",
    )
    add_settings(tune, TrainSettings, exclude=("budget", "epochs"))
    tune.set_defaults(run=_run_tune)

    generate = commands.add_parser(
        "generate",
        help="generate text from a checkpoint",
        description="Prime the model with --prime, then repeatedly sample the next symbol and "
        "feed it back; characters are printed as they are produced.",
    )
    generate.add_argument("checkpoint", metavar="DIR")
    generate.add_argument("--prime", help="seed text (default: a newline)")
    add_settings(generate, GenerateSettings)
    generate.set_defaults(run=_run_generate)

    following = commands.add_parser(
        "next",
        help="the likeliest next symbols (a word model: words) after a text, with probabilities",
        description="Read TEXT and print the model's likeliest next symbols, best first, with "
        "their probabilities: the phone keyboard's suggestions (a word model suggests words). "
        "The same function answers POST /v1/next of rnnlab serve.",
    )
    following.add_argument("checkpoint", metavar="DIR")
    following.add_argument("text", metavar="TEXT", help="what was typed so far")
    following.add_argument(
        "--top", type=positive_int, default=5, metavar="K", help="how many to print (5)"
    )
    following.set_defaults(run=_run_next)

    evaluate = commands.add_parser(
        "evaluate",
        help="the loss of a checkpoint on a text, in nats and bits per character",
        description="Read the text in order (a recurrent model with its state carried, a "
        "transformer through a sliding window that keeps half its context) and print the mean "
        "cross-entropy in nats/char and bits/char (per byte at the byte level).",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    evaluate.add_argument(
        "--text", nargs="+", metavar="FILE", required=True, help="files and folders, as one text"
    )
    evaluate.add_argument("--encoding", default="utf-8")
    evaluate.add_argument(
        "--limit", type=positive_int, metavar="N", help="score only the first N symbols"
    )
    evaluate.set_defaults(run=_run_evaluate)


def _run_demo(args: argparse.Namespace) -> int:
    budget, seed = getattr(args, "budget", DEMO_BUDGET), getattr(args, "seed", TrainSettings.seed)
    run_demo(args.text, budget, args.out, seed, progress=sys.stderr.isatty())
    return 0


def _run_train(args: argparse.Namespace) -> int:
    trainer, status = run_train(args, LANGUAGE)
    if status == 0 and args.sample_length > 0 and trainer.main:
        model = load_model(trainer.out)
        print(f"--- sample (temperature {SAMPLE_TEMPERATURE}) ---")
        _print_sample(
            model, model.default_prime(), args.sample_length, temperature=SAMPLE_TEMPERATURE, seed=0
        )
    return status


def _run_tune(args: argparse.Namespace) -> int:
    fixed = given(args, TrainSettings)
    seed = fixed.pop("seed", TrainSettings.seed)
    result = tune(
        args.text,
        args.total,
        args.trial_budget,
        Path(args.out),
        fixed=fixed,
        space=getattr(args, "space", None),
        seed=seed,
        trials=getattr(args, "trials", None),
        echo=lambda line: print(line, flush=True),
    )
    if result.best is None and not result.stopped:
        print("no trial has finished yet: there are no settings to recommend")
    return 130 if result.stopped else 0


def _print_sample(model: NextSymbolModel, prime: str, length: int, **options) -> None:
    """Print ``prime`` and its continuation as it is generated (flat memory at any length)."""

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    sys.stdout.write(prime)
    model.generate(prime, length, stream=stream, **options)
    sys.stdout.write("\n")


def _run_next(args: argparse.Namespace) -> int:
    model = load_model(args.checkpoint)
    for symbol, probability in model.next_symbols(args.text, args.top):
        print(f"{probability:8.4f}  {symbol!r}")
    return 0


def _run_generate(args: argparse.Namespace) -> int:
    model = load_model(args.checkpoint)
    s = GenerateSettings(**given(args, GenerateSettings))
    prime = args.prime if args.prime else model.default_prime()
    # Check the prime and the options before printing anything.
    model.vocab.encode(prime, what="the prime")
    Sampling(s.temperature, s.top_k, s.top_p, s.greedy)
    options = {
        "temperature": s.temperature,
        "top_k": s.top_k,
        "top_p": s.top_p,
        "greedy": s.greedy,
        "seed": s.seed,
        "precision": s.precision,
        "fused": s.fused_steps,
    }
    if s.streams > 1:  # in batches of OUTPUT_BATCH streams, the k-th seeded seed + k
        for first in range(0, s.streams, OUTPUT_BATCH):
            count = min(OUTPUT_BATCH, s.streams - first)
            if s.seed is not None:
                options["seed"] = s.seed + first // OUTPUT_BATCH
            samples = model.generate_batch(count, prime, s.length, **options)
            for number, sample in enumerate(samples, first + 1):
                print(f"--- sample {number} ---\n{prime}{sample}", flush=True)
        return 0
    _print_sample(model, prime, s.length, **options)
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:

    model = load_model(args.checkpoint)
    encoded = encode_files(
        args.text, model.vocab.level, args.encoding, vocab=model.vocab, progress=sys.stderr.isatty()
    )
    ids = encoded.ids[: args.limit]
    name = " ".join(args.text)
    if len(ids) < 2:
        raise ValueError(f"{name} is too short to evaluate (fewer than 2 symbols)")
    result = evaluate(model, ids)
    unit = result.unit
    line = (
        f"{name}: {result.per_unit:.4f} nats/{unit}, {result.bits_per_unit:.4f} bits/{unit} "
        f"over {result.units:,.0f} {unit}s"
    )
    if model.vocab.level == "word":
        unknown = model.vocab.unknown_count(ids)
        line += f" ({result.per_token:.4f} nats/word; {unknown} unknown words)"
    print(line)
    return 0
