"""How much one request may ask for: the memory rule and the input limits, in one place.

The memory rule: a request whose estimated memory is more than the memory available now is
refused before anything is allocated. Available memory is ``MemAvailable`` in
``/proc/meminfo``, or the physical memory where that file is missing. The estimates are
lower bounds, so what passes can still be tight, but what is refused could never have run:

- training: parameters x ``TRAINING_BYTES_PER_PARAMETER`` (float32 weights, gradients and the
  two AdamW moments);
- backpropagation through T steps: batch x T x hidden x ``GRAPH_BYTES_PER_UNIT_STEP`` (the
  values a gated cell keeps per unit and step for its backward pass);
- sampling: outputs x their size.

The disk rule is the same for what a command writes in bulk (a made speech data set): its
estimated size against the free space of the file system it goes to (:func:`require_disk`).

The size limits: a layer is at most ``MAX_WIDTH`` units wide (hidden or embedding) and a network
at most ``MAX_LAYERS`` deep, so that a size is checked against memory, on the meta device, before
anything is built (a width of 10^23 overflows PyTorch's shapes; a billion layers would take
hours just to describe).

The input limits: one text a model reads at once (to classify, translate or watch) has at most
``MAX_TEXT_SYMBOLS`` symbols, because its hidden states are all kept; a numeric series, at most
``MAX_SERIES_STEPS`` steps, for the same reason. Outputs asked for in
thousands (``--count``, ``--streams``) are made and printed in batches of ``OUTPUT_BATCH``. A
beam is at most ``MAX_BEAM`` wide, and a decoder writes at most ``MAX_DECODED`` tokens for one
sequence (an untrained one may never write its end token).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

TRAINING_BYTES_PER_PARAMETER = 16
MAX_WIDTH = 2**20
MAX_LAYERS = 1024
GRAPH_BYTES_PER_UNIT_STEP = 64  # 16 float32 values
MAX_TEXT_SYMBOLS = 100_000
MAX_SERIES_STEPS = 100_000
OUTPUT_BATCH = 256
MAX_BEAM = 256
MAX_DECODED = 10_000


def available_memory() -> int:
    """Bytes of memory available to a new allocation now."""
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def require_memory(nbytes: float, what: str) -> None:
    """Refuse ``what`` (a phrase: "training this model") when it needs more than is available."""
    free = available_memory()
    if nbytes > free:
        raise ValueError(
            f"{what} needs about {_size(nbytes)} of memory; {_size(free)} is available"
        )


def require_disk(nbytes: float, folder: str | Path, what: str) -> None:
    """Refuse ``what`` when it would write more than the file system of ``folder`` (or of the
    nearest folder above it that exists) has free."""
    existing = Path(folder).resolve()
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if nbytes > free:
        raise ValueError(f"{what} needs about {_size(nbytes)} of disk; {_size(free)} is free")


def check_text_length(length: int, what: str = "a text", limit: int = MAX_TEXT_SYMBOLS) -> None:
    """Refuse a text of more than ``limit`` symbols."""
    if length > limit:
        raise ValueError(
            f"{what} has {length:,} symbols; at most {limit:,} are read at once "
            "(split it into lines)"
        )


def check_series_length(length: int, what: str = "a series") -> None:
    """Refuse a numeric series of more than ``MAX_SERIES_STEPS`` steps."""
    if length > MAX_SERIES_STEPS:
        raise ValueError(
            f"{what} has {length:,} steps; at most {MAX_SERIES_STEPS:,} are read at once"
        )


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:,.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.1f} MiB"
