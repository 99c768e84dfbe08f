"""The plain PyTorch programs rnnlab is measured against, written the way a user would.

A character model ``nn.Embedding -> nn.LSTM / nn.GRU (stacked, batch_first) -> nn.Linear``,
trained by truncated BPTT with the state carried and detached, AdamW and gradient clipping, in
float32 (or under bfloat16 autocast, for reference); and two sampling loops: ``nn.LSTM`` called on
one step at a time, and a stack of ``nn.LSTMCell``. None of rnnlab is used here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PlainCharModel(nn.Module):
    def __init__(self, vocab_size: int, cell: str, hidden: int, layers: int, embedding: int):
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.embed = nn.Embedding(vocab_size, embedding)
        self.rnn = rnn(embedding, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, x: Tensor, h=None):
        y, h = self.rnn(self.embed(x), h)
        return self.out(y), h


def plain_train_speed(
    ids: Tensor,
    vocab_size: int,
    cell: str,
    hidden: int,
    layers: int = 2,
    embedding: int = 64,
    batch_size: int = 32,
    seq_len: int = 64,
    seconds: float = 10.0,
    bfloat16: bool = False,
    warmup_steps: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    """Train for ``seconds`` of ``clock`` (after ``warmup_steps``) and return chars/s, the
    steps timed and the last loss."""
    torch.manual_seed(0)
    model = PlainCharModel(vocab_size, cell, hidden, layers, embedding)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    n = (ids.numel() - 1) // batch_size
    x_all = ids[: n * batch_size].view(batch_size, n)
    y_all = ids[1 : n * batch_size + 1].view(batch_size, n)
    h, position, steps, start, loss = None, 0, 0, None, None
    while True:
        if position + seq_len > n:
            position, h = 0, None
        x = x_all[:, position : position + seq_len]
        y = y_all[:, position : position + seq_len]
        position += seq_len
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            logits, h = model(x, h)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        h = tuple(t.detach() for t in h) if isinstance(h, tuple) else h.detach()
        steps += 1
        if steps == warmup_steps:
            start, counted = clock(), steps
        elif start is not None and clock() - start >= seconds:
            break
    elapsed = clock() - start
    return {
        "chars_per_s": (steps - counted) * batch_size * seq_len / elapsed,
        "steps": steps - counted,
        "loss": loss.item(),
    }


@torch.no_grad()
def plain_sample_speed(
    vocab_size: int,
    hidden: int,
    layers: int = 2,
    embedding: int = 64,
    streams: int = 1,
    length: int = 200,
    cells: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Chars/s of multinomial sampling, one step per call, float32: through ``nn.LSTM`` (called
    on a length-1 sequence) or, with ``cells``, through a stack of ``nn.LSTMCell``."""
    torch.manual_seed(0)
    model = PlainCharModel(vocab_size, "lstm", hidden, layers, embedding).eval()
    stack = None
    if cells:
        stack = nn.ModuleList(
            nn.LSTMCell(embedding if i == 0 else hidden, hidden) for i in range(layers)
        ).eval()
    x = torch.zeros(streams, dtype=torch.long)
    state = None

    def step(x, state):
        if stack is None:
            y, state = model.rnn(model.embed(x)[:, None], state)
            return model.out(y[:, 0]), state
        inp, new = model.embed(x), []
        for layer, cell in enumerate(stack):
            h, c = cell(inp, None if state is None else state[layer])
            new.append((h, c))
            inp = h
        return model.out(inp), new

    for _ in range(5):
        logits, state = step(x, state)
    start = clock()
    for _ in range(length):
        logits, state = step(x, state)
        x = torch.multinomial(logits.softmax(-1), 1)[:, 0]
    return streams * length / (clock() - start)
