"""TBPTT streams: every prediction exactly once, in order within each stream."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.data import IGNORE, as_streams, chunk_count, chunks
from rnnlab.data.batches import share, share_bounds


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


@given(st.integers(0, 200), st.integers(1, 9))
def test_shares_are_numpy_array_split_runs_that_cover_everything_once(count, parts):
    expected = np.array_split(np.arange(count), parts)
    for r in range(parts):
        assert list(share(count, (r, parts))) == list(expected[r])
        assert list(share_bounds(count, (r, parts))) == list(expected[r])
