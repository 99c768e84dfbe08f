"""Training with dropout between layers: torch's multi-layer LSTM kernel against one kernel call
per layer with the dropout between (what ``rnnlab.Recurrent`` does when it trains with dropout).

    python benchmarks/dropout_kernel.py

A 2 x 512 LSTM on 64-wide inputs, 32 sequences of 64 steps, under bfloat16 autocast where the
CPU has it natively: milliseconds per forward and backward pass, the best of three rounds of 15
after 3 of warm-up. The multi-layer kernel is reached through ``rnnlab.Recurrent`` with torch's
own dropout (the path taken before), the per-layer one is ``Recurrent`` as it is.
"""

from __future__ import annotations

import time

import torch

from rnnlab import Recurrent
from rnnlab.kernels import resolve_precision


def milliseconds(rnn: Recurrent, x: torch.Tensor, precision: str, steps: int = 15) -> float:
    """Best of three rounds: ms per forward and backward pass of ``rnn`` on ``x``."""
    rnn.train()
    best = float("inf")
    for _ in range(3):
        for i in range(steps + 3):
            if i == 3:
                start = time.perf_counter()
            with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bfloat16"):
                y, _ = rnn(x)
            y.float().sum().backward()
        best = min(best, (time.perf_counter() - start) / steps * 1000)
    return best


def multi_layer(rnn: Recurrent, x: torch.Tensor):
    """The forward pass through torch's multi-layer kernel with its own dropout."""
    kernel = rnn.cell.fused_kernel
    state = [x.new_zeros(rnn.num_layers, x.shape[1], rnn.hidden_size)] * 2
    output, *_ = kernel(x, state, rnn.flat_weights(), True, rnn.num_layers, rnn.dropout,
                        rnn.training, False, False)  # fmt: skip
    return output, None


def main() -> None:
    torch.manual_seed(0)
    precision = resolve_precision("auto", torch.device("cpu"))
    x = torch.randn(64, 32, 64)
    for name, dropout, locked, kernel in (
        ("multi-layer kernel, no dropout", 0.0, False, True),
        ("multi-layer kernel, dropout 0.25", 0.25, False, True),
        ("one call per layer, dropout 0.25", 0.25, False, False),
        ("one call per layer, locked dropout 0.25", 0.25, True, False),
    ):
        rnn = Recurrent("lstm", 64, 512, 2, dropout=dropout, locked_dropout=locked)
        if kernel:
            rnn.forward = lambda x, rnn=rnn: multi_layer(rnn, x)
        print(f"{name}: {milliseconds(rnn, x, precision):.1f} ms per update ({precision})")


if __name__ == "__main__":
    main()
