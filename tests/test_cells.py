"""The cells: gradcheck of every step equation, agreement with torch's cells, running modes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnlab
from conftest import assert_same

I, H, B = 3, 4, 2

TORCH_CELLS = {
    "rnn": lambda bias: nn.RNNCell(I, H, bias, nonlinearity="tanh"),
    "rnn-relu": lambda bias: nn.RNNCell(I, H, bias, nonlinearity="relu"),
    "lstm": lambda bias: nn.LSTMCell(I, H, bias),
    "gru": lambda bias: nn.GRUCell(I, H, bias),
}


def pair(name: str, bias: bool = True):
    """A torch cell and an rnnlab cell with the same weights, both float64."""
    reference = TORCH_CELLS[name](bias).double()
    ours = rnnlab.make_cell(name, I, H, bias, dtype=torch.float64)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


@pytest.mark.parametrize("name", list(TORCH_CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_step_equation(name, bias):
    cell = rnnlab.make_cell(name, I, H, bias, weights=False)
    rows = cell.gates * H

    def leaf(*shape):
        return torch.randn(*shape, dtype=torch.float64, requires_grad=True)

    state = tuple(leaf(B, H) for _ in cell.state_names)
    weights = [leaf(rows, I), leaf(rows, H)] + ([leaf(rows), leaf(rows)] if bias else [])

    def step(x, *rest):
        n = len(cell.state_names)
        state, weights = rest[:n], list(rest[n:]) + [None, None] * (not bias)
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        return cell.recur(F.linear(x, weight_ih, bias_ih), state, weight_hh, bias_hh)

    assert torch.autograd.gradcheck(step, (leaf(B, I), *state, *weights))


@pytest.mark.parametrize("name", list(TORCH_CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_step_matches_torch_cell_batched_and_unbatched(name, bias):
    reference, ours = pair(name, bias)
    x = torch.randn(B, I, dtype=torch.float64)
    for hx in (None, torch.randn(B, H, dtype=torch.float64)):
        if hx is not None and name == "lstm":
            hx = (hx, torch.randn(B, H, dtype=torch.float64))
        assert_same(ours(x, hx), reference(x, hx))
    h0 = torch.randn(H, dtype=torch.float64)
    unbatched_hx = (h0, h0.flip(0)) if name == "lstm" else h0
    assert_same(ours(x[0], unbatched_hx), reference(x[0], unbatched_hx))


@pytest.mark.parametrize("name", list(TORCH_CELLS))
def test_sequence_equals_repeated_steps_and_one_layer_network(name):
    _, cell = pair(name)
    x = torch.randn(6, B, I, dtype=torch.float64)
    outputs, final = cell.sequence(x)
    state = None
    for t in range(6):
        state = cell(x[t], state)
        h = state[0] if name == "lstm" else state
        assert_same(outputs[t], h)
    assert_same(final, state)

    layer = rnnlab.Recurrent(name, I, H, dtype=torch.float64)
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    assert_same(layer(x)[0], outputs)


def test_cell_without_weights_refuses_to_run_alone():
    cell = rnnlab.LSTMCell(I, H, weights=False)
    assert list(cell.parameters()) == []
    with pytest.raises(RuntimeError, match="no weights"):
        cell(torch.randn(B, I))


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: rnnlab.RNNCell(I, 0), "hidden_size"),
        (lambda: rnnlab.GRUCell(0, H), "input_size"),
        (lambda: rnnlab.LSTMCell(I, 2.5), "hidden_size"),
        (lambda: rnnlab.RNNCell(I, H, nonlinearity="sigmoid"), "nonlinearity"),
        (lambda: rnnlab.make_cell("elman", I, H), "cell"),
        (lambda: rnnlab.make_cell("rnn-relu", I, H, nonlinearity="tanh"), "nonlinearity"),
        (lambda: rnnlab.LSTMCell(I, H)(torch.randn(B, I + 1)), "input_size"),
        (lambda: rnnlab.LSTMCell(I, H)(torch.randn(B, I), torch.zeros(B, H)), "hx"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(build, named):
    with pytest.raises(ValueError, match=named):
        build()
