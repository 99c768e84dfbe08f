"""``rnnlab bench``: training speed, loss after a time budget, and generation speed, side by side
with plain PyTorch on the same machine in the same run.

Sections (each a list of rows; all of them go to one JSON file):

- ``machine``: the measured float32/bfloat16 matrix-multiply peaks and memory bandwidth;
- ``train``: chars/s of rnnlab's trainer against a plain float32 ``nn.LSTM``/``nn.GRU`` loop of the
  same model, batch and sequence length (and the plain loop under bfloat16 autocast, for
  reference), with model FLOP utilisation, 6 N FLOPs per character for N multiply weights,
  against the peak of the precision each one computes in;
- ``loss``: validation nats/char on tiny Shakespeare (first 90% train, last 10% validation, read in
  order with the state carried) after 60 s and 300 s with rnnlab's recommended settings;
- ``generate``: chars/s sampling from a 2 x 512 LSTM, one stream and 64 at once, against
  ``nn.LSTM`` and ``nn.LSTMCell`` loops, with the bound that reading the weights once per
  character from memory puts on one stream, and the compute bound on 64; rnnlab's step both
  compiled (:mod:`rnnlab.fused`, the time to compile beside it) and eager; and one stream of the
  4 x 128 transformer (context 64) beside them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from rnnlab.bench import machine
from rnnlab.bench.baselines import plain_sample_speed, plain_train_speed
from rnnlab.cells import CELLS
from rnnlab.data.text import SHARED_DATA, read_text
from rnnlab.data.vocab import Vocabulary
from rnnlab.generation import Sampling, generate_batch
from rnnlab.kernels import resolve_precision
from rnnlab.tasks.language.corpus import Corpus
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.settings import TrainSettings, recommended_settings
from rnnlab.tasks.language.training import Trainer
from rnnlab.tasks.language.transformer import TransformerLM

SECTIONS = ("machine", "train", "loss", "generate")
TRAIN_MODELS = (("lstm", 512), ("lstm", 256), ("gru", 512), ("gru", 256))
DEFAULT_TEXT = SHARED_DATA / "tinyshakespeare.txt"


def multiply_weights(cell: str, hidden: int, layers: int, inputs: int, vocab: int) -> int:
    """Weights used in matrix products per symbol: every W_ih, W_hh and the output layer."""
    gates = CELLS[cell][0].gates
    first = gates * hidden * (inputs + hidden)
    rest = (layers - 1) * gates * hidden * 2 * hidden
    return first + rest + vocab * hidden


def _rnnlab_train_speed(
    corpus: Corpus, settings: TrainSettings, clock: Callable[[], float] = time.perf_counter
) -> dict:
    """Chars/s of rnnlab's Trainer (the steps after the first 3, or after fewer when a busy
    machine made fewer than 4 in the budget), and the precision it chose; ``clock`` is the
    run's and the stamps' (seconds)."""
    stamps: list[float] = []
    trainer = Trainer(
        corpus,
        settings,
        progress=False,
        echo=lambda line: None,
        on_step=lambda *_: stamps.append(clock()),
        clock=clock,
    )
    trainer.fit()
    first = min(2, len(stamps) - 2)  # the end of the last warm-up step timed from
    if first < 0:
        raise ValueError(f"{settings.budget:g} s was too short to time two training steps")
    steps = len(stamps) - 1 - first
    tokens = settings.batch_size * settings.seq_len
    return {
        "chars_per_s": steps * tokens / (stamps[-1] - stamps[first]),
        "steps": steps,
        "precision": trainer.precision,
        "loss": trainer.losses[-1],
    }


def _speed(result: dict) -> float:
    return result["chars_per_s"]


def train_rows(
    text: str,
    peaks: dict,
    seconds: float,
    echo,
    models=TRAIN_MODELS,
    rounds: int = 2,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict]:
    """Chars/s of each model, best of ``rounds`` alternating runs of ``seconds`` per program
    (timings on a shared machine only ever err slow, so the best is the least disturbed), all
    timed by ``clock``."""
    base = recommended_settings(None)
    rows = []
    for cell, hidden in models:
        settings = TrainSettings(
            cell=cell,
            hidden_size=hidden,
            num_layers=2,
            embedding_size=64,
            dropout=0.0,
            seq_len=base.seq_len,
            batch_size=base.batch_size,
            budget=seconds + 1,
            val_fraction=0.0,
            evals=1,
        )
        corpus = Corpus.from_text(text, settings)
        vocab = len(corpus.vocab)
        flops = 6 * multiply_weights(cell, hidden, 2, 64, vocab)
        args = {
            "ids": corpus.train,
            "vocab_size": vocab,
            "cell": cell,
            "hidden": hidden,
            "batch_size": settings.batch_size,
            "seq_len": settings.seq_len,
            "seconds": seconds,
            "clock": clock,
        }
        ours, plain, plain_bf16 = {"chars_per_s": 0}, {"chars_per_s": 0}, {"chars_per_s": 0}
        for _ in range(rounds):
            ours = max(ours, _rnnlab_train_speed(corpus, settings, clock), key=_speed)
            plain = max(plain, plain_train_speed(**args), key=_speed)
            plain_bf16 = max(plain_bf16, plain_train_speed(**args, bfloat16=True), key=_speed)
        peak = peaks["bfloat16_gflops" if ours["precision"] == "bfloat16" else "float32_gflops"]
        row = {
            "model": f"{cell} 2x{hidden}",
            "batch_size": settings.batch_size,
            "seq_len": settings.seq_len,
            "rnnlab_chars_per_s": ours["chars_per_s"],
            "rnnlab_precision": ours["precision"],
            "plain_float32_chars_per_s": plain["chars_per_s"],
            "plain_bfloat16_chars_per_s": plain_bf16["chars_per_s"],
            "speedup_vs_plain_float32": ours["chars_per_s"] / plain["chars_per_s"],
            "rnnlab_mfu": flops * ours["chars_per_s"] / 1e9 / peak,
            "plain_float32_mfu": flops * plain["chars_per_s"] / 1e9 / peaks["float32_gflops"],
            "flops_per_char": flops,
        }
        echo(
            f"  {row['model']}: rnnlab {row['rnnlab_chars_per_s']:,.0f} chars/s, plain float32 "
            f"{row['plain_float32_chars_per_s']:,.0f}, x{row['speedup_vs_plain_float32']:.2f}"
        )
        rows.append(row)
    return rows


def loss_rows(text: str, budgets: tuple[float, ...], echo) -> list[dict]:
    rows = []
    for budget in budgets:
        settings = recommended_settings(budget)
        corpus = Corpus.from_text(text, settings)
        trainer = Trainer(corpus, settings, progress=False, echo=lambda line: None)
        result = trainer.fit()
        tokens = result.steps * settings.batch_size * settings.seq_len
        row = {
            "budget_s": budget,
            "val_nats_per_char": result.best_val,
            "best_step": result.best_step,
            "steps": result.steps,
            "elapsed_s": result.elapsed,
            "chars_per_s": tokens / result.elapsed,
            "settings": settings.describe(trainer.precision),
        }
        echo(f"  {budget:.0f} s: validation {row['val_nats_per_char']:.4f} nats/char")
        rows.append(row)
    return rows


def generate_rows(
    vocab: Vocabulary, peaks: dict, length: int, echo, hidden: int = 512, rounds: int = 2
) -> list[dict]:
    """The 2 x ``hidden`` LSTM sampling ``length`` characters on one stream and ``length // 8``
    on each of 64, in each precision the machine has, through the eager step and the compiled
    one (:mod:`rnnlab.fused`; its compiling timed apart), beside the plain float32 loops and
    the bounds. The precision ``auto`` chooses comes first."""
    layers, embedding = 2, 64
    torch.manual_seed(0)
    model = LanguageModel(vocab, "lstm", hidden, layers, embedding).eval()
    chosen = resolve_precision("auto", torch.device("cpu"))
    precisions = dict.fromkeys((chosen, "float32"))  # one, or both in that order
    read = multiply_weights("lstm", hidden, layers, 0, len(vocab))  # first W_ih: a table row
    rows = []
    for streams in (1, 64):
        n = length if streams == 1 else length // 8
        sizes = (len(vocab), hidden, layers, embedding, streams)
        lstm = max(plain_sample_speed(*sizes, max(n // 4, 20)) for _ in range(rounds))
        cells = max(plain_sample_speed(*sizes, n, cells=True) for _ in range(rounds))
        for precision in precisions:
            row = _generate_row(model, streams, n, precision, rounds)
            row.update(plain_lstm_chars_per_s=lstm, plain_lstmcell_chars_per_s=cells)
            width = 2 if precision == "bfloat16" else 4
            if streams == 1:
                row["weight_bytes_per_char"] = bytes_per_char = read * width + 4 * 4 * hidden
                row["bandwidth_bound_chars_per_s"] = peaks["read_gbps"] * 1e9 / bytes_per_char
                cached = peaks.get("cache_read_gbps")
                if cached:
                    row["cache_bandwidth_bound_chars_per_s"] = cached * 1e9 / bytes_per_char
            else:
                peak = peaks[f"{precision}_gflops"]
                row["compute_bound_chars_per_s"] = peak * 1e9 / (2 * read)
            echo(
                f"  {streams} stream(s), {precision}: rnnlab {row['rnnlab_chars_per_s']:,.0f} "
                f"chars/s compiled ({row['fused_compile_s']:.1f} s to compile), "
                f"{row['rnnlab_eager_chars_per_s']:,.0f} eager"
            )
            rows.append(row)
    rows.append(transformer_row(vocab, peaks, length, echo, rounds=rounds))
    return rows


def _generate_row(model, streams: int, n: int, precision: str, rounds: int) -> dict:
    """rnnlab's rates, eager and compiled, for ``streams`` streams of ``n`` symbols."""
    steps = {fused: model.step_function(streams, precision, fused) for fused in (False, True)}
    start = time.perf_counter()
    _sample(steps[True], streams, 2)  # compiles the one-symbol step with sampling
    compile_s = time.perf_counter() - start
    rates = {False: 0.0, True: 0.0}
    for _ in range(rounds):
        for fused, step in steps.items():
            start = time.perf_counter()
            _sample(step, streams, n)
            rates[fused] = max(rates[fused], streams * n / (time.perf_counter() - start))
    return {
        "model": f"lstm {len(model.rnn.weight_groups())}x{model.rnn.hidden_size}",
        "streams": streams,
        "rnnlab_chars_per_s": rates[True],
        "rnnlab_eager_chars_per_s": rates[False],
        "fused_compile_s": compile_s,
        "rnnlab_precision": precision,
        "rnnlab_kernel": steps[True].sampled(Sampling()).kernel,  # what was timed
    }


