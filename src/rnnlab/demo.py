"""The smoke job behind ``rnnlab demo``: a recurrent network learns to echo its input.

The data are generated on the fly: random symbols x_1..x_T from an alphabet of V, and the target
at step t is x_{t-k}, the symbol k steps back (no target for the first k steps). Echoing needs
a memory of the last k symbols, so accuracy rises above chance (1/V) only if the recurrence
carries information forward in time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from rnnlab.recurrent import Recurrent

IGNORE = -100  # the cross-entropy target index that is left out of the loss


def echo_batch(
    batch: int, steps: int, vocab: int, delay: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Random symbols (B, T) and their echo ``delay`` steps later, IGNORE where there is none."""
    x = torch.randint(vocab, (batch, steps), generator=generator)
    y = torch.full_like(x, IGNORE)
    y[:, delay:] = x[:, :-delay] if delay else x
    return x, y


class EchoTagger(nn.Module):
    """Embedding -> recurrent layer -> linear read-out, one prediction per step."""

    def __init__(self, cell: str, vocab: int, hidden: int, layers: int = 1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.rnn = Recurrent(cell, hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.rnn(self.embed(x))
        return self.head(output)


@dataclass
class DemoResult:
    cell: str
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    accuracy: float
    chance: float


def run_demo(
    cell: str = "lstm",
    hidden: int = 64,
    layers: int = 1,
    steps: int = 300,
    budget: float | None = None,
    delay: int = 3,
    vocab: int = 8,
    seq_len: int = 40,
    batch: int = 32,
    lr: float = 1e-2,
    clip: float = 1.0,
    seed: int = 0,
    echo: Callable[[str], None] = print,
    progress: bool = True,
) -> DemoResult:
    """Train an :class:`EchoTagger` for ``steps`` updates (or ``budget`` seconds) and report.

    Accuracy is measured on a fresh batch after training; ``echo`` receives the printed lines.
    """
    if delay < 0 or delay >= seq_len:
        raise ValueError(f"delay must be in 0..{seq_len - 1}, got {delay}")
    if budget is not None and budget <= 0:
        raise ValueError(f"budget must be a positive number of seconds, got {budget}")
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(seed)
    model = EchoTagger(cell, vocab, hidden, layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    echo(
        f"echo task: repeat each symbol {delay} steps later; {vocab} symbols, "
        f"chance accuracy {1 / vocab:.3f}"
    )
    echo(
        f"model: {cell}, hidden {hidden}, {layers} layer(s), "
        f"{sum(p.numel() for p in model.parameters()):,} parameters"
    )

    start = time.perf_counter()
    first_loss = last_loss = float("nan")
    done = 0
    bar = tqdm(total=steps, disable=not progress, unit="step", leave=False)
    while done < steps and (budget is None or time.perf_counter() - start < budget):
        x, y = echo_batch(batch, seq_len, vocab, delay, data)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        last_loss = loss.item()
        if done == 0:
            first_loss = last_loss
        done += 1
        bar.update()
        bar.set_postfix(loss=f"{last_loss:.3f}")
        if done % max(1, steps // 6) == 0:
            bar.write(f"step {done:5d}  loss {last_loss:.4f}")
    bar.close()
    seconds = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        x, y = echo_batch(256, seq_len, vocab, delay, data)
        predicted = model(x).argmax(-1)
        real = y != IGNORE
        accuracy = (predicted[real] == y[real]).float().mean().item()
    result = DemoResult(cell, done, seconds, first_loss, last_loss, accuracy, 1 / vocab)
    echo(
        f"trained {done} steps in {seconds:.1f} s: loss {first_loss:.3f} -> {last_loss:.3f}, "
        f"echo accuracy {accuracy:.3f} (chance {1 / vocab:.3f})"
    )
    return result
