"""``rnnlab scratch-train``: the NumPy character RNN with hand-written BPTT
(:mod:`rnnlab.scratch`)."""

from __future__ import annotations

import argparse
import sys

from rnnlab.cells import CELLS
from rnnlab.cli.options import (
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
    scratch.add_argument("--cell", choices=list(CELLS), default="rnn", help="(rnn)")
    scratch.add_argument("--hidden", type=width, default=100, help="(100)")
    scratch.add_argument("--layers", type=depth, default=1, help="(1)")
    scratch.add_argument("--seq-len", type=positive_int, default=25, help="BPTT length (25)")
    scratch.add_argument("--batch-size", type=positive_int, default=1, help="streams (1)")
    scratch.add_argument(
        "--optimizer", choices=["adagrad", "adam", "sgd"], default="adagrad", help="(adagrad)"
    )
    scratch.add_argument("--lr", type=positive_float, default=0.1, help="(0.1)")
    scratch.add_argument(
        "--clip", type=non_negative_float, default=5.0, help="gradient-norm clip, 0: none (5)"
    )
    scratch.add_argument("--steps", type=positive_int, help="stop after this many updates")
    scratch.add_argument(
        "--budget", type=positive_float, metavar="SECONDS", help="stop after this time (60)"
    )
    scratch.add_argument(
        "--sample-every", type=positive_int, default=1000, metavar="N", help="print a sample (1000)"
    )
    scratch.add_argument("--sample-length", type=positive_int, default=200, help="(200)")
    scratch.add_argument(
        "--save", type=out_file, metavar="FILE.npz", help="write the weights here at the end"
    )
    scratch.add_argument("--load", metavar="FILE.npz", help="start from these weights")
    scratch.add_argument("--seed", type=random_seed, default=0)
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
