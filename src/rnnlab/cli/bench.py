"""``rnnlab bench``: training and generation speed against plain PyTorch (:mod:`rnnlab.bench`)."""

from __future__ import annotations

import argparse

from rnnlab.bench import run


def add_commands(commands) -> None:
    """Add ``bench`` to the ``rnnlab`` subcommands."""
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


def _run_bench(args: argparse.Namespace) -> int:

    sections = tuple(part.strip() for part in args.sections.split(",") if part.strip())
    run(quick=args.quick, text_path=args.text, sections=sections, json_path=args.json)
    return 0
