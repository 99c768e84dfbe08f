"""One rank of the distributed tests (``tests/test_distributed.py`` starts two with torchrun).

Usage: torchrun --standalone --nproc_per_node 2 distributed_worker.py OUT_DIR

Trains a tiny LSTM language model three ways and writes ``rank{r}.json`` into OUT_DIR:
``steps``: the loss and a digest of every parameter after each of 6 steps; ``budget``: the step
each rank stopped at when rank 1's clock runs 50 times fast under a 30 s budget; ``stop``: the
step each rank stopped at when rank 1 alone asks to stop after step 3, the run saved to
OUT_DIR/stopped for the test to resume in one process.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import torch

from rnnlab.tasks.language import Corpus, Trainer, TrainSettings
from rnnlab.training import distributed

TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\n" * 40
SETTINGS = {
    "hidden_size": 16,
    "num_layers": 1,
    "embedding_size": 8,
    "batch_size": 8,
    "seq_len": 16,
    "dropout": 0.0,
    "precision": "float32",
    "lr": 1e-2,
    "warmup": 1,
    "evals": 2,
}


def settings(**changes) -> TrainSettings:
    return TrainSettings(**(SETTINGS | changes))


def digest(model: torch.nn.Module) -> str:
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    return hashlib.sha256(flat.numpy().tobytes()).hexdigest()


def trainer(s: TrainSettings, out=None, **options) -> Trainer:
    return Trainer(
        Corpus.from_text(TEXT, s), s, out, progress=False, echo=lambda _: None, **options
    )


def main(out: Path) -> None:
    torch.set_num_threads(1)
    distributed.start()
    rank = distributed.rank()
    found: dict = {"world": distributed.world_size()}

    steps = []
    run = trainer(
        settings(epochs=1),
        on_step=lambda t, step, loss: steps.append((loss, digest(t.model))),
    )
    run.total_steps = 6
    run.fit()
    found["steps"] = steps

    start = time.perf_counter()
    clock = time.perf_counter
    if rank == 1:  # this rank's clock runs 50 times fast: its budget ends after 0.6 s
        clock = lambda: start + 50 * (time.perf_counter() - start)  # noqa: E731
    found["budget"] = trainer(settings(budget=30.0), clock=clock).fit().steps

    def stop_on_rank_1(t, step, loss):
        if rank == 1 and step == 3:
            t.request_stop()

    stopped = trainer(settings(epochs=2), out / "stopped", on_step=stop_on_rank_1)
    result = stopped.fit()
    found["stop"] = [result.steps, result.stopped]
    (out / f"rank{rank}.json").write_text(json.dumps(found))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
