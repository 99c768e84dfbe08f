"""The insight commands of the ``rnnlab`` command line: ``inspect gradients``, ``inspect states``
and ``memory``. Parse, call :mod:`rnnlab.insight`, print; errors are ValueErrors, as in
:mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnlab.checkpoint import checkpoint_dir
from rnnlab.cli.options import (
    depth,
    finite_float,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    random_seed,
    report_dir,
    width,
)
from rnnlab.data import Vocabulary, read_source, read_text
from rnnlab.init import SCHEMES
from rnnlab.insight import (
    NetworkSpec,
    best_units,
    gradient_flow,
    longest_solved,
    read_states,
    sweep,
    text_windows,
    train_memory,
)
from rnnlab.insight import gradients as gradient_report
from rnnlab.insight import memory as memory_report
from rnnlab.insight import states as states_report
from rnnlab.tasks.language import LanguageModel

DEFAULT_NETWORKS = "rnn,rnn-relu:identity,lstm,gru"
NETWORKS_HELP = (
    "comma-separated networks, each CELL[:INIT[:SCALE]] (SCALE multiplies W_hh), e.g. "
    f"rnn:orthogonal:0.9 ({DEFAULT_NETWORKS})"
)


def _forget_bias(text: str) -> float | None:
    """'default' (torch's uniform initialisation) or a finite number."""
    return None if text == "default" else finite_float(text)


def _lengths(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text}") from None
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"expected lengths >= 2, got {text}")
    return values


def _add_network_options(parser: argparse.ArgumentParser, cells_default: str | None) -> None:

    parser.add_argument("--cells", default=cells_default, metavar="LIST", help=NETWORKS_HELP)
    parser.add_argument(
        "--init", choices=SCHEMES, default="default", help="scheme where LIST names none (default)"
    )
    parser.add_argument(
        "--forget-bias",
        type=_forget_bias,
        default=1.0,
        help="initial LSTM forget-gate bias; 'default' keeps torch's uniform init (1.0)",
    )
    parser.add_argument("--hidden", type=width, default=128, help="(128)")
    parser.add_argument("--seed", type=random_seed, default=0)
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
    _add_network_options(gradients, None)
    gradients.add_argument("--layers", type=depth, default=1, help="of fresh networks (1)")
    gradients.add_argument(
        "--distance", type=positive_int, default=200, help="steps back to measure (200)"
    )
    gradients.add_argument(
        "--sequences", type=positive_int, default=64, help="windows averaged over (64)"
    )
    gradients.add_argument(
        "--warmup",
        type=non_negative_int,
        default=50,
        help="steps read before the measured window, to set the state (50)",
    )
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
        "--max-chars", type=positive_int, default=3000, help="of --file to read (3000)"
    )
    states.add_argument("--state", choices=("h", "c"), default="h", help="h, or an LSTM's c (h)")
    states.add_argument(
        "--layer", type=non_negative_int, help="layer to show (that of the best unit)"
    )
    states.add_argument(
        "--unit", type=non_negative_int, help="unit to colour by (the best-tracking one)"
    )
    states.add_argument("--units", type=positive_int, default=64, help="units in the heatmap (64)")
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
    mode.add_argument("--length", type=positive_int, default=100, help="T (100)")
    mode.add_argument("--sweep", action="store_true", help="climb the --lengths ladder")
    memory.add_argument(
        "--lengths", type=_lengths, default=[10, 25, 50, 100, 200], help="(10,25,50,100,200)"
    )
    memory.add_argument(
        "--budget",
        type=positive_float,
        metavar="SECONDS",
        help="training time per network (60); with --sweep, the total for all runs (600)",
    )
    memory.add_argument("--steps", type=positive_int, help="stop each run after N updates")
    _add_network_options(memory, DEFAULT_NETWORKS)
    memory.add_argument("--batch-size", type=positive_int, default=64, help="(64)")
    memory.add_argument("--lr", type=positive_float, default=1e-3, help="Adam (0.001)")
    memory.add_argument(
        "--clip", type=non_negative_float, default=1.0, help="gradient-norm clip (1.0)"
    )
    memory.set_defaults(run=_run_memory)


def _print_paths(paths: list[Path]) -> None:
    print("wrote " + ", ".join(str(p) for p in paths))


def _run_gradients(args: argparse.Namespace) -> int:
    import torch

    cells = args.cells or (None if args.checkpoint else DEFAULT_NETWORKS)
    specs = NetworkSpec.parse_list(cells, args.init) if cells else []
    window = args.warmup + args.distance + 2
    if args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
    flows, text, given = [], None, args.text
    if args.checkpoint:
        directory = checkpoint_dir(args.checkpoint)
        model = LanguageModel.from_pretrained(directory)
        recorded = model.checkpoint_config.get("data", {}).get("source")
        given = args.text or recorded
        text, source = read_source(given, model.vocab.level)
        what = f"{source} (pass the text the model was trained on with --text)"
        ids = model.vocab.encode(text, what=what)
        windows = text_windows(ids, args.sequences, window, args.seed)
        flows.append(gradient_flow(model, windows, args.warmup, name=directory.name))
    if specs:
        if not isinstance(text, str):  # the same text as the checkpoint, read as characters
            text, source = read_source(given)
        vocab = Vocabulary.build("char", text)
        windows = text_windows(vocab.encode(text), args.sequences, window, args.seed)
        for spec in specs:
            torch.manual_seed(args.seed)
            model = spec.language_model(vocab, args.hidden, args.layers, args.forget_bias)
            flows.append(gradient_flow(model, windows, args.warmup, name=spec.name))
    print(
        f"{source}: {args.sequences} windows, {args.warmup} warm-up steps, k up to {args.distance}"
    )
    print(gradient_report.format_table(flows))
    settings = {k: v for k, v in vars(args).items() if k != "run"} | {"text": source}
    _print_paths(gradient_report.write_report(flows, args.out, settings))
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

    specs = NetworkSpec.parse_list(args.cells, args.init)
    options = {
        "steps": args.steps,
        "hidden_size": args.hidden,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "clip": args.clip,
        "forget_bias": args.forget_bias,
        "seed": args.seed,
        "progress": sys.stderr.isatty(),
    }
    header = memory_report.format_results([]).splitlines()
    print("\n".join(header), flush=True)

    def report(result) -> None:
        print(memory_report.format_results([result]).splitlines()[-1], flush=True)

    if args.sweep:
        budget = args.budget or 600.0
        results = sweep(args.task, specs, args.lengths, budget, report, **options)
    else:
        budget = args.budget or 60.0
        results = []
        for spec in specs:
            results.append(train_memory(args.task, spec, args.length, budget=budget, **options))
            report(results[-1])
    if args.sweep:
        for network, length in longest_solved(results).items():
            print(f"{network}: longest solved length {length if length else 'none'}")
    settings = {k: v for k, v in vars(args).items() if k != "run"} | {"budget": budget}
    _print_paths(memory_report.write_report(results, args.out, settings))
    return 0
