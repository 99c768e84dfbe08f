"""nanoGPT's own code, its CPU "baby GPT" configuration, on this machine, for a wall-clock budget;
then its best checkpoint scored the way ``rnnlab compare`` scores the transformer.

    python benchmarks/nanogpt.py --nanogpt PATH/TO/nanoGPT [--budget 300] [--text FILE]

PATH is a checkout of https://github.com/karpathy/nanoGPT (not shipped with rnnlab: it is the
reference being measured). Its ``train.py``, ``model.py`` and ``configurator.py`` run unchanged
in a scratch folder, with the data files its ``data/shakespeare_char/prepare.py`` would write
(the first 90% of the text for training, the last 10% for validation, characters in code-point
order) made here from ``--text`` so that nothing is downloaded. The README's CPU command line is
used (4 layers, 4 heads, 128 wide, block 64, batch 12, no dropout, ``--eval_iters=20``), with
``--max_iters`` and ``--lr_decay_iters`` set to the iterations that fill the budget, as timed by
two short calibration runs (their difference gives the seconds per iteration, evaluations
included, apart from the start-up). Its best checkpoint (``ckpt.pt``, read with
``weights_only=True``) is then scored on the validation 10% by rnnlab's sliding window (every
character predicted from at least 32 before it). Writes ``benchmarks/compare/nanogpt-BUDGET.json``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnlab.bench.machine import describe, peaks
from rnnlab.data.text import SHARED_DATA
from rnnlab.data.vocab import Vocabulary
from rnnlab.tasks.language import evaluate

BABY = [
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=50",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--dropout=0.0",
]
CALIBRATION_ITERS = (200, 500)  # two short runs: start-up seconds and seconds per iteration


def prepare(work: Path, text: str) -> None:
    """The files nanoGPT's shakespeare_char prepare.py writes, without its download."""
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    n = len(text)
    data = work / "data" / "shakespeare_char"
    data.mkdir(parents=True)
    for name, part in (("train", text[: int(n * 0.9)]), ("val", text[int(n * 0.9) :])):
        np.array([index[c] for c in part], dtype=np.uint16).tofile(data / f"{name}.bin")
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": index}
    with open(data / "meta.pkl", "wb") as f:  # the format train.py reads (written, never read)
        pickle.dump(meta, f)


def train(work: Path, iters: int) -> float:
    """Run nanoGPT's train.py for ``iters`` iterations; the wall-clock seconds it took."""
    argv = [sys.executable, "train.py", "config/train_shakespeare_char.py", *BABY]
    argv += [f"--max_iters={iters}", f"--lr_decay_iters={iters}", "--out_dir=out"]
    start = time.perf_counter()
    log = work / f"train-{iters}.log"
    with open(log, "w") as f:
        subprocess.run(argv, cwd=work, stdout=f, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


class Scored(nn.Module):
    """nanoGPT's model as rnnlab's evaluation reads a model: ``forward(ids, state)`` -> (logits
    for every position, None), a ``context`` and a ``vocab``."""

    def __init__(self, gpt: nn.Module, vocab: Vocabulary, context: int) -> None:
        super().__init__()
        self.gpt, self.vocab, self.context = gpt, vocab, context

    def forward(self, ids, state=None):
        logits, _ = self.gpt(ids, targets=ids)  # with targets, nanoGPT returns every position
        return logits, None


def score(work: Path, text: str) -> tuple[float, dict]:
    sys.path.insert(0, str(work))
    from model import GPT, GPTConfig  # nanoGPT's model.py, from the checkout

    checkpoint = torch.load(work / "out" / "ckpt.pt", map_location="cpu", weights_only=True)
    gpt = GPT(GPTConfig(**checkpoint["model_args"]))
    state = {k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()}
    gpt.load_state_dict(state)
    vocab = Vocabulary.build("char", text)
    val = vocab.encode(text[int(len(text) * 0.9) :])
    model = Scored(gpt, vocab, checkpoint["model_args"]["block_size"])
    report = evaluate(model, val)
    info = {"iter_num": checkpoint["iter_num"], "own_val_loss": float(checkpoint["best_val_loss"])}
    return report.per_unit, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nanogpt", required=True, type=Path, help="a nanoGPT checkout")
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--text", type=Path, default=SHARED_DATA / "tinyshakespeare.txt")
    parser.add_argument("--work", type=Path, default=Path("/tmp/rnnlab-nanogpt"))
    args = parser.parse_args()
    text = args.text.read_text(encoding="utf-8")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    for name in ("train.py", "model.py", "configurator.py", "config/train_shakespeare_char.py"):
        (args.work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.nanogpt / name, args.work / name)
    prepare(args.work, text)
    start_peaks = peaks(quick=True)
    short, long = CALIBRATION_ITERS
    times = []
    for iters in CALIBRATION_ITERS:
        times.append(train(args.work, iters))
        shutil.rmtree(args.work / "out")
    per_iter = (times[1] - times[0]) / (long - short)
    startup = times[0] - short * per_iter
    iters = int((args.budget - startup) / per_iter)
    print(f"calibration: {per_iter * 1000:.1f} ms per iteration, {startup:.1f} s start-up: {iters}")
    elapsed = train(args.work, iters)
    val, info = score(args.work, text)
    result = {
        "budget_s": args.budget,
        "iters": iters,
        "calibration_ms_per_iter": per_iter * 1000,
        "calibration_startup_s": startup,
        "elapsed_s": elapsed,
        "val_nats_per_char_sliding_window": val,
        **info,
        "command": " ".join(["train.py config/train_shakespeare_char.py", *BABY]),
        "machine": describe(),
        "peaks_start": start_peaks,
        "peaks_end": peaks(quick=True),
    }
    print(json.dumps(result, indent=1))
    out = Path(__file__).parent / "compare" / f"nanogpt-{args.budget:g}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
