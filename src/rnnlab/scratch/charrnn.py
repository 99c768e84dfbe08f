"""A character-level RNN in NumPy: one-hot in, recurrent layers, softmax out, trained by BPTT.

The classic setting (karpathy's min-char-rnn): hidden 100, sequences of 25 characters, Adagrad
with learning rate 0.1, the hidden state carried from one sequence to the next. Here also with
LSTM/GRU cells, stacked layers and B parallel streams (``batch_size``). Weights are saved as
``.npz`` (plain arrays and a JSON string; loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rnnlab.checkpoint import atomic_write
from rnnlab.checks import check_choice
from rnnlab.data.streams import as_streams, chunk, chunk_count
from rnnlab.data.vocab import Vocabulary
from rnnlab.scratch.network import Network
from rnnlab.scratch.optim import OPTIMIZERS, clip_grad_norm
from rnnlab.scratch.output import (
    linear_backward,
    linear_forward,
    softmax,
    softmax_cross_entropy,
)

FORMAT = "rnnlab.scratch.charrnn"


class CharRNN:
    """Next-character model: x_t = onehot(c_t), h_t = layers(x_t, h_{t-1}),
    p(c_{t+1}) = softmax(W_hy h_t + b_y)."""

    def __init__(
        self, vocab: Vocabulary, cell: str = "rnn", hidden: int = 100, layers: int = 1, seed=0
    ) -> None:
        self.vocab = vocab
        size = len(vocab)
        self.net = Network(cell, size, hidden, layers, seed=seed)
        rng = np.random.default_rng(None if seed is None else seed + 1)
        bound = 1.0 / math.sqrt(hidden)
        self.out = {"weight": rng.uniform(-bound, bound, (size, hidden)), "bias": np.zeros(size)}
        self.params = self.net.params | {f"out.{k}": v for k, v in self.out.items()}

    def onehot(self, ids: np.ndarray) -> np.ndarray:
        return np.eye(len(self.vocab))[ids]

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, state=None):
        """x, y (T, B) ids. Mean cross-entropy, gradients for every parameter, final state,
        and dL/dh_t for every step of every layer."""
        hs, finals, caches = self.net.forward(self.onehot(x), state)
        loss, dscores = softmax_cross_entropy(linear_forward(self.out, hs), y)
        out_grads = {k: np.zeros_like(v) for k, v in self.out.items()}
        dhs = linear_backward(self.out, hs, dscores, out_grads)
        grads, _, _, dh = self.net.backward(dhs, caches)
        grads |= {f"out.{k}": v for k, v in out_grads.items()}
        return loss, grads, finals, dh

    def sample(self, prime: str, length: int, temperature: float = 1.0, seed=None) -> str:
        """Feed ``prime``, then sample ``length`` characters, feeding each one back."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        rng = np.random.default_rng(seed)
        ids = self.vocab.encode(prime, what="the prime").numpy()
        hs, state, _ = self.net.forward(self.onehot(ids)[:, None, :])
        out = []
        for _ in range(length):
            p = softmax(linear_forward(self.out, hs[-1, 0]) / temperature)
            next_id = int(rng.choice(len(p), p=p))
            out.append(next_id)
            hs, state, _ = self.net.forward(self.onehot(np.array([[next_id]])), state)
        return self.vocab.decode(out)

    # -- saving ---------------------------------------------------------------------------------

    def config(self) -> dict:
        net = self.net
        return {
            "format": FORMAT,
            "cell": net.cell_name,
            "hidden": net.hidden_size,
            "layers": net.num_layers,
            "vocab": self.vocab.to_json(),
        }

    def save(self, path: str | Path) -> None:
        """Write the weights and config as ``.npz``, atomically (temporary file, then rename)."""
        buffer = io.BytesIO()
        np.savez(buffer, config=np.array(json.dumps(self.config())), **self.params)
        atomic_write(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> CharRNN:
        try:
            with np.load(path, allow_pickle=False) as data:
                config = json.loads(str(data["config"]))
                arrays = {k: data[k] for k in data.files if k != "config"}
        except FileNotFoundError:
            raise ValueError(f"weights file not found: {path}") from None
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"{path} is not a scratch model file ({error})") from None
        if config.get("format") != FORMAT:
            raise ValueError(f"{path} is not a scratch character model")
        model = cls(
            Vocabulary.from_json(config["vocab"]),
            config["cell"],
            config["hidden"],
            config["layers"],
        )
        if set(arrays) != set(model.params) or any(
            arrays[k].shape != v.shape for k, v in model.params.items()
        ):
            raise ValueError(f"{path} does not fit its config")
        for k, v in model.params.items():
            v[...] = arrays[k]
        return model


