"""minGRU and minLSTM against the LSTM and GRU: training speed by sequence length, and the
validation loss on tiny Shakespeare after a wall-clock budget.

    python benchmarks/mincells.py speed          # about 3 minutes
    python benchmarks/mincells.py loss 60 300    # one `rnnlab train --budget` run per cell

``speed``: a 2-layer language model per cell (character vocabulary of tiny Shakespeare,
embedding 64), its hidden size chosen so that its parameters number about those of the 2 x 256
LSTM; 8,192 symbols per update (batch 8192 / T of length T); one update = forward under the
trainer's precision, cross-entropy, backward, AdamW. ``loss``: what ``rnnlab train --text
tinyshakespeare.txt --budget S --cell C [--block residual] [--hidden H]`` reports, with its
sized defaults.
Prints Markdown and appends JSON to ``benchmarks/mincells/results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnlab import LanguageModel
from rnnlab.data import Vocabulary
from rnnlab.data.text import SHARED_DATA
from rnnlab.kernels import resolve_precision
from rnnlab.tasks.language import Corpus, Trainer, recommended_settings
from rnnlab.training.setup import adamw, autocast

TEXT = SHARED_DATA / "tinyshakespeare.txt"
OUT = Path(__file__).resolve().parent / "mincells" / "results.json"
CELLS = {  # name: (cell, scan method, block)
    "lstm": ("lstm", None, "plain"),
    "gru": ("gru", None, "plain"),
    "mingru": ("mingru", "auto", "plain"),
    "mingru (chunked scan)": ("mingru", "chunked", "plain"),
    "mingru (log scan)": ("mingru", "log", "plain"),
    "minlstm": ("minlstm", "auto", "plain"),
}


def parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def sized(vocab, cell: str, target: int, block: str) -> LanguageModel:
    """The model of ``cell`` whose parameter count is nearest ``target`` (hidden in steps of 8)."""
    best = None
    for hidden in range(64, 1025, 8):
        count = parameters(LanguageModel(vocab, cell, hidden, 2, 64, block=block))
        if best is None or abs(count - target) < abs(best[1] - target):
            best = (hidden, count)
    return LanguageModel(vocab, cell, best[0], 2, 64, block=block)


def _update(model, optimizer, ids, precision: str) -> None:
    with autocast(precision, torch.device("cpu")):
        logits, _ = model(ids[:, :-1])
    loss = F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def speed(seconds: float) -> list[dict]:
    vocab = Vocabulary.build("char", TEXT.read_text(encoding="utf-8"))
    target = parameters(LanguageModel(vocab, "lstm", 256, 2, 64))
    device = torch.device("cpu")
    precision = resolve_precision("auto", device)
    rows = []
    print(f"| model | hidden | parameters | T | batch | symbols/s ({precision}) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for steps in (64, 256, 1024, 4096):
        batch = max(1, 8192 // steps)
        for name, (cell, method, block) in CELLS.items():
            torch.manual_seed(0)
            model = sized(vocab, cell, target, block)
            if method is not None:
                model.cell.scan_method = method
            optimizer = adamw(model, 1e-3, 0.1)
            ids = torch.randint(0, len(vocab), (batch, steps + 1))

            _update(model, optimizer, ids, precision)  # warm-up
            count, started = 0, time.perf_counter()
            while count < 2 or time.perf_counter() - started < seconds:
                _update(model, optimizer, ids, precision)
                count += 1
            rate = count * batch * steps / (time.perf_counter() - started)
            row = {
                "model": name,
                "hidden": model.settings["hidden_size"],
                "parameters": parameters(model),
                "steps": steps,
                "batch": batch,
                "symbols_per_second": rate,
                "precision": precision,
            }
            rows.append(row)
            print(
                f"| {name} | {row['hidden']} | {row['parameters']:,} | {steps} | {batch} | "
                f"{rate:,.0f} |",
                flush=True,
            )
    return rows


def loss(budgets: list[float], cells: list[str], given: dict) -> list[dict]:
    text = TEXT.read_text(encoding="utf-8")
    rows = []
    print("| model | budget | parameters | steps | best validation (nats/char) |")
    print("| --- | --- | --- | --- | --- |")
    for budget in budgets:
        for spec in cells:
            cell, _, block = spec.partition(":")
            settings = recommended_settings(budget, cell=cell, block=block or "plain", **given)
            corpus = Corpus.from_text(text, settings)
            trainer = Trainer(corpus, settings, progress=False, echo=lambda line: None)
            result = trainer.fit()
            row = {
                "model": spec,
                "budget": budget,
                "settings": vars(settings),
                "parameters": parameters(trainer.model),
                "steps": result.steps,
                "best_val": result.best_val,
                "evals": result.evals,
            }
            rows.append(row)
            print(
                f"| {spec} | {budget:g} s | {row['parameters']:,} | {result.steps} | "
                f"{result.best_val:.4f} |",
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_subparsers(dest="what", required=True)
    s = which.add_parser("speed")
    s.add_argument("--seconds", type=float, default=4.0, help="timing per row (4)")
    lo = which.add_parser("loss")
    lo.add_argument("budgets", nargs="+", type=float)
    lo.add_argument("--hidden", type=int, help="instead of the size sized for the budget")
    lo.add_argument(
        "--cells",
        nargs="+",
        default=["mingru:residual", "minlstm:residual", "mingru"],
        help="CELL[:BLOCK] (mingru:residual minlstm:residual mingru)",
    )
    args = parser.parse_args()
    if args.what == "speed":
        rows = speed(args.seconds)
    else:
        rows = loss(args.budgets, args.cells, {"hidden_size": args.hidden} if args.hidden else {})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.is_file() else []
    OUT.write_text(json.dumps([*previous, {"what": args.what, "rows": rows}], indent=1) + "\n")


if __name__ == "__main__":
    main()
