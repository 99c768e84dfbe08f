"""What one request to the API may take (the bounds of each field are in
:mod:`rnnlab.api.schema`); ``rnnlab serve`` sets them from its options."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    body: int = MIB  # bytes of a JSON body
    audio: int = 4 * MIB  # bytes of a recording to transcribe
    seconds: float = 60.0  # a request's time, from arrival to its last byte
    rows: int = 128  # generation streams stepped together per model (rnnlab.api.batcher)
    queue: int = 512  # streams that may wait for a row; past it, 503
