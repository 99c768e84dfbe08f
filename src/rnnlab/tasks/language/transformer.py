"""A causal transformer language model: the opponent the recurrent models are measured against.

    x_0 = E[s_t] (+ P[t], learned positions)                         E: V x H, tied to the output
    per block:  x = x + dropout(W_o Attention(LayerNorm(x)))           causal, ``heads`` heads
                x = x + dropout(W_2 GELU(W_1 LayerNorm(x)))             W_1: H -> 4H, W_2: 4H -> H
    p(s_{t+1} | s_<=t) = softmax(E LayerNorm(x_L))

Attention is :func:`torch.nn.functional.scaled_dot_product_attention` over queries and keys
that, with rotary positions, are rotated by their position (RoFormer: pairs of dimensions turned
by t * 10000^(-2i/d)). Pre-norm blocks, no biases in the linear maps, weights drawn from
N(0, 0.02) and the residual projections scaled by 1/sqrt(2L), as in GPT-2.

The model sees at most ``context`` symbols. A text longer than that is read by a sliding
window that keeps the last ``context // 2`` symbols when it is full, so every symbol is
predicted from at least half a context: :func:`window_starts` lays the windows out for
evaluation and :meth:`TransformerLM.step_function` (a key/value cache) follows the same rule
symbol by symbol, so generation and evaluation see the same contexts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.checks import check_choice
from rnnlab.data.vocab import Vocabulary
from rnnlab.generation import Step
from rnnlab.kernels import resolve_precision
from rnnlab.tasks.language.next_symbol import NextSymbolModel
from rnnlab.training.setup import autocast

POSITIONS = ("learned", "rotary")

#: a key/value cache: per block, (keys, values), each (B, heads, n, H / heads)
Cache = list[tuple[Tensor, Tensor]]


def kept(context: int) -> int:
    """The symbols a full window keeps when it slides: half the context."""
    return context // 2


def window_starts(length: int, context: int) -> range:
    """The starts of the windows that score ``length`` - 1 predictions (of ids[1:] from ids):
    window k reads ids[s_k : s_k + context] and scores its predictions from position
    ``kept(context)`` on (the first window scores all of them), with s_k = k (context - kept).
    A range, so that a text of any length costs no memory here."""
    stride = context - kept(context)
    count = 1 + max(0, math.ceil((length - 1 - context) / stride))
    return range(0, count * stride, stride)


def check_shape(hidden_size: int, heads: int, positions: str) -> None:
    """Refuse a width that the heads do not divide, or an odd head size for rotary positions."""
    check_choice("positions", positions, POSITIONS)
    if heads < 1 or hidden_size % heads:
        raise ValueError(f"hidden_size {hidden_size} is not a multiple of {heads} heads")
    if positions == "rotary" and (hidden_size // heads) % 2:
        raise ValueError(f"rotary positions need an even head size, got {hidden_size // heads}")


class Rotary(nn.Module):
    """Rotary position embedding for heads of size ``size`` (even) at positions < ``context``."""

    def __init__(self, size: int, context: int, base: float = 10000.0) -> None:
        super().__init__()
        frequencies = base ** (-torch.arange(0, size, 2, dtype=torch.float32) / size)
        angles = torch.outer(torch.arange(context, dtype=torch.float32), frequencies)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: Tensor, start: int) -> Tensor:
        """x (B, heads, T, size) at positions start .. start + T - 1, rotated."""
        cos = self.cos[start : start + x.shape[-2]].to(x.dtype)
        sin = self.sin[start : start + x.shape[-2]].to(x.dtype)
        first, second = x[..., 0::2], x[..., 1::2]
        return torch.stack(
            (first * cos - second * sin, first * sin + second * cos), dim=-1
        ).flatten(-2)


class Block(nn.Module):
    """One pre-norm block: causal self-attention, then the feed-forward layer."""

    def __init__(self, size: int, heads: int, dropout: float, rotary: Rotary | None) -> None:
        super().__init__()
        self.heads, self.dropout, self.rotary = heads, dropout, rotary
        self.norm_attention = nn.LayerNorm(size)
        self.qkv = nn.Linear(size, 3 * size, bias=False)
        self.attention_out = nn.Linear(size, size, bias=False)
        self.norm_ffn = nn.LayerNorm(size)
        self.ffn_in = nn.Linear(size, 4 * size, bias=False)
        self.ffn_out = nn.Linear(4 * size, size, bias=False)

    def forward(
        self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x (B, T, H) following the ``cache`` of earlier positions -> (B, T, H), and the cache
        with these T positions added.

        Written with the functional forms of the layers' weights (no submodule calls, one
        reshape for the heads): a step of generation is a few dozen small operations, and the
        calls through the modules cost as much as their arithmetic."""
        batch, length, size = x.shape
        start = 0 if cache is None else cache[0].shape[2]
        q, k, v = (
            F.linear(self._normed(self.norm_attention, x), self.qkv.weight)
            .view(batch, length, 3, self.heads, size // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        if self.rotary is not None:
            q, k = self.rotary(q, start), self.rotary(k, start)
        if cache is not None:
            k, v = torch.cat((cache[0], k), dim=2), torch.cat((cache[1], v), dim=2)
        mask = None  # one query sees every key; a window from position 0 is causal
        if cache is not None and length > 1:  # queries at start.., keys at 0..: from the corner
            mask = torch.ones(length, start + length, dtype=torch.bool, device=x.device)
            mask = mask.tril(diagonal=start)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=cache is None,  # (no Python test of a size: an export traces this)
        )
        y = F.linear(y.transpose(1, 2).reshape(batch, length, size), self.attention_out.weight)
        x = x + self._dropped(y)
        y = F.gelu(F.linear(self._normed(self.norm_ffn, x), self.ffn_in.weight))
        return x + self._dropped(F.linear(y, self.ffn_out.weight)), (k, v)

    @staticmethod
    def _normed(norm: nn.LayerNorm, x: Tensor) -> Tensor:
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)

    def _dropped(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.dropout, training=True) if self.training else x


