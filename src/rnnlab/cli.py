"""The ``rnnlab`` command line: parse arguments, call the library, print.

A mistake the user can make (a bad option value, which the library reports as ValueError)
ends with one line ``rnnlab: error: ...`` and exit status 2. Set RNNLAB_DEBUG=1 to
see the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rnnlab import __version__
from rnnlab.cells import CELLS


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="Recurrent neural networks: train, generate, look inside.",
    )
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="train a small recurrent network on a generated memory task and report",
        description="Train a small recurrent network to echo each input symbol a few steps "
        "later (generated data, nothing to download) and print loss and accuracy.",
    )
    demo.add_argument("--cell", choices=list(CELLS), default="lstm")
    demo.add_argument("--hidden", type=_positive_int, default=64, help="hidden size (64)")
    demo.add_argument("--layers", type=_positive_int, default=1, help="stacked layers (1)")
    demo.add_argument("--steps", type=_positive_int, default=300, help="training steps (300)")
    demo.add_argument(
        "--budget",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds of training",
    )
    demo.add_argument("--delay", type=int, default=3, help="echo delay in steps (3)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_run_demo)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from rnnlab.demo import run_demo

    run_demo(
        cell=args.cell,
        hidden=args.hidden,
        layers=args.layers,
        steps=args.steps,
        budget=args.budget,
        delay=args.delay,
        seed=args.seed,
        progress=sys.stderr.isatty(),
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except ValueError as error:
        if os.environ.get("RNNLAB_DEBUG"):
            raise
        print(f"rnnlab: error: {error}", file=sys.stderr)
        return 2
