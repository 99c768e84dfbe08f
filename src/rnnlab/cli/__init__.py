"""The ``rnnlab`` command line: parse arguments, call the library, print.

A package: :mod:`rnnlab.cli.options` (the parser, argument types, the options built from the
settings classes) sits below one module per task or tool, each of which adds its commands with
``add_commands(commands)``; this module puts them together and runs one. A mistake the user can
make (a missing or bad file, a bad option value; the library reports them as ValueError) ends
with one line ``rnnlab: error: ...`` and exit status 2. Set RNNLAB_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rnnlab import __version__
from rnnlab.cli import (
    bench,
    classify,
    conditional,
    forecast,
    insight,
    language,
    scratch,
    translate,
)
from rnnlab.cli.options import Parser

#: the command modules, in the order ``rnnlab --help`` lists their commands
MODULES = (language, scratch, bench, classify, translate, conditional, forecast, insight)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rnnlab",
        description="Recurrent neural networks: train, generate, look inside.",
    )
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in MODULES:
        module.add_commands(commands)
    return parser


def with_default_action(argv: list[str]) -> list[str]:
    """Commands with a default action run it when the next word names none of their actions:
    ``rnnlab translate DIR TEXT`` is ``rnnlab translate text DIR TEXT``."""
    for module in MODULES:
        default = getattr(module, "DEFAULT_ACTION", None)
        if default is None or len(argv) < 2 or argv[0] != module.COMMAND:
            continue
        if argv[1] not in (*module.ACTIONS, "-h", "--help"):
            return [argv[0], default, *argv[1:]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(with_default_action(argv))
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
