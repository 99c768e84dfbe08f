"""The ``rnnlab`` command line: parse arguments, call the library, print.

A mistake the user can make (a missing or bad file, a bad option value; the library reports
them as ValueError) ends with one line ``rnnlab: error: ...`` and exit status 2. Set
RNNLAB_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from rnnlab import __version__
from rnnlab.cells import CELLS
from rnnlab.data.vocab import LEVELS
from rnnlab.init import SCHEMES
from rnnlab.kernels import PRECISIONS
from rnnlab.scan import METHODS as SCAN_METHODS
from rnnlab.tasks.language.blocks import BLOCKS


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error format: one line, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"rnnlab: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _unit_interval(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    """The training settings (:class:`rnnlab.training.TrainSettings` fields). They default to
    SUPPRESS so that the namespace holds only what was given: a resumed run can tell."""
    from rnnlab.tasks.language import TrainSettings

    d = TrainSettings()
    group = parser.add_argument_group("model")
    group.add_argument("--level", choices=LEVELS, help=f"symbols: char, byte or word ({d.level})")
    group.add_argument("--cell", choices=list(CELLS), help=f"recurrent cell ({d.cell})")
    group.add_argument("--hidden", type=_positive_int, help=f"hidden units per layer ({d.hidden})")
    group.add_argument("--layers", type=_positive_int, help=f"stacked layers ({d.layers})")
    inputs = group.add_mutually_exclusive_group()
    inputs.add_argument(
        "--embedding",
        type=_positive_int,
        metavar="SIZE",
        help=f"learned embedding of this size for the inputs ({d.embedding})",
    )
    inputs.add_argument(
        "--one-hot",
        dest="embedding",
        action="store_const",
        const=None,
        help="feed one-hot vectors instead of an embedding",
    )
    group.add_argument("--dropout", type=_fraction, help=f"dropout rate ({d.dropout})")
    group.add_argument("--init", choices=SCHEMES, help=f"weight initialisation ({d.init})")
    group.add_argument(
        "--forget-bias", type=float, help="initial LSTM forget-gate bias (torch's default)"
    )
    group.add_argument(
        "--block",
        choices=BLOCKS,
        help="plain: stacked layers; residual: per layer x + RNN(LayerNorm(x)) and "
        f"x + FFN(LayerNorm(x)), the minGRU/minLSTM paper's language model ({d.block})",
    )
    group.add_argument(
        "--scan",
        choices=SCAN_METHODS,
        help="mingru/minlstm: the recurrence over time by a loop (sequential), the chunked "
        "scan, or the log-space scan (log); auto picks by device and shape",
    )
    group = parser.add_argument_group("training")
    group.add_argument(
        "--seq-len", type=_positive_int, help=f"BPTT length: steps per chunk ({d.seq_len})"
    )
    group.add_argument(
        "--batch-size", type=_positive_int, help=f"parallel streams of text ({d.batch_size})"
    )
    group.add_argument("--lr", type=_positive_float, help=f"peak learning rate, AdamW ({d.lr})")
    group.add_argument(
        "--weight-decay", type=_non_negative_float, help=f"AdamW weight decay ({d.weight_decay})"
    )
    group.add_argument("--warmup", type=_positive_int, help=f"warm-up steps ({d.warmup})")
    group.add_argument(
        "--clip", type=_non_negative_float, help=f"gradient-norm clipping, 0 for none ({d.clip})"
    )
    group.add_argument(
        "--epochs", type=_positive_int, help=f"passes over the text ({d.epochs} without --budget)"
    )
    group.add_argument(
        "--budget",
        type=_positive_float,
        metavar="SECONDS",
        help="train for this wall-clock time; the learning-rate schedule is fitted to it, and "
        "--hidden, --dropout and --lr, where not given, are sized for it",
    )
    group.add_argument(
        "--val-fraction",
        type=_fraction,
        help=f"last part of the text held out for validation ({d.val_fraction})",
    )
    group.add_argument(
        "--evals", type=_positive_int, help=f"validation passes over the run ({d.evals})"
    )
    group.add_argument("--seed", type=int, help=f"random seed ({d.seed})")
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="bfloat16 runs matrix products under autocast; auto picks it where the hardware "
        f"has native bfloat16 ({d.precision})",
    )
    group.add_argument("--encoding", help=f"text encoding of the file ({d.encoding})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rnnlab",
        description="Recurrent neural networks: train, generate, look inside.",
    )
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="train a character language model for about a minute and show samples",
        description="Train a character-level language model on a built-in corpus (the Python "
        "standard library's own sources, nothing to download) or on --text FILE, and print "
        "samples before and after training and the validation loss.",
    )
    demo.add_argument("--text", metavar="FILE", help="train on this text instead")
    demo.add_argument(
        "--budget", type=_positive_float, default=60.0, metavar="SECONDS", help="(60)"
    )
    demo.add_argument("--out", metavar="DIR", help="also keep the checkpoint here")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_run_demo)

    train = commands.add_parser(
        "train",
        help="train a language model on a text file",
        description="Train a character (or byte, or word) level language model by truncated "
        "backpropagation through time and write a checkpoint directory (the best model by "
        "validation loss, and the state to resume from). Ctrl-C stops after the current step "
        "and saves; --resume continues.",
        argument_default=argparse.SUPPRESS,
    )
    train.add_argument(
        "--text", metavar="FILE", help="the training text (python-stdlib: the built-in corpus)"
    )
    train.add_argument("--out", metavar="DIR", help="checkpoint directory to write")
    train.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR")
    train.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard logs here")
    train.add_argument(
        "--sample-length",
        type=int,
        default=300,
        metavar="N",
        help="print a sample of N symbols at the end (300; 0 for none)",
    )
    _add_train_options(train)
    train.set_defaults(run=_run_train)

    generate = commands.add_parser(
        "generate",
        help="generate text from a checkpoint",
        description="Prime the model with --prime, then repeatedly sample the next symbol and "
        "feed it back; characters are printed as they are produced.",
    )
    generate.add_argument("checkpoint", metavar="DIR")
    generate.add_argument("--prime", default=None, help="seed text (default: a newline)")
    generate.add_argument("--length", type=int, default=500, help="symbols to generate (500)")
    generate.add_argument(
        "--temperature", type=_positive_float, default=1.0, help="> 0; lower is safer (1.0)"
    )
    generate.add_argument("--top-k", type=_positive_int, help="sample among the k likeliest")
    generate.add_argument(
        "--top-p", type=_unit_interval, help="sample from the smallest set with mass >= p"
    )
    generate.add_argument("--greedy", action="store_true", help="always take the likeliest")
    generate.add_argument("--seed", type=int, default=None, help="for a repeatable sample")
    generate.add_argument(
        "--streams",
        type=_positive_int,
        default=1,
        help="generate this many samples at once, as one batch (1: streamed as it goes)",
    )
    generate.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="of the matrix products; auto: bfloat16 where the hardware has it natively",
    )
    generate.set_defaults(run=_run_generate)

    evaluate = commands.add_parser(
        "evaluate",
        help="the loss of a checkpoint on a text, in nats and bits per character",
        description="Read the text in order with the state carried and print the mean "
        "cross-entropy in nats/char and bits/char (per byte at the byte level).",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    evaluate.add_argument("--text", metavar="FILE", required=True)
    evaluate.add_argument("--encoding", default="utf-8")
    evaluate.set_defaults(run=_run_evaluate)

    scratch = commands.add_parser(
        "scratch-train",
        help="train the NumPy character RNN (hand-written BPTT) and print samples",
        description="Train rnnlab.scratch's character model: one-hot inputs, plain NumPy, "
        "backpropagation through time written by hand (min-char-rnn's setting by default: "
        "hidden 100, sequences of 25, Adagrad 0.1). Without --text it reads the built-in corpus.",
    )
    scratch.add_argument("--text", metavar="FILE", help="training text (default: built-in)")
    scratch.add_argument("--cell", choices=list(CELLS), default="rnn", help="(rnn)")
    scratch.add_argument("--hidden", type=_positive_int, default=100, help="(100)")
    scratch.add_argument("--layers", type=_positive_int, default=1, help="(1)")
    scratch.add_argument("--seq-len", type=_positive_int, default=25, help="BPTT length (25)")
    scratch.add_argument("--batch-size", type=_positive_int, default=1, help="streams (1)")
    scratch.add_argument(
        "--optimizer", choices=["adagrad", "adam", "sgd"], default="adagrad", help="(adagrad)"
    )
    scratch.add_argument("--lr", type=_positive_float, default=0.1, help="(0.1)")
    scratch.add_argument(
        "--clip", type=_non_negative_float, default=5.0, help="gradient-norm clip, 0: none (5)"
    )
    scratch.add_argument("--steps", type=_positive_int, help="stop after this many updates")
    scratch.add_argument(
        "--budget", type=_positive_float, metavar="SECONDS", help="stop after this time (60)"
    )
    scratch.add_argument(
        "--sample-every", type=int, default=1000, metavar="N", help="print a sample (1000)"
    )
    scratch.add_argument("--sample-length", type=_positive_int, default=200, help="(200)")
    scratch.add_argument("--save", metavar="FILE.npz", help="write the weights here at the end")
    scratch.add_argument("--load", metavar="FILE.npz", help="start from these weights")
    scratch.add_argument("--seed", type=int, default=0)
    scratch.set_defaults(run=_run_scratch_train)

    bench = commands.add_parser(
        "bench",
        help="measure training and generation speed against plain PyTorch on this machine",
        description="Measure the machine's matrix-multiply peaks, then training throughput, "
        "validation loss after 60 s and 300 s, and generation speed, each beside a plain "
        "PyTorch program; print Markdown tables and write JSON. About 10 minutes; --quick, "
        "under 2.",
    )
    bench.add_argument("--quick", action="store_true", help="short timings for development")
    bench.add_argument(
        "--text", metavar="FILE", help="training text (default: ../shared/data/tinyshakespeare.txt)"
    )
    bench.add_argument(
        "--sections",
        default="machine,train,loss,generate",
        help="comma-separated subset of machine,train,loss,generate (all)",
    )
    bench.add_argument(
        "--json", metavar="FILE", default="rnnlab-bench.json", help="(rnnlab-bench.json)"
    )
    bench.set_defaults(run=_run_bench)

    from rnnlab.cli import classify as cli_classify
    from rnnlab.cli import conditional as cli_conditional
    from rnnlab.cli import forecast as cli_forecast
    from rnnlab.cli import insight as cli_insight
    from rnnlab.cli import translate as cli_translate

    cli_classify.add_commands(commands)
    cli_translate.add_commands(commands)
    cli_conditional.add_commands(commands)
    cli_forecast.add_commands(commands)
    cli_insight.add_commands(commands)
    return parser


def _with_default_action(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Commands with a default action run it when the next word names no action:
    ``rnnlab translate DIR TEXT`` is ``rnnlab translate text DIR TEXT``."""
    from rnnlab.cli import conditional as cli_conditional
    from rnnlab.cli import translate as cli_translate

    defaults = {
        "translate": cli_translate.DEFAULT_ACTION,
        "generate-from-label": cli_conditional.DEFAULT_ACTION,
    }
    if len(argv) < 2 or argv[0] not in defaults or argv[1] in ("-h", "--help"):
        return argv
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command = commands.choices[argv[0]]
    actions = next(a for a in command._actions if isinstance(a, argparse._SubParsersAction))
    if argv[1] in actions.choices:
        return argv
    return [argv[0], defaults[argv[0]], *argv[1:]]


