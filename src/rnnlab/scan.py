"""First-order linear recurrences, computed without stepping through time one step at a time.

    h_t = a_t * h_{t-1} + b_t,   t = 1..T,   h_0 given (zeros by default)

element-wise, with a, b of shape (..., T, D) (time second to last, as in batch-first layers) and
h_0 of shape (..., D). When a and b do not depend on h, as in minGRU and minLSTM (Feng et al.
2024), every h_t is a function of the inputs alone and the recurrence can be computed in
parallel. Unrolled,

    h_t = (prod_{k<=t} a_k) h_0 + sum_{j<=t} (prod_{j<k<=t} a_k) b_j.

Three ways to compute it, all giving the same h and differentiable by autograd:

- ``sequential``: the loop, T steps on (..., D) tensors. The reference, and what generation
  does one step at a time.
- ``chunked``: cut time into chunks of C steps. Scan every chunk from a zero state at once
  (C steps on (..., T/C, D) tensors), keeping each chunk's running product of a; the states
  entering the chunks are themselves a linear recurrence over the T/C chunks, solved the same
  way (recursively); then h = local state + running product x entering state. About
  C (1 + log_C T) sequential steps instead of T; any sign of a and b; no division and no
  logarithm (a product of a that underflows becomes 0, its limit). Memory O(T D) per sequence.
- ``log`` (:func:`log_scan`): for positive a, b and h_0, in log space (Heinsen 2023): with
  a*_t = sum_{k<=t} log a_k,

      log h_t = a*_t + logcumsumexp_{j<=t}(log b_j - a*_j)   (j = 0 is log h_0, a*_0 = 0)

  every t at once through ``torch.logcumsumexp``. This is the form the paper trains minGRU and
  minLSTM in; chunks of ``chunk`` steps with the state carried keep a*_t small, so precision
  does not fade for long sequences.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

METHODS = ("auto", "sequential", "chunked", "log")  # "log": log_scan, for positive values


def _check(a: Tensor, b: Tensor, h0: Tensor | None) -> None:
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(
            f"a and b must have one shape (..., T, D), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if h0 is not None and h0.shape != a.shape[:-2] + a.shape[-1:]:
        raise ValueError(
            f"h0 must have shape {tuple(a.shape[:-2] + a.shape[-1:])}, got {tuple(h0.shape)}"
        )


def scan(
    a: Tensor,
    b: Tensor,
    h0: Tensor | None = None,
    *,
    method: str = "auto",
    chunk: int | None = None,
) -> Tensor:
    """h (..., T, D) of h_t = a_t * h_{t-1} + b_t from a, b (..., T, D) and h0 (..., D).

    ``method``: ``sequential``, ``chunked``, or ``auto``: chunked on a GPU beyond 32 steps,
    where every sequential step costs kernel launches; on the CPU chunked only for long
    sequences of small steps (T >= 512 and at most 4,096 elements per step), where the loop's
    per-step overhead dominates, sequential otherwise, where the chunked scan's extra work does
    not pay (forward and backward, B = 32, D = 256, 2-core CPU: 15 ms against 17 ms at
    T = 256; a minGRU language model of width 616 trained 20.6k against 41.7k symbols/s at
    T = 4096, B = 2, and 44.1k against 41.0k at T = 256, B = 32; benchmarks/RESULTS.md).
    ``chunk``: the chunk length C of the chunked scan (default about sqrt(T), at least 8).
    """
    _check(a, b, h0)
    if method not in METHODS[:3]:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if h0 is None:
        h0 = a.new_zeros(a.shape[:-2] + a.shape[-1:])
    steps = a.shape[-2]
    if method == "auto":
        per_step = h0.numel()
        cpu_chunked = steps >= 512 and per_step <= 4096
        gpu_chunked = a.device.type == "cuda" and steps > 32
        method = "chunked" if gpu_chunked or cpu_chunked else "sequential"
    if method == "sequential":
        return _sequential(a, b, h0)
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return _chunked(a, b, h0, chunk or max(8, math.isqrt(steps)))


def _sequential(a: Tensor, b: Tensor, h: Tensor) -> Tensor:
    # unbind, not a[..., t, :]: the backward of T slices would write T full-size gradients
    states = []
    for a_t, b_t in zip(a.unbind(-2), b.unbind(-2), strict=True):
        h = a_t * h + b_t
        states.append(h)
    return torch.stack(states, dim=-2)


def _chunked(a: Tensor, b: Tensor, h0: Tensor, chunk: int) -> Tensor:
    steps = a.shape[-2]
    if steps <= chunk:
        return _sequential(a, b, h0)
    n = -(-steps // chunk)
    pad = n * chunk - steps
    if pad:  # a = 1, b = 0 past the end: the states there are never used
        a = F.pad(a, (0, 0, 0, pad), value=1.0)
        b = F.pad(b, (0, 0, 0, pad), value=0.0)
    lead = a.shape[:-2]
    a = a.reshape(*lead, n, chunk, a.shape[-1])
    b = b.reshape(*lead, n, chunk, b.shape[-1])
    local, product = [], []
    h = b.new_zeros(b.shape[:-2] + b.shape[-1:])  # (..., n, D): every chunk at once
    p = a.new_ones(h.shape)
    for a_t, b_t in zip(a.unbind(-2), b.unbind(-2), strict=True):
        h = a_t * h + b_t
        p = p * a_t  # (a loop: torch.cumprod's backward costs more than these products)
        local.append(h)
        product.append(p)
    local = torch.stack(local, dim=-2)  # (..., n, C, D): each chunk scanned from zero
    product = torch.stack(product, dim=-2)  # (..., n, C, D): a's running product in the chunk
    # The state leaving chunk j is product_j[-1] * (state entering j) + local_j[-1]: a linear
    # recurrence over the chunks, solved by the same scan.
    leaving = _chunked(product[..., -1, :], local[..., -1, :], h0, chunk)  # (..., n, D)
    entering = torch.cat([h0.unsqueeze(-2), leaving[..., :-1, :]], dim=-2)
    h = local + product * entering.unsqueeze(-2)
    return h.reshape(*lead, n * chunk, h.shape[-1])[..., :steps, :]


def log_scan(
    log_a: Tensor, log_b: Tensor, log_h0: Tensor | None = None, *, chunk: int | None = 256
) -> Tensor:
    """log h (..., T, D) of the same recurrence for positive a, b, h0, given their logarithms
    (``log_h0`` None: h0 = 0). Chunks of ``chunk`` steps (None: one chunk) carry the state."""
    _check(log_a, log_b, log_h0)
    steps = log_a.shape[-2]
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    size = chunk or steps
    pieces = []
    for start in range(0, steps, size):
        piece = _log_scan(
            log_a[..., start : start + size, :], log_b[..., start : start + size, :], log_h0
        )
        pieces.append(piece)
        log_h0 = piece[..., -1, :]
    return torch.cat(pieces, dim=-2) if len(pieces) > 1 else pieces[0]


def _log_scan(log_a: Tensor, log_b: Tensor, log_h0: Tensor | None) -> Tensor:
    a_star = torch.cumsum(log_a, dim=-2)
    terms = log_b - a_star
    if log_h0 is None:
        return a_star + torch.logcumsumexp(terms, dim=-2)
    terms = torch.cat([log_h0.unsqueeze(-2), terms], dim=-2)
    return a_star + torch.logcumsumexp(terms, dim=-2)[..., 1:, :]
