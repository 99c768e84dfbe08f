"""Evaluation mode for a while: ``with evaluating(model): ...`` runs the block with dropout off
and no autograd graph, and puts the module back in the mode it was in, even on an error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def evaluating(model: nn.Module, grad: bool = False) -> Iterator[nn.Module]:
    """``model`` in eval mode (and, unless ``grad``, under ``torch.no_grad``) inside the block;
    its training flag is restored on the way out."""
    was_training = model.training
    model.eval()
    try:
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            yield model
    finally:
        model.train(was_training)