# -- commands ---------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from rnnlab.demo import run_demo

    run_demo(args.text, args.budget, args.out, args.seed, progress=sys.stderr.isatty())
    return 0


def _train_setup(args: argparse.Namespace):
    """Settings, text, source, output directory and expected text digest (when resuming) of
    a new or resumed run."""
    from rnnlab.checkpoint import checkpoint_dir
    from rnnlab.data import read_source
    from rnnlab.tasks.language import TrainSettings, recommended_settings, resume_settings

    given = {k: getattr(args, k) for k in asdict(TrainSettings()) if hasattr(args, k)}
    resume = getattr(args, "resume", None)
    if resume is None:
        if not hasattr(args, "text") or not hasattr(args, "out"):
            raise ValueError("train needs --text FILE and --out DIR (or --resume DIR)")
        settings = recommended_settings(**given)
        text, source = read_source(args.text, settings.level, settings.encoding)
        return settings, text, source, Path(args.out), None
    settings, data = resume_settings(checkpoint_dir(resume))
    changed = [k for k, v in given.items() if getattr(settings, k) != v]
    if changed:
        raise ValueError(
            f"--{changed[0].replace('_', '-')} differs from the run in {resume}; a resumed run "
            "keeps its settings"
        )
    source = getattr(args, "text", None) or data.get("source")
    if not source:
        raise ValueError(f"{resume} does not record its text; pass --text FILE")
    text, source = read_source(source, settings.level, settings.encoding)
    return settings, text, source, Path(getattr(args, "out", resume)), data.get("sha256")


