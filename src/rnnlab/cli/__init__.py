"""The ``rnnlab`` command line: parse arguments, call the library, print.

A package: :mod:`rnnlab.cli.options` (the parser, argument types, the options built from the
settings classes) sits below one module per task or tool, each of which adds its commands with
``add_commands(commands)``; this module puts them together and runs one. A mistake the user can
make ends with one line ``rnnlab: error: ...`` and exit status 2: a bad option value or file
(the library reports them as ValueError), what the system refuses (an OSError: a path that
cannot be read or written, a full disk; the line names the path and the cause), and memory
that runs out (Python's MemoryError, PyTorch's failed allocation). NumPy's floating-point
warnings are silenced while a command runs: a result that overflows is caught where it matters
(a loss that is not finite stops training; a series too large to scale is refused). Set
RNNLAB_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np
import torch

from rnnlab import __version__
from rnnlab.cli import (
    bench,
    chat,
    classify,
    conditional,
    export,
    forecast,
    insight,
    language,
    scratch,
    serve,
    speech,
    translate,
)
from rnnlab.cli.options import Parser
from rnnlab.training import distributed

#: the command modules, in the order ``rnnlab --help`` lists their commands
MODULES = (
    language,
    scratch,
    bench,
    classify,
    translate,
    chat,
    speech,
    conditional,
    forecast,
    insight,
    export,
    serve,
)


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
    if os.environ.get("RANK", "0") != "0":  # a torchrun rank other than 0: rank 0 reports
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    try:
        with np.errstate(all="ignore"):  # non-finite results are checked where they matter
            return args.run(args)
    except KeyboardInterrupt:
        print("\nrnnlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader closed the pipe (rnnlab ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (ValueError, OSError, MemoryError, RuntimeError) as error:
        if os.environ.get("RNNLAB_DEBUG") or (
            isinstance(error, RuntimeError) and not out_of_memory(error)
        ):
            raise
        print(f"rnnlab: error: {error_line(error)}", file=sys.stderr)
        return 2
    finally:
        distributed.stop()


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says memory ran out: Python's MemoryError, or PyTorch's allocators'
    RuntimeError (CPU: "can't allocate memory"; CUDA: ``torch.OutOfMemoryError``)."""
    return isinstance(error, MemoryError | torch.OutOfMemoryError) or (
        "can't allocate memory" in str(error)
    )


def error_line(error: Exception) -> str:
    """The one line that reports ``error``: an OSError as ``PATH: cause``."""
    if out_of_memory(error):
        return "out of memory; ask for a smaller model, batch or input"
    if isinstance(error, OSError) and error.strerror:
        paths = " -> ".join(str(p) for p in (error.filename, error.filename2) if p is not None)
        return f"{paths}: {error.strerror}" if paths else error.strerror
    return " ".join(str(error).split()) or type(error).__name__
