"""Benchmarks: rnnlab against plain PyTorch on the same machine (``rnnlab bench``)."""

from rnnlab.bench.suite import SECTIONS, format_tables, run

__all__ = ["SECTIONS", "format_tables", "run"]