def _run_train(args: argparse.Namespace) -> int:
    from rnnlab.tasks.language import Corpus, LanguageModel, Trainer
    from rnnlab.tasks.language.settings import SIZED

    settings, text, source, out, digest = _train_setup(args)
    corpus = Corpus.from_text(text, settings)
    resume = getattr(args, "resume", None)
    if resume is not None and corpus.digest != digest:
        raise ValueError(f"the text differs from the one the run in {resume} was trained on")
    trainer = Trainer(
        corpus,
        settings,
        out,
        progress=sys.stderr.isatty(),
        tensorboard=getattr(args, "tensorboard", None),
        source=source,
    )
    if resume is not None:
        trainer.load_state(resume)
        print(f"resuming {resume} at step {trainer.step}", flush=True)
    unit = corpus.vocab.unit
    print(
        f"{corpus.train.numel():,} training and "
        f"{0 if corpus.val is None else corpus.val.numel():,} validation symbols, "
        f"vocabulary {len(corpus.vocab)} ({settings.level} level); "
        f"{sum(p.numel() for p in trainer.model.parameters()):,} parameters",
        flush=True,
    )
    print(f"speed: {trainer.speed_settings()}", flush=True)
    sized = [k for k in SIZED if resume is None and settings.budget and not hasattr(args, k)]
    if sized:
        chosen = ", ".join(f"{k} {getattr(settings, k)}" for k in sized)
        flags = ", ".join(f"--{k}" for k in sized)
        print(f"sized for a {settings.budget:g} s budget: {chosen} ({flags} to override)")

    def stop(signum, frame):
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C interrupts at once
        print("\nstopping after this step and saving ...", file=sys.stderr, flush=True)
        trainer.request_stop()

    previous = signal.signal(signal.SIGINT, stop)
    try:
        result = trainer.fit()
    finally:
        signal.signal(signal.SIGINT, previous)
    if result.stopped:
        print(f"stopped at step {result.steps}; continue with: rnnlab train --resume {out}")
        return 130
    best = (
        ""
        if result.best_val is None
        else (
            f"; best validation {result.best_val:.4f} nats/{unit} "
            f"({result.best_val / math.log(2):.4f} bits/{unit}) at step {result.best_step}"
        )
    )
    print(
        f"trained {result.steps} steps ({result.epochs:.2f} epochs) in {result.elapsed:.0f} s"
        f"{best}; checkpoint: {out}"
    )
    if args.sample_length > 0:
        model = LanguageModel.from_pretrained(out)
        print("--- sample (temperature 0.8) ---")
        prime = model.default_prime()
        print(prime + model.generate(prime, args.sample_length, temperature=0.8, seed=0))
    return 0


