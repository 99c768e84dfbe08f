"""The insight commands of the ``rnnlab`` command line: ``inspect gradients``, ``inspect states``
and ``memory``. Parse, call :mod:`rnnlab.insight`, print; errors are ValueErrors, as in
:mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from rnnlab.cli.options import (
    add_settings,
    given,
    non_negative_int,
    positive_float,
    positive_int,
    report_dir,
)
from rnnlab.data import read_text
from rnnlab.insight import (
    NetworkSpec,
    best_units,
    longest_solved,
    read_states,
    sweep,
    train_memory,
)
from rnnlab.insight import gradients as gradient_report
from rnnlab.insight import memory as memory_report
from rnnlab.insight import states as states_report
from rnnlab.insight.gradients import measure_gradients
from rnnlab.insight.memory import LENGTH, LENGTHS, RUN_BUDGET, SWEEP_BUDGET, MemorySettings
from rnnlab.insight.networks import DEFAULT_NETWORKS, GradientSettings
from rnnlab.tasks.language import LanguageModel

NETWORKS_HELP = (
    "comma-separated networks, each CELL[:INIT[:SCALE]] (SCALE multiplies W_hh), e.g. "
    f"rnn:orthogonal:0.9 ({DEFAULT_NETWORKS})"
)


def _lengths(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text}") from None
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"expected lengths >= 2, got {text}")
    return values


def _add_network_options(parser: argparse.ArgumentParser, settings, cells: str | None) -> None:
    parser.add_argument("--cells", default=cells, metavar="LIST", help=NETWORKS_HELP)
    add_settings(parser, settings)
    _add_out_option(parser)


def _add_out_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default="insight",
        type=report_dir,
        metavar="DIR",
        help="write plots and JSON here (insight)",
    )


def add_commands(commands) -> None:
    """Add ``inspect`` and ``memory`` to the ``rnnlab`` subcommands."""

    inspect = commands.add_parser(
        "inspect",
        help="look inside: gradient flow through time, hidden states as a text is read",
        description="Measure how gradients fade through time (inspect gradients) or watch "
        "a trained model's hidden state as it reads a text (inspect states).",
    )
    which = inspect.add_subparsers(dest="inspect", metavar="WHAT", required=True)

    gradients = which.add_parser(
        "gradients",
        help="||dL_T/dh_(T-k)|| against k, for a checkpoint or fresh networks",
        description="For a trained checkpoint and/or freshly initialised networks, measure the "
        "norm of the gradient of the loss at the last step with respect to the hidden state k "
        "steps earlier, averaged over windows of real text; print a table with the fitted decay "
        "per step, the spectral radius of W_hh and the mean derivative of the nonlinearity; "
        "write gradients.png and gradients.json.",
    )
    gradients.add_argument("checkpoint", nargs="?", metavar="DIR", help="a trained model")
    gradients.add_argument(
        "--text",
        metavar="FILE",
        help="text to read (default: the checkpoint's training text, else the built-in corpus)",
    )
    _add_network_options(gradients, GradientSettings, None)
    gradients.set_defaults(run=_run_gradients)

    states = which.add_parser(
        "states",
        help="hidden units over time for a text: heatmap, coloured HTML, interpretable units",
        description="Read a text with a trained model and write states.png (hidden units over "
        "time), states.html (the text coloured by one unit, with the top-5 next-symbol "
        "predictions at each step) and states.json; find the units that best track simple "
        "properties of the text (inside quotes, inside brackets, position in the line).",
    )
    states.add_argument("checkpoint", metavar="DIR")
    source = states.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the text to read")
    source.add_argument("--file", metavar="FILE", help="read the text from this file")
    states.add_argument(
        "--max-chars",
        type=positive_int,
        default=states_report.MAX_CHARS,
        help=f"of --file to read ({states_report.MAX_CHARS})",
    )
    states.add_argument("--state", choices=("h", "c"), default="h", help="h, or an LSTM's c (h)")
    states.add_argument(
        "--layer", type=non_negative_int, help="layer to show (that of the best unit)"
    )
    states.add_argument(
        "--unit", type=non_negative_int, help="unit to colour by (the best-tracking one)"
    )
    states.add_argument(
        "--units",
        type=positive_int,
        default=states_report.HEATMAP_UNITS,
        help=f"units in the heatmap ({states_report.HEATMAP_UNITS})",
    )
    _add_out_option(states)
    states.set_defaults(run=_run_states)

    memory = commands.add_parser(
        "memory",
        help="long-memory tasks (adding, copy): which cells remember over T steps",
        description="Train networks on the adding problem or the copy task, generated on the "
        "fly, and report each one's held-out loss against the trivial baseline (solved: at "
        "most 0.1 of it). --sweep climbs a ladder of lengths and reports the longest each "
        "network solves. Writes memory.json and memory.png.",
    )
    memory.add_argument("--task", choices=("adding", "copy"), default="adding", help="(adding)")
    mode = memory.add_mutually_exclusive_group()
    mode.add_argument("--length", type=positive_int, default=LENGTH, help=f"T ({LENGTH})")
    mode.add_argument("--sweep", action="store_true", help="climb the --lengths ladder")
    memory.add_argument(
        "--lengths",
        type=_lengths,
        default=list(LENGTHS),
        help=f"({','.join(map(str, LENGTHS))})",
    )
    memory.add_argument(
        "--budget",
        type=positive_float,
        metavar="SECONDS",
        help=f"training time per network ({RUN_BUDGET:g}); with --sweep, the total for all "
        f"runs ({SWEEP_BUDGET:g})",
    )
    _add_network_options(memory, MemorySettings, DEFAULT_NETWORKS)
    memory.set_defaults(run=_run_memory)


def _print_paths(paths: list[Path]) -> None:
    print("wrote " + ", ".join(str(p) for p in paths))


def _run_gradients(args: argparse.Namespace) -> int:
    settings = GradientSettings(**given(args, GradientSettings))
    flows, source = measure_gradients(settings, args.cells, args.checkpoint, args.text)
    s = settings
    print(f"{source}: {s.sequences} windows, {s.warmup} warm-up steps, k up to {s.distance}")
    print(gradient_report.format_table(flows))
    recorded = {"checkpoint": args.checkpoint, "cells": args.cells, "text": source}
    _print_paths(gradient_report.write_report(flows, args.out, recorded | asdict(s)))
    return 0


def _run_states(args: argparse.Namespace) -> int:

    model = LanguageModel.from_pretrained(args.checkpoint)
    if args.file is not None:
        text = read_text(args.file, model.vocab.level)[: args.max_chars]
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
    else:
        text = args.text
    report = read_states(model, text, args.state)
    layers = len(report.activations)
    if args.layer is not None and not 0 <= args.layer < layers:
        raise ValueError(f"--layer must be in 0..{layers - 1}, got {args.layer}")
    matches = best_units(report)
    chosen = matches if args.layer is None else best_units(report, [args.layer])
    layer = args.layer if args.layer is not None else layers - 1
    if args.unit is not None:
        width = report.activations[layer].shape[1]
        if not 0 <= args.unit < width:
            raise ValueError(f"--unit must be in 0..{width - 1}, got {args.unit}")
        unit = args.unit
    elif chosen:
        best = max(chosen, key=lambda m: abs(m.correlation))
        layer, unit = best.layer, best.unit
    else:
        unit = 0
    for match in matches:
        print(
            f"{match.property}: unit {match.unit} of layer {match.layer}, "
            f"r = {match.correlation:+.3f}"
        )
    if not matches:
        print("no property (quotes, brackets, line position) varies in this text")
    print(f"showing unit {unit} of layer {layer} ({len(report.symbols)} steps)")
    title = f"rnnlab: {Path(args.checkpoint).name}"
    _print_paths(
        states_report.write_report(report, matches, layer, unit, args.out, args.units, title)
    )
    return 0


def _run_memory(args: argparse.Namespace) -> int:
    settings = MemorySettings(**given(args, MemorySettings))
    specs = NetworkSpec.parse_list(args.cells, settings.init)
    header = memory_report.format_results([]).splitlines()
    print("\n".join(header), flush=True)

    def report(result) -> None:
        print(memory_report.format_results([result]).splitlines()[-1], flush=True)

    progress = sys.stderr.isatty()
    if args.sweep:
        budget = args.budget or SWEEP_BUDGET
        results = sweep(args.task, specs, args.lengths, budget, report, settings, progress=progress)
        for network, length in longest_solved(results).items():
            print(f"{network}: longest solved length {length if length else 'none'}")
    else:
        budget = args.budget or RUN_BUDGET
        results = []
        for spec in specs:
            results.append(
                train_memory(
                    args.task, spec, args.length, settings, budget=budget, progress=progress
                )
            )
            report(results[-1])
    recorded = {"task": args.task, "cells": args.cells, "budget": budget, **asdict(settings)}
    recorded |= {"lengths": args.lengths} if args.sweep else {"length": args.length}
    _print_paths(memory_report.write_report(results, args.out, recorded))
    return 0