class TransformerLM(NextSymbolModel):
    """A causal transformer over a :class:`~rnnlab.data.Vocabulary`; see the module docstring.

    Args:
        vocab: the symbols the model reads and predicts.
        hidden_size: width of the blocks (and of the tied embedding); a multiple of ``heads``.
        num_layers: blocks.
        heads: attention heads per block.
        context: the most symbols one prediction sees.
        dropout: on the embeddings, the attention weights and both residual branches.
        positions: ``learned`` (a table of ``context`` position vectors) or ``rotary``.
    """

    FORMAT = "rnnlab.transformer_lm"
    KIND = "transformer language model"
    DATA = ("vocab",)

    def __init__(
        self,
        vocab: Vocabulary,
        hidden_size: int,
        num_layers: int,
        heads: int = 4,
        context: int = 64,
        *,
        dropout: float,
        positions: str = "learned",
    ) -> None:
        super().__init__()
        check_shape(hidden_size, heads, positions)
        if context < 2:
            raise ValueError(f"context must be at least 2, got {context}")
        self.vocab, self.context = vocab, context
        self.settings = self.constructor_arguments(locals())
        self.embedding = nn.Embedding(len(vocab), hidden_size)
        self.position = nn.Embedding(context, hidden_size) if positions == "learned" else None
        rotary = Rotary(hidden_size // heads, context) if positions == "rotary" else None
        self.blocks = nn.ModuleList(
            Block(hidden_size, heads, dropout, rotary) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.drop = nn.Dropout(dropout)
        self._initialise()

    def _initialise(self) -> None:
        for name, parameter in self.named_parameters():
            if parameter.dim() < 2:
                continue  # LayerNorm: ones and zeros
            std = 0.02
            if name.endswith(("attention_out.weight", "ffn_out.weight")):
                std /= math.sqrt(2 * len(self.blocks))
            nn.init.normal_(parameter, 0.0, std)

    def forward(self, ids: Tensor, state=None) -> tuple[Tensor, None]:
        """ids (B, T), T <= context -> logits (B, T, V), and None (no state is carried: the
        signature is the recurrent model's, so the same training loop serves both)."""
        logits, _ = self.run(ids)
        return logits, None

    def run(self, ids: Tensor, cache: Cache | None = None) -> tuple[Tensor, Cache]:
        """ids (B, T) following the positions in ``cache`` (none: from position 0) -> logits
        (B, T, V) and the cache with these positions added; the window must stay within
        ``context``."""
        start = 0 if cache is None else cache[0][0].shape[2]
        if start + ids.shape[1] > self.context:
            raise ValueError(
                f"{start + ids.shape[1]} positions exceed the context of {self.context}"
            )
        x = self.embedding(ids)
        if self.position is not None:
            x = x + self.position.weight[start : start + ids.shape[1]]
        x = self.drop(x)
        new: Cache = []
        for layer, block in enumerate(self.blocks):
            x, entry = block(x, None if cache is None else cache[layer])
            new.append(entry)
        return F.linear(self.norm(x), self.embedding.weight), new

    def step_function(
        self, batch_size: int = 1, precision: str = "auto", fused: bool = False
    ) -> Step:
        """``step(ids (B, T), state) -> (logits (B, T, V), state)`` with a key/value cache.

        The state is (the ids in the window, the cache). A window that is full keeps its last
        ``context // 2`` ids and their cache is computed afresh (learned positions are
        absolute in the window), so every prediction sees at least half a context: the same
        contexts as the sliding-window evaluation.

        ``auto`` is float32 on a CPU, as in training: at these widths bfloat16 autocast only
        adds conversions (one step of a 4 x 128 model took 1.78 ms under it and 0.87 ms
        without, on the bench's AMD EPYC, which has native bfloat16). ``fused`` is accepted
        and ignored: the transformer's step is not compiled (its cache grows with the window).
        """
        if precision == "auto" and self.device.type == "cpu":
            precision = "float32"
        precision = resolve_precision(precision, self.device)
        keep = kept(self.context)

        @torch.no_grad()
        def step(ids: Tensor, state=None):
            window, cache = state if state is not None else (ids[:, :0], None)
            pieces, done = [], 0
            with autocast(precision, ids.device):
                while done < ids.shape[1]:
                    if window.shape[1] == self.context:
                        window = window[:, -keep:]
                        _, cache = self.run(window)
                    piece = ids[:, done : done + self.context - window.shape[1]]
                    logits, cache = self.run(piece, cache)
                    pieces.append(logits.float())
                    window, done = torch.cat((window, piece), dim=1), done + piece.shape[1]
            return torch.cat(pieces, dim=1), (window, cache)

        step.precision, step.kernel = precision, "scaled_dot_product_attention"
        return step
