"""``rnnlab compare``: recurrent networks and a transformer, trained for the same wall-clock time
on the same text, one after the other, and set side by side.

Each contender is ``rnnlab train --budget S`` with the settings sized for that budget
(:func:`contender_settings`), on the same split of the same text (the same seed): a cell name
trains that recurrent network, ``transformer`` the causal transformer. The machine's
matrix-multiply peaks are measured before the first and after the last, so that a drift in the
machine's speed during the comparison shows. Written into the output directory: each
contender's checkpoint (``NAME/``), ``compare.json`` (the table, the validation curves, the
samples, the machine) and ``compare.png`` (validation loss against seconds).

The recurrent models are scored reading the validation text in order with their state carried;
the transformer through a sliding window that keeps half its context, so every character is
predicted from at least ``context // 2`` characters before it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

from rnnlab.bench.machine import describe, peaks
from rnnlab.cells import CELLS
from rnnlab.checkpoint import atomic_write
from rnnlab.plots import line_plot
from rnnlab.tasks.language.corpus import Corpus
from rnnlab.tasks.language.settings import TrainSettings, load_model, recommended_settings
from rnnlab.tasks.language.training import Trainer, read_corpus

DEFAULT_CONTENDERS = ("lstm", "gru", "mingru", "transformer")
#: what a contender's name asks for beyond the budget's sizing: a minimal cell in the paper's
#: residual blocks at the width that did best in its own budget runs (benchmarks/RESULTS.md)
CONTENDERS: dict[str, dict] = {
    **{cell: {"cell": cell} for cell in CELLS},
    "mingru": {"cell": "mingru", "block": "residual", "hidden_size": 256},
    "minlstm": {"cell": "minlstm", "block": "residual", "hidden_size": 256},
    "transformer": {"arch": "transformer"},
}
SAMPLE_LENGTH = 300


def contender_names(text: str) -> list[str]:
    """The contenders of a comma-separated list, checked (each once)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in CONTENDERS]
    if not names or unknown:
        raise ValueError(
            f"unknown contender {unknown[0] if unknown else text!r}; choose from "
            f"{', '.join(CONTENDERS)}"
        )
    if len(set(names)) < len(names):
        raise ValueError(f"a contender is named twice in {text!r}")
    return names


def contender_settings(name: str, budget: float, seed: int = 0) -> TrainSettings:
    """What ``rnnlab train --budget BUDGET`` uses for contender ``name``."""
    return recommended_settings(budget, seed=seed, **CONTENDERS[name])


def compare(
    text: list[str],
    budget: float,
    out: Path,
    names: list[str] | tuple[str, ...] = DEFAULT_CONTENDERS,
    *,
    seed: int = 0,
    sample_length: int = SAMPLE_LENGTH,
    echo: Callable[[str], object] = print,
    progress: bool = False,
) -> dict:
    """Train each of ``names`` for ``budget`` seconds on ``text``, one after the other, into
    ``out/NAME``; write ``out/compare.json`` and ``out/compare.png`` and return the JSON."""
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty; choose another --out")
    echo("measuring the machine's matrix-multiply peaks ...")
    results = {
        "text": text,
        "budget_s": budget,
        "seed": seed,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": describe(),
        "peaks_start": peaks(quick=True),
        "evaluation": "validation nats/char; recurrent: read in order, state carried; "
        "transformer: sliding window keeping context // 2",
        "contenders": [],
    }
    corpus: Corpus | None = None
    for name in names:
        settings = contender_settings(name, budget, seed)
        if corpus is None:  # every contender reads the same split (the same level and fraction)
            corpus, source = read_corpus(text, settings, progress)
        echo(f"--- {name}: {budget:g} s ---")
        trainer = Trainer(corpus, settings, out / name, progress=progress, echo=echo, source=source)
        row = train_contender(name, trainer, sample_length)
        results["contenders"].append(row)
        echo(
            f"{name}: best validation {row['best_val']:.4f} nats/char after {row['steps']:,} "
            f"steps, {row['chars_per_s']:,.0f} chars/s"
        )
    results["peaks_end"] = peaks(quick=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "compare.json", json.dumps(results, indent=1).encode())
    line_plot(
        out / "compare.png",
        {r["name"]: (r["curve_s"], r["curve_val"]) for r in results["contenders"]},
        title=f"validation loss against wall-clock time ({budget:g} s each)",
        xlabel="seconds",
        ylabel="validation nats/char",
        log_y=False,
    )
    echo(format_table(results))
    return results


def train_contender(name: str, trainer: Trainer, sample_length: int) -> dict:
    """Train one contender; its row of the table (with its curve and its sample, if
    ``sample_length``)."""
    corpus, settings, out, echo = trainer.corpus, trainer.settings, trainer.out, trainer.echo
    parameters = sum(p.numel() for p in trainer.model.parameters())
    echo(f"{parameters:,} parameters; {trainer.speed_settings()}")
    result = trainer.fit()
    characters = result.steps * corpus.units_per_token() * settings.batch_size
    characters *= min(settings.chunk_length, len(corpus.train) - 1)
    model = load_model(out)
    curve = [(r["elapsed"], r["loss"]) for r in trainer.records if "loss" in r]
    return {
        "name": name,
        "settings": settings.describe(trainer.precision),
        "parameters": parameters,
        "steps": result.steps,
        "elapsed_s": result.elapsed,
        "chars_per_s": characters / result.elapsed,
        "best_val": result.best_val if result.best_val is not None else math.nan,
        "best_step": result.best_step,
        "curve_s": [c[0] for c in curve],
        "curve_val": [c[1] for c in curve],
        "sample": model.generate(model.default_prime(), sample_length, temperature=0.8, seed=0)
        if sample_length
        else "",
    }


def format_table(results: dict) -> str:
    """The comparison as a Markdown table, the peaks before and after, and the samples."""
    start, end = results["peaks_start"], results["peaks_end"]
    lines = [
        f"rnnlab compare: {results['budget_s']:g} s each on {' '.join(results['text'])}; "
        f"peaks float32 / bfloat16 GFLOP/s {start['float32_gflops']:,.0f} / "
        f"{start['bfloat16_gflops']:,.0f} at the start, {end['float32_gflops']:,.0f} / "
        f"{end['bfloat16_gflops']:,.0f} at the end",
        "",
        "| contender | parameters | steps | chars/s | best validation nats/char | settings |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results["contenders"]:
        lines.append(
            f"| {r['name']} | {r['parameters']:,} | {r['steps']:,} | {r['chars_per_s']:,.0f} | "
            f"{r['best_val']:.4f} | {r['settings']} |"
        )
    lines.append("")
    lines.append(f"({results['evaluation']}; chars/s: characters trained per second of budget)")
    for r in results["contenders"]:
        lines += ["", f"--- {r['name']} (temperature 0.8) ---", r["sample"]]
    return "\n".join(lines)
