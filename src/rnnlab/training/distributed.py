"""Training across processes and machines: ``torch.distributed``, started by ``torchrun``.

``torchrun`` starts one process (rank) per GPU or CPU share and tells each its ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` and where to meet (``MASTER_ADDR``, ``MASTER_PORT``).
:func:`start` joins the process group from them, once: NCCL when the machine has CUDA (one GPU
per local rank), gloo on CPU. Without them the run is one process and everything below is the
identity. What the training loop builds on it:

- one model: :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients of the
  R ranks in the backward pass, so every rank makes the same update;
- agreed decisions: after every step the ranks exchange their clocks, stop requests and losses
  (:func:`agree_step`); a budget or a Ctrl-C then ends every rank at the same step;
- shares of the data: :func:`share` (the r-th of R near-equal parts of a sequence), and
  :func:`gather_rows` / the rank's slice to save per-rank state as one tensor and read it back
  at another world size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from rnnlab.data import batches


def start() -> bool:
    """Join the process group ``torchrun`` describes (if it describes one of two or more ranks
    and it is not joined yet); returns whether this run is distributed."""
    wanted = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if wanted and dist.is_available() and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return world_size() > 1


def stop() -> None:
    """Leave the process group (at the end of a distributed command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this is rank 0: the one that prints and writes."""
    return rank() == 0


def device() -> torch.device:
    """This rank's device: its GPU (by local rank) when there is CUDA, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def backend() -> str:
    return dist.get_backend() if world_size() > 1 else "none"


def _reduced(values: Sequence[float], op) -> list[float]:
    if world_size() == 1:
        return [float(v) for v in values]
    tensor = torch.tensor(list(values), dtype=torch.float64, device=device())
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def all_sum(values: Sequence[float]) -> list[float]:
    """The sums over the ranks of ``values`` (the same on every rank)."""
    return _reduced(values, dist.ReduceOp.SUM)


def all_max(values: Sequence[float]) -> list[float]:
    return _reduced(values, dist.ReduceOp.MAX)


def agree(ok: bool) -> bool:
    """Whether every rank says ``ok``."""
    return all_max([0.0 if ok else 1.0])[0] == 0.0


def agree_step(loss: float, elapsed: float, stop: bool) -> tuple[float, float, bool]:
    """After a step: the mean loss, the longest clock and whether any rank asks to stop."""
    if world_size() == 1:
        return loss, elapsed, stop
    (total,) = all_sum([loss])
    latest, stopping = all_max([elapsed, float(stop)])
    return total / world_size(), latest, bool(stopping)


def share(count: int, part: tuple[int, int] | None = None) -> np.ndarray:
    """The indices 0..count-1 that rank r of R takes (:func:`rnnlab.data.batches.share`;
    ``part`` defaults to this rank's)."""
    return batches.share(count, part if part is not None else (rank(), world_size()))


def gather_rows(tensor: Tensor, dim: int) -> Tensor:
    """Every rank's ``tensor``, joined along ``dim`` in rank order (the shares may differ in size
    along ``dim`` by one, as :func:`share` makes them)."""
    world = world_size()
    if world == 1:
        return tensor
    sizes = [int(s) for s in every_rank(tensor.shape[dim])]
    padded = torch.zeros(
        *tensor.shape[:dim],
        max(sizes),
        *tensor.shape[dim + 1 :],
        dtype=tensor.dtype,
        device=tensor.device,
    )
    padded.narrow(dim, 0, tensor.shape[dim]).copy_(tensor)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p.narrow(dim, 0, n) for p, n in zip(parts, sizes, strict=True)], dim)


def every_rank(value: int) -> list[int]:
    """Every rank's ``value``, in rank order."""
    world = world_size()
    mine = torch.zeros(world, dtype=torch.float64, device=device())
    mine[rank()] = value
    return [int(v) for v in all_sum(mine.tolist())]