def _sample(step, streams: int, length: int) -> None:
    """``length`` symbols sampled on each of ``streams`` streams after a newline-like id 0."""
    prime = torch.zeros(streams, 1, dtype=torch.long)
    generate_batch(step, prime, length, Sampling(), torch.Generator().manual_seed(0))


def transformer_row(
    vocab: Vocabulary, peaks: dict, length: int, echo, hidden: int = 128, rounds: int = 2
) -> dict:
    """One stream of the 4 x ``hidden`` transformer (context 64, the budget sizes' model),
    through its key/value cache, sliding past the context: its rate beside the LSTM's. It reads
    its weights (12 H^2 per block and the tied table) once per character."""
    layers, context = 4, 64
    torch.manual_seed(0)
    model = TransformerLM(vocab, hidden, layers, 4, context, dropout=0.0).eval()
    step = model.step_function(1)
    rate = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        model.generate("\n", length, seed=0)
        rate = max(rate, length / (time.perf_counter() - start))
    width = 2 if step.precision == "bfloat16" else 4
    bytes_per_char = (layers * 12 * hidden * hidden + len(vocab) * hidden) * width
    echo(f"  transformer, 1 stream: rnnlab {rate:,.0f} chars/s")
    return {
        "model": f"transformer {layers}x{hidden} (context {context})",
        "streams": 1,
        "rnnlab_chars_per_s": rate,
        "rnnlab_precision": step.precision,
        "rnnlab_kernel": step.kernel,
        "plain_lstm_chars_per_s": None,
        "plain_lstmcell_chars_per_s": None,
        "weight_bytes_per_char": bytes_per_char,
        "bandwidth_bound_chars_per_s": peaks["read_gbps"] * 1e9 / bytes_per_char,
    }


