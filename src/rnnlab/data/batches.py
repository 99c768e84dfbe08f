"""Batches of sequences of different lengths: length-bucketed order, and padding.

A batch is padded to its longest sequence and the lengths travel with it, so padded steps can be
left out (by the recurrent layers) and padded targets ignored (by the loss, at ``IGNORE``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

IGNORE = -100  # the cross-entropy's ignore_index: a target that is padding, not data


def bucket_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator, pool: int = 50
) -> list[list[int]]:
    """Shuffled batches of similar lengths: shuffle, cut into pools of ``pool`` batches, sort
    each pool by length, cut it into batches, shuffle the batches. Padding then costs little
    while every epoch still sees a new order."""
    order = rng.permutation(len(lengths))
    batches = []
    size = batch_size * pool
    for start in range(0, len(order), size):
        part = sorted(order[start : start + size].tolist(), key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def share_bounds(count: int, part: tuple[int, int]) -> range:
    """The indices 0..count-1 that part r of R takes (``part`` = (r, R)), as a range: the r-th
    of R near-equal contiguous runs, the first ``count % R`` runs one longer (as
    ``numpy.array_split`` cuts them). Distributed ranks share streams, batches and evaluation
    windows by it."""
    r, parts = part
    size, longer = divmod(count, parts)
    first = r * size + min(r, longer)
    return range(first, first + size + (r < longer))


def share(count: int, part: tuple[int, int]) -> np.ndarray:
    """:func:`share_bounds` as an array of indices."""
    bounds = share_bounds(count, part)
    return np.arange(bounds.start, bounds.stop)


def pad(sequences: Sequence[Tensor], value: int = 0) -> tuple[Tensor, Tensor]:
    """ids (B, T) padded with ``value`` to the longest sequence, and lengths (B,); sequences of
    vectors (n, C), such as numeric series, give (B, T, C) of their dtype."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    if lengths.numel() and lengths.min() < 1:
        raise ValueError("cannot pad an empty sequence")
    first = sequences[0]
    dtype = first.dtype if first.is_floating_point() else torch.int64
    shape = (len(sequences), int(lengths.max()), *first.shape[1:])
    ids = torch.full(shape, value, dtype=dtype)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
    return ids, lengths