@dataclass
class ScratchResult:
    steps: int
    chars: int
    elapsed: float
    first_loss: float
    smooth_loss: float  # exponential moving average of the loss, as min-char-rnn reports it

    @property
    def chars_per_second(self) -> float:
        return self.chars / self.elapsed


BUDGET = 60.0  # seconds ``rnnlab scratch-train`` trains for when given no steps or budget


def train(
    model: CharRNN,
    text: str,
    *,
    seq_len: int = 25,
    batch_size: int = 1,
    optimizer: str = "adagrad",
    lr: float = 0.1,
    clip: float = 5.0,
    steps: int | None = None,
    budget: float | None = None,
    sample_every: int = 1000,
    sample_length: int = 200,
    echo: Callable[[str], object] = tqdm.write,
    progress: bool = True,
) -> ScratchResult:
    """Truncated BPTT over ``text``: B streams, chunks of ``seq_len``, state carried."""
    if steps is None and budget is None:
        raise ValueError("give steps or budget")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    ids = model.vocab.encode(text)
    if ids.numel() < batch_size * seq_len + 1:
        raise ValueError(
            f"the text is too short: {ids.numel()} characters, but one batch of {batch_size} "
            f"x {seq_len} needs {batch_size * seq_len + 1}; lower --batch-size or --seq-len"
        )
    xs, ys = (t.numpy() for t in as_streams(ids, batch_size))  # (B, length)
    per_epoch = chunk_count(xs, seq_len)
    opt = OPTIMIZERS[optimizer](lr=lr)
    smooth = first = None
    state, step, chars = None, 0, 0
    prime = "\n" if "\n" in model.vocab.symbols else model.vocab.symbols[0]
    bar = tqdm(total=steps, disable=not progress, unit="step", dynamic_ncols=True)
    start = time.perf_counter()
    try:
        while (steps is None or step < steps) and (
            budget is None or time.perf_counter() - start < budget
        ):
            index = step % per_epoch
            if index == 0:
                state = None
            x, y = (a.T for a in chunk(xs, ys, index, seq_len))  # (T, B)
            loss, grads, state, _ = model.loss_and_grads(x, y, state)
            if not math.isfinite(loss):  # the weights are not changed, nor saved
                raise ValueError(
                    f"the loss is {loss} at step {step + 1}: training diverged and stopped; "
                    "try a lower --lr or --clip"
                )
            if clip > 0:
                clip_grad_norm(grads, clip)
            opt.step(model.params, grads)
            step, chars = step + 1, chars + int((y >= 0).sum())
            first = loss if first is None else first
            smooth = loss if smooth is None else 0.99 * smooth + 0.01 * loss
            rate = chars / (time.perf_counter() - start)
            bar.set_postfix_str(f"loss {smooth:.3f} {rate:,.0f} chars/s", refresh=False)
            bar.update(1)
            if sample_every and step % sample_every == 0:
                echo(
                    f"--- step {step}, loss {smooth:.3f} ---\n" + model.sample(prime, sample_length)
                )
    finally:
        bar.close()
    return ScratchResult(step, chars, time.perf_counter() - start, first, smooth)