def _run_generate(args: argparse.Namespace) -> int:
    from rnnlab.generation import Sampling
    from rnnlab.tasks.language import LanguageModel

    model = LanguageModel.from_pretrained(args.checkpoint)
    prime = args.prime if args.prime else model.default_prime()

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    # Check the prime and the options before printing anything.
    model.vocab.encode(prime, what="the prime")
    Sampling(args.temperature, args.top_k, args.top_p, args.greedy)
    options = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "greedy": args.greedy,
        "seed": args.seed,
        "precision": args.precision,
    }
    if args.streams > 1:
        samples = model.generate_batch(args.streams, prime, args.length, **options)
        for number, sample in enumerate(samples, 1):
            print(f"--- sample {number} ---\n{prime}{sample}")
        return 0
    sys.stdout.write(prime)
    model.generate(prime, args.length, stream=stream, **options)
    sys.stdout.write("\n")
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from rnnlab.bench import run

    sections = tuple(part.strip() for part in args.sections.split(",") if part.strip())
    run(quick=args.quick, text_path=args.text, sections=sections, json_path=args.json)
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from rnnlab.data import read_text
    from rnnlab.tasks.language import LanguageModel, evaluate

    model = LanguageModel.from_pretrained(args.checkpoint)
    text = read_text(args.text, model.vocab.level, args.encoding)
    ids = model.vocab.encode(text, what=args.text)
    if ids.numel() < 2:
        raise ValueError(f"{args.text} is too short to evaluate (fewer than 2 symbols)")
    result = evaluate(model, ids)
    unit = result.unit
    line = (
        f"{args.text}: {result.per_unit:.4f} nats/{unit}, {result.bits_per_unit:.4f} bits/{unit} "
        f"over {result.units:,.0f} {unit}s"
    )
    if model.vocab.level == "word":
        unknown = model.vocab.unknown_count(ids)
        line += f" ({result.per_token:.4f} nats/word; {unknown} unknown words)"
    print(line)
    return 0


