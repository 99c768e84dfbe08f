"""The linear-recurrence scans agree with the loop, carry state, and have exact gradients."""

from __future__ import annotations

import pytest
import torch

from rnnlab.scan import log_scan, scan

TIGHT = {"rtol": 1e-10, "atol": 1e-12}
LENGTHS = [1, 2, 7, 33, 100, 1000, 4096]


def reference(a, b, h0):
    """The recurrence, written out: h_t = a_t * h_{t-1} + b_t."""
    h, states = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1)


def inputs(steps: int, positive: bool = False, batch: int = 3, width: int = 5):
    g = torch.Generator().manual_seed(steps)
    a = torch.rand(batch, steps, width, generator=g, dtype=torch.float64)  # (0, 1): decaying
    b = torch.randn(batch, steps, width, generator=g, dtype=torch.float64)
    h0 = torch.randn(batch, width, generator=g, dtype=torch.float64)
    if positive:
        b, h0 = b.abs() + 0.01, h0.abs() + 0.01
    return a, b, h0


@pytest.mark.parametrize("steps", LENGTHS)
@pytest.mark.parametrize("with_h0", [False, True])
def test_every_method_agrees_with_the_loop(steps, with_h0):
    a, b, h0 = inputs(steps)
    expected = reference(a, b, h0 if with_h0 else torch.zeros_like(h0))
    start = h0 if with_h0 else None
    for method, chunk in (("sequential", None), ("chunked", None), ("chunked", 3), ("auto", 8)):
        torch.testing.assert_close(scan(a, b, start, method=method, chunk=chunk), expected, **TIGHT)


@pytest.mark.parametrize("steps", LENGTHS)
@pytest.mark.parametrize("with_h0", [False, True])
def test_log_scan_agrees_with_the_loop(steps, with_h0):
    a, b, h0 = inputs(steps, positive=True)
    expected = reference(a, b, h0 if with_h0 else torch.zeros_like(h0))
    log_h0 = h0.log() if with_h0 else None
    for chunk in (None, 7, 256):
        log_h = log_scan(a.log(), b.log(), log_h0, chunk=chunk)
        torch.testing.assert_close(log_h.exp(), expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize("split", [1, 50, 99])
def test_scanning_in_pieces_with_the_state_carried_equals_one_call(split):
    a, b, h0 = inputs(100, positive=True)
    whole = scan(a, b, h0, method="chunked")
    first = scan(a[:, :split], b[:, :split], h0, method="chunked")
    rest = scan(a[:, split:], b[:, split:], first[:, -1], method="chunked")
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole, **TIGHT)
    log_first = log_scan(a[:, :split].log(), b[:, :split].log(), h0.log())
    log_rest = log_scan(a[:, split:].log(), b[:, split:].log(), log_first[:, -1])
    torch.testing.assert_close(torch.cat([log_first, log_rest], 1).exp(), whole, rtol=1e-9, atol=0)


def test_any_leading_dimensions():
    a, b, h0 = inputs(40)
    folded = scan(a.reshape(3, 1, 40, 5), b.reshape(3, 1, 40, 5), h0.reshape(3, 1, 5))
    torch.testing.assert_close(folded.reshape(3, 40, 5), reference(a, b, h0), **TIGHT)


def test_gradients_are_exact():
    a, b, h0 = inputs(37, positive=True, batch=2, width=3)
    for tensor in (a, b, h0):
        tensor.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b, h: scan(a, b, h, chunk=4), (a, b, h0))
    assert torch.autograd.gradcheck(
        lambda a, b, h: log_scan(a.log(), b.log(), h.log(), chunk=10), (a, b, h0)
    )


def test_long_sequences_stay_finite_and_accurate_in_float32():
    a, b, h0 = inputs(8192, positive=True, batch=2, width=4)
    a = 0.5 + 0.5 * a  # slow decay, so early inputs still count thousands of steps later
    expected = reference(a, b, h0)
    chunked = scan(a.float(), b.float(), h0.float())
    logged = log_scan(a.log().float(), b.log().float(), h0.log().float()).exp()
    for h in (chunked, logged):
        assert torch.isfinite(h).all()
        torch.testing.assert_close(h.double(), expected, rtol=1e-4, atol=0)


def test_bad_arguments_are_named():
    a, b, h0 = inputs(5)
    with pytest.raises(ValueError, match="one shape"):
        scan(a, b[:, :4])
    with pytest.raises(ValueError, match="h0 must have shape"):
        scan(a, b, h0[:, :2])
    with pytest.raises(ValueError, match="method"):
        scan(a, b, method="parallel")
    with pytest.raises(ValueError, match="chunk"):
        log_scan(a.log(), b.abs().log(), chunk=0)
