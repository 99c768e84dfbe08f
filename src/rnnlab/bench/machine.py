"""What the machine can do at most: matrix-multiply peak and memory bandwidth, measured.

The peak is the best of ``torch.mm`` and oneDNN with a prepacked weight on square products (on
some CPUs one library is far faster than the other: on AMD processors torch's float32 ``mm``
reached 190 GFLOP/s where oneDNN reached 460). Bandwidth is a streaming read of a tensor far
larger than the caches. Each figure is the best of a few repeats, as timings on a shared machine
only ever err slow.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import torch

from rnnlab.kernels import PreparedLinear


def best_time(fn: Callable[[], object], repeats: int = 5, min_time: float = 0.05) -> float:
    """The fastest of ``repeats`` timings of ``fn()`` (seconds per call, after one warm-up),
    each timing looping ``fn`` long enough (``min_time``) to be measurable."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    inner = max(1, int(min_time / once))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def matmul_gflops(m: int, k: int, n: int, dtype: torch.dtype, repeats: int = 3) -> float:
    """Best GFLOP/s of an (m, k) x (k, n) product in ``dtype`` over torch.mm and oneDNN."""
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    seconds = best_time(lambda: torch.mm(a, b), repeats)
    prepared = PreparedLinear(b.t(), batch_size=m, dtype=dtype)
    if prepared.kernel != "linear":
        seconds = min(seconds, best_time(lambda: prepared(a), repeats))
    return 2 * m * k * n / seconds / 1e9


def read_bandwidth(megabytes: float = 512, repeats: int = 5) -> float:
    """GB/s of a streaming read (a sum over ``megabytes`` of float32): from memory for sizes far
    beyond the caches, from the last-level cache for sizes that fit in it."""
    x = torch.ones(int(megabytes * 2**20) // 4)
    return x.numel() * 4 / best_time(x.sum, repeats) / 1e9


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict:
    """The machine and software a benchmark ran on."""
    info = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512_bf16": bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()),
        "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def peaks(quick: bool = False) -> dict:
    """Measured peaks: float32 and bfloat16 GFLOP/s, one LSTM-step product, read GB/s from
    memory (512 MB) and from cache (8 MB)."""
    size = 2048 if quick else 4096
    return {
        "square_size": size,
        "float32_gflops": matmul_gflops(size, size, size, torch.float32),
        "bfloat16_gflops": matmul_gflops(size, size, size, torch.bfloat16),
        "lstm_step_bfloat16_gflops": matmul_gflops(64, 512, 2048, torch.bfloat16),
        "read_gbps": read_bandwidth(256 if quick else 512),
        "cache_read_gbps": read_bandwidth(8),
    }
