"""Sweeps for the ``--budget`` sizing: language-model runs on tiny Shakespeare, one after
another, each ``rnnlab train --budget S`` of a contender with changes to its sized settings.

    python benchmarks/budgets.py --budget 300 --contender lstm \
        --run 'sized: {}' --run 'ema: {ema: 0.999}' \
        --run 'locked: {locked_dropout: true, input_dropout: 0.1, ema: 0.999}'

    python benchmarks/budgets.py --budget 1800 --plot --also benchmarks/compare/1800s.json

Each ``--run`` is ``NAME: CHANGES``, the changes a YAML mapping of settings (as a recipe file
holds them). Every run's row (its settings, steps, best and last validation, its curve) and the
machine's peaks before and after the sweep are appended to ``benchmarks/budgets/results.json``;
a Markdown table is printed. ``--plot`` draws the validation curves of every run recorded at the
budget (and of the contenders of ``rnnlab compare`` files given by ``--also``) into
``benchmarks/budgets/SECONDSs.png``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from rnnlab.bench.compare import CONTENDERS, train_contender
from rnnlab.bench.machine import describe, peaks
from rnnlab.data.text import SHARED_DATA
from rnnlab.plots import line_plot
from rnnlab.tasks.language.settings import TrainSettings, recommended_settings
from rnnlab.tasks.language.training import Trainer, read_corpus

TEXT = SHARED_DATA / "tinyshakespeare.txt"
OUT = Path(__file__).resolve().parent / "budgets" / "results.json"


def run_argument(text: str) -> tuple[str, dict]:
    """``NAME: {changes}`` -> (name, changes)."""
    name, _, changes = text.partition(":")
    value = yaml.safe_load(changes) or {}
    if not name.strip() or not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected NAME: {{setting: value, ...}}, got {text!r}")
    return name.strip(), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--contender", default="lstm", choices=list(CONTENDERS))
    parser.add_argument("--run", type=run_argument, action="append", default=[])
    parser.add_argument("--plot", action="store_true", help="plot the runs at this budget")
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="compare.json files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text", type=Path, default=TEXT)
    args = parser.parse_args()
    if args.run:
        sweep(args)
    if args.plot:
        plot(args.budget, args.also)


def plot(budget: float, also: list[Path]) -> None:
    """The validation curves of every run recorded at ``budget`` and of the ``also`` files'
    contenders (marked as ``rnnlab compare`` runs, with their date)."""
    curves = {}
    for recorded in json.loads(OUT.read_text()) if OUT.exists() else []:
        if recorded["budget_s"] == budget:
            for row in recorded["runs"]:
                label = f"{recorded['contender']}, {row['name']} ({recorded['started'][:16]})"
                curves[label] = (row["curve_s"], row["curve_val"])
    for path in also:
        compared = json.loads(path.read_text())
        for row in compared["contenders"]:
            label = f"{row['name']}, compare ({compared['started'][:10]})"
            curves[label] = (row["curve_s"], row["curve_val"])
    path = OUT.parent / f"{budget:g}s.png"
    line_plot(
        path,
        curves,
        title=f"validation loss against time, {budget:g} s budgets, tiny Shakespeare",
        xlabel="seconds",
        ylabel="validation nats/char",
        log_y=False,
    )
    print(f"wrote {path}")


def sweep(args: argparse.Namespace) -> None:
    """Train the runs of ``args`` one after the other and append their rows."""
    base = CONTENDERS[args.contender]
    record = {
        "budget_s": args.budget,
        "contender": args.contender,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": describe(),
        "peaks_start": peaks(quick=True),
        "runs": [],
    }
    corpus = source = None
    for name, changes in args.run:
        given = TrainSettings.recipe(base | changes, f"--run {name}")
        settings = recommended_settings(args.budget, seed=args.seed, **given)
        if corpus is None:
            corpus, source = read_corpus([str(args.text)], settings, False)
        with tempfile.TemporaryDirectory() as out:
            trainer = Trainer(corpus, settings, Path(out) / name, progress=False, source=source)
            row = train_contender(name, trainer, sample_length=0)
        row["changes"] = changes
        row["last_val"] = row["curve_val"][-1] if row["curve_val"] else None
        record["runs"].append(row)
        print(
            f"| {name} | {row['steps']:,} | {row['best_val']:.4f} (step {row['best_step']:,}) "
            f"| {row['last_val']:.4f} | {row['settings']} |",
            flush=True,
        )
    record["peaks_end"] = peaks(quick=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.exists() else []
    OUT.write_text(json.dumps([*previous, record], indent=1) + "\n")
    start, end = record["peaks_start"], record["peaks_end"]
    print(
        f"peaks float32 / bfloat16 GFLOP/s: {start['float32_gflops']:,.0f} / "
        f"{start['bfloat16_gflops']:,.0f} at the start, {end['float32_gflops']:,.0f} / "
        f"{end['bfloat16_gflops']:,.0f} at the end"
    )


if __name__ == "__main__":
    main()
