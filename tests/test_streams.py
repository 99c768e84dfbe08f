"""TBPTT streams: every prediction exactly once, in order within each stream."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.data import IGNORE, as_streams, chunk_count, chunks


@given(st.integers(2, 300), st.integers(1, 40), st.integers(1, 50))
def test_streams_hold_every_prediction_once(n, streams, seq_len):
    ids = torch.arange(n) * 7 % 1000
    x, y = as_streams(ids, streams)
    keep = y != IGNORE
    assert int(keep.sum()) == n - 1
    # Row-major, the real (input, target) pairs are the text's consecutive pairs in order.
    assert torch.equal(x[keep], ids[:-1]) and torch.equal(y[keep], ids[1:])
    pieces = list(chunks(x, y, seq_len))
    assert len(pieces) == chunk_count(x, seq_len)
    assert torch.equal(torch.cat([p[0] for p in pieces], dim=1), x)