def run(
    quick: bool = False,
    text_path: str | Path | None = None,
    sections: tuple[str, ...] = SECTIONS,
    json_path: str | Path | None = None,
    echo: Callable[[str], object] = print,
) -> dict:
    """Run the chosen sections and return (and write, if ``json_path``) the results."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {SECTIONS}")
    path = Path(text_path) if text_path else DEFAULT_TEXT
    needs_text = {"train", "loss", "generate"} & set(sections)
    if needs_text and not path.is_file():
        raise ValueError(f"the benchmark text {path} is missing; pass --text FILE")
    text = read_text(path) if needs_text else ""
    results: dict = {
        "command": "rnnlab bench" + (" --quick" if quick else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine.describe(),
        "text": str(path) if needs_text else None,
    }
    echo("measuring the machine's peaks ...")
    results["peaks"] = machine.peaks(quick)
    if "train" in sections:
        echo("training throughput ...")
        results["train"] = train_rows(text, results["peaks"], 1.5 if quick else 5.0, echo)
    if "loss" in sections:
        echo("validation loss after a time budget ...")
        results["loss"] = loss_rows(text, (20.0,) if quick else (60.0, 300.0), echo)
    if "generate" in sections:
        echo("generation speed ...")
        vocab = Vocabulary.build("char", text)
        results["generate"] = generate_rows(vocab, results["peaks"], 300 if quick else 2000, echo)
    echo("")
    echo(format_tables(results))
    if json_path is not None:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
        echo(f"\nwritten to {json_path}")
    return results


def format_tables(results: dict) -> str:
    """The results as Markdown tables."""
    m, p = results["machine"], results["peaks"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['threads']} threads), "
        f"torch {m['torch']}, Python {m['python']}, capability {m['cpu_capability']}, "
        f"AVX-512 BF16 {m['avx512_bf16']}, AMX {m['amx']}",
        f"Peaks: float32 {p['float32_gflops']:.0f} GFLOP/s, bfloat16 {p['bfloat16_gflops']:.0f} "
        f"GFLOP/s ({p['square_size']}-square); one LSTM-step product (64x512 by 512x2048) "
        f"bfloat16 {p['lstm_step_bfloat16_gflops']:.0f} GFLOP/s; read {p['read_gbps']:.0f} GB/s "
        f"from memory, {p.get('cache_read_gbps', 0):.0f} GB/s from cache (8 MB)",
    ]
    if "train" in results:
        lines += [
            "",
            "| training | B x T | rnnlab chars/s | plain float32 | plain bf16 autocast | "
            "rnnlab / plain float32 | rnnlab MFU | plain float32 MFU |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in results["train"]:
            lines.append(
                f"| {r['model']} | {r['batch_size']} x {r['seq_len']} | "
                f"{r['rnnlab_chars_per_s']:,.0f} ({r['rnnlab_precision']}) | "
                f"{r['plain_float32_chars_per_s']:,.0f} | {r['plain_bfloat16_chars_per_s']:,.0f} | "
                f"{r['speedup_vs_plain_float32']:.2f}x | {r['rnnlab_mfu']:.0%} | "
                f"{r['plain_float32_mfu']:.0%} |"
            )
    if "loss" in results:
        lines += [
            "",
            "| budget | validation nats/char | steps | chars/s | settings |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in results["loss"]:
            lines.append(
                f"| {r['budget_s']:.0f} s | {r['val_nats_per_char']:.4f} | {r['steps']} | "
                f"{r['chars_per_s']:,.0f} | {r['settings']} |"
            )
    if "generate" in results:
        lines += [
            "",
            "| generation | streams | rnnlab chars/s, compiled | rnnlab eager | plain nn.LSTM | "
            "plain nn.LSTMCell | bound |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in results["generate"]:
            if "bandwidth_bound_chars_per_s" in r:
                bound = (
                    f"{r['bandwidth_bound_chars_per_s']:,.0f} reading the "
                    f"{r['weight_bytes_per_char'] / 1e6:.1f} MB of weights per char from memory"
                )
                if "cache_bandwidth_bound_chars_per_s" in r:
                    bound += f", {r['cache_bandwidth_bound_chars_per_s']:,.0f} from cache"
            else:
                bound = f"{r['compute_bound_chars_per_s']:,.0f} (matrix-multiply peak)"
            plain = (r["plain_lstm_chars_per_s"], r["plain_lstmcell_chars_per_s"])
            plain_lstm, plain_cells = ("-" if rate is None else f"{rate:,.0f}" for rate in plain)
            eager = r.get("rnnlab_eager_chars_per_s")
            compiled = f"{r['rnnlab_chars_per_s']:,.0f} ({r['rnnlab_precision']}"
            compiled += f", {r['fused_compile_s']:.1f} s to compile)" if eager else ")"
            lines.append(
                f"| {r['model']} | {r['streams']} | {compiled} | "
                f"{'-' if eager is None else f'{eager:,.0f}'} | {plain_lstm} | {plain_cells} | "
                f"{bound} |"
            )
    return "\n".join(lines)
