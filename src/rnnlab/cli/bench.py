"""``rnnlab bench``: training and generation speed against plain PyTorch (:mod:`rnnlab.bench`);
``rnnlab compare``: recurrent networks against a transformer at equal wall-clock time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnlab.bench import run
from rnnlab.bench.compare import CONTENDERS, DEFAULT_CONTENDERS, compare, contender_names
from rnnlab.cli.options import add_settings, non_negative_int, positive_float, report_dir
from rnnlab.tasks.language import TrainSettings
from rnnlab.tasks.language.training import SAMPLE_LENGTH


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

    contest = commands.add_parser(
        "compare",
        help="train recurrent networks and a transformer for the same time, side by side",
        description="Train each contender with the settings rnnlab train sizes for --budget, "
        "on the same split of the same text, one after the other; print a table (parameters, "
        "steps, characters per second, best validation loss) and a sample of each, and write "
        "DIR/compare.json, DIR/compare.png (validation loss against seconds) and each "
        "contender's checkpoint. The machine's matrix-multiply peaks are measured at the start "
        "and at the end.",
    )
    contest.add_argument(
        "--text", nargs="+", metavar="FILE", required=True, help="files and folders, as one text"
    )
    contest.add_argument(
        "--budget", type=positive_float, required=True, metavar="SECONDS", help="per contender"
    )
    contest.add_argument(
        "--archs",
        type=_contenders,
        default=list(DEFAULT_CONTENDERS),
        metavar="A,B,...",
        help=f"contenders, any of {', '.join(CONTENDERS)} ({','.join(DEFAULT_CONTENDERS)})",
    )
    contest.add_argument(
        "--out",
        type=report_dir,
        default="rnnlab-compare",
        metavar="DIR",
        help="an empty or new directory (rnnlab-compare)",
    )
    add_settings(contest, TrainSettings, only=("seed",))
    contest.add_argument(
        "--sample-length",
        type=non_negative_int,
        default=SAMPLE_LENGTH,
        metavar="N",
        help=f"of each contender's sample ({SAMPLE_LENGTH})",
    )
    contest.set_defaults(run=_run_compare)


def _contenders(text: str) -> list[str]:
    try:
        return contender_names(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _run_bench(args: argparse.Namespace) -> int:

    sections = tuple(part.strip() for part in args.sections.split(",") if part.strip())
    run(quick=args.quick, text_path=args.text, sections=sections, json_path=args.json)
    return 0


def _run_compare(args: argparse.Namespace) -> int:
    compare(
        args.text,
        args.budget,
        Path(args.out),
        args.archs,
        seed=getattr(args, "seed", TrainSettings.seed),
        sample_length=args.sample_length,
        progress=sys.stderr.isatty(),
    )
    return 0
