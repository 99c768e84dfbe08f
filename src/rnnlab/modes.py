"""Evaluation mode for a while: ``with evaluating(model): ...`` runs the block with dropout off
(and, by default, no autograd graph), and puts the module back in the mode it was in, even on
an error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn


@contextmanager
def evaluating(model: nn.Module, no_grad: bool = True) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the block, under ``torch.no_grad`` unless ``no_grad`` is
    False (then gradients are as they were); its training flag is restored on the way out."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad() if no_grad else nullcontext():
            yield model
    finally:
        model.train(was_training)
