"""What every training loop does alike: the autocast context, AdamW with weight
decay on the weight matrices only (embeddings and projections; biases and other vectors are left
undecayed, as in nanoGPT), and one update that stops before a non-finite loss or gradient."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import nn


def autocast(precision: str, device: torch.device):
    """bfloat16 autocast on ``device`` for ``precision == "bfloat16"``, else a no-op context."""
    if precision == "float32":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def adamw(
    model: nn.Module, lr: float, weight_decay: float, betas=(0.9, 0.999)
) -> torch.optim.AdamW:
    """AdamW over ``model``'s parameters, decaying those with two or more dimensions."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=lr,
        betas=betas,
    )


def update(
    loss: torch.Tensor,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    clip: float,
    diverged: Callable[[str], None],
) -> float:
    """Backpropagate ``loss``, clip the gradient norm to ``clip`` (0: no clipping) and step;
    returns the loss. A non-finite loss or gradient norm (measured with or without clipping)
    calls ``diverged(what)`` (which raises) before the weights change."""
    value = loss.item()
    if not math.isfinite(value):
        diverged(f"the loss became {value}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip > 0 else math.inf)
    if not torch.isfinite(norm):
        diverged(f"the gradient norm became {float(norm)}")
    optimizer.step()
    return value
