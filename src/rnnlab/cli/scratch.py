"""``rnnlab scratch-train``: the NumPy character RNN with hand-written BPTT
(:mod:`rnnlab.scratch`)."""

from __future__ import annotations

import argparse
import sys

from rnnlab.cells import CELLS
from rnnlab.cli.options import (
    defaults_of,
    depth,
    non_negative_float,
    out_file,
    positive_float,
    positive_int,
    random_seed,
    width,
)
from rnnlab.data import Vocabulary, read_source
from rnnlab.scratch import CharRNN, train
from rnnlab.scratch.charrnn import BUDGET
from rnnlab.scratch.optim import OPTIMIZERS

MODEL = defaults_of(CharRNN)  # the command's defaults are the library's
RUN = defaults_of(train)


def add_commands(commands) -> None:
    """Add ``scratch-train`` to the ``rnnlab`` subcommands."""
    scratch = commands.add_parser(
        "scratch-train",
        help="train the NumPy character RNN (hand-written BPTT) and print samples",
        description="Train rnnlab.scratch's character model: one-hot inputs, plain NumPy, "
        "backpropagation through time written by hand (min-char-rnn's setting by default: "
        "hidden 100, sequences of 25, Adagrad 0.1). Without --text it reads the built-in corpus.",
    )
    scratch.add_argument("--text", metavar="FILE", help="training text (default: built-in)")
    scratch.add_argument(
        "--cell", choices=list(CELLS), default=MODEL["cell"], help=f"({MODEL['cell']})"
    )
    scratch.add_argument(
        "--hidden", type=width, default=MODEL["hidden"], help=f"({MODEL['hidden']})"
    )
    scratch.add_argument(
        "--layers", type=depth, default=MODEL["layers"], help=f"({MODEL['layers']})"
    )
    scratch.add_argument(
        "--seq-len",
        type=positive_int,
        default=RUN["seq_len"],
        help=f"BPTT length ({RUN['seq_len']})",
    )
    scratch.add_argument(
        "--batch-size",
        type=positive_int,
        default=RUN["batch_size"],
        help=f"streams ({RUN['batch_size']})",
    )
    scratch.add_argument(
        "--optimizer",
        choices=list(OPTIMIZERS),
        default=RUN["optimizer"],
        help=f"({RUN['optimizer']})",
    )
    scratch.add_argument("--lr", type=positive_float, default=RUN["lr"], help=f"({RUN['lr']})")
    scratch.add_argument(
        "--clip",
        type=non_negative_float,
        default=RUN["clip"],
        help=f"gradient-norm clip, 0: none ({RUN['clip']:g})",
    )
    scratch.add_argument("--steps", type=positive_int, help="stop after this many updates")
    scratch.add_argument(
        "--budget",
        type=positive_float,
        metavar="SECONDS",
        help=f"stop after this time ({BUDGET:g})",
    )
    scratch.add_argument(
        "--sample-every",
        type=positive_int,
        default=RUN["sample_every"],
        metavar="N",
        help=f"print a sample ({RUN['sample_every']})",
    )
    scratch.add_argument(
        "--sample-length",
        type=positive_int,
        default=RUN["sample_length"],
        help=f"({RUN['sample_length']})",
    )
    scratch.add_argument(
        "--save", type=out_file, metavar="FILE.npz", help="write the weights here at the end"
    )
    scratch.add_argument("--load", metavar="FILE.npz", help="start from these weights")
    scratch.add_argument(
        "--seed", type=random_seed, default=MODEL["seed"], help=f"({MODEL['seed']})"
    )
    scratch.set_defaults(run=_run_scratch_train)


def _run_scratch_train(args: argparse.Namespace) -> int:

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
    budget = args.budget if args.budget or args.steps else BUDGET
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