def _run_scratch_train(args: argparse.Namespace) -> int:
    from rnnlab.data import Vocabulary, read_source
    from rnnlab.scratch import CharRNN, train

    if args.save and not args.save.endswith(".npz"):
        raise ValueError(f"--save needs a .npz file name, got {args.save}")
    text, source = read_source(args.text)
    if args.load:
        model = CharRNN.load(args.load)
        model.vocab.encode(text, what=str(args.text))  # the text must fit its vocabulary
    else:
        model = CharRNN(
            Vocabulary.build("char", text), args.cell, args.hidden, args.layers, args.seed
        )
    budget = args.budget if args.budget or args.steps else 60.0
    print(
        f"{source}: {len(text):,} characters, {len(model.vocab)} distinct; "
        f"{model.net.cell_name} {model.net.num_layers}x{model.net.hidden_size}, "
        f"{sum(v.size for v in model.params.values()):,} parameters",
        flush=True,
    )
    result = train(
        model,
        text,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        clip=args.clip,
        steps=args.steps,
        budget=budget,
        sample_every=args.sample_every,
        sample_length=args.sample_length,
        progress=sys.stderr.isatty(),
    )
    print(
        f"{result.steps} steps in {result.elapsed:.1f} s ({result.chars_per_second:,.0f} chars/s): "
        f"loss {result.first_loss:.3f} -> {result.smooth_loss:.3f} nats/char (smoothed)"
    )
    if args.save:
        model.save(args.save)
        print(f"weights: {args.save}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_with_default_action(parser, argv))
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("\nrnnlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader closed the pipe (rnnlab ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ValueError as error:
        if os.environ.get("RNNLAB_DEBUG"):
            raise
        print(f"rnnlab: error: {error}", file=sys.stderr)
        return 2
