"""Initialisation schemes: each one's defining property, on layers and on standalone cells."""

from __future__ import annotations

import math

import pytest
import torch

import rnnlab

H = 6


def blocks(weight: torch.Tensor) -> list[torch.Tensor]:
    return list(weight.detach().split(H))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_default_is_torch_uniform(cell):
    layer = rnnlab.Recurrent(cell, 3, H, num_layers=2)
    bound = 1 / math.sqrt(H)
    for parameter in layer.parameters():
        assert parameter.abs().max() <= bound
        assert parameter.std() > bound / 4, "weights should be spread over the interval"


@pytest.mark.parametrize("cell", ["rnn", "rnn-relu", "lstm", "gru"])
def test_orthogonal_recurrent_blocks_and_zero_biases(cell):
    layer = rnnlab.Recurrent(
        cell, 3, H, num_layers=2, bidirectional=True, init="orthogonal", dtype=torch.float64
    )
    eye = torch.eye(H, dtype=torch.float64)
    for weight_ih, weight_hh, bias_ih, bias_hh in layer.weight_groups():
        for block in blocks(weight_hh):
            torch.testing.assert_close(block @ block.T, eye)
        assert not torch.allclose(blocks(weight_hh)[0], eye)
        fan_in = weight_ih.shape[1]
        assert weight_ih.abs().max() <= math.sqrt(6 / (H + fan_in))
        assert torch.all(bias_ih == 0) and torch.all(bias_hh == 0)


@pytest.mark.parametrize("cell", ["rnn", "rnn-relu"])
def test_identity_is_irnn(cell):
    layer = rnnlab.Recurrent(cell, 3, H, num_layers=2, init="identity")
    for _, weight_hh, bias_ih, bias_hh in layer.weight_groups():
        assert torch.equal(weight_hh.detach(), torch.eye(H))
        assert torch.all(bias_ih == 0) and torch.all(bias_hh == 0)
    # with zero input the IRNN keeps its state exactly: h_t = relu(h_{t-1}) = h_{t-1} for h >= 0
    irnn = rnnlab.RNN(1, H, nonlinearity="relu", init="identity")
    h0 = torch.rand(1, 1, H)
    _, h = irnn(torch.zeros(50, 1, 1), h0)
    torch.testing.assert_close(h, h0)


@pytest.mark.parametrize("init", ["default", "orthogonal"])
def test_forget_bias_sets_total_forget_gate_bias(init):
    layer = rnnlab.LSTM(3, H, num_layers=2, init=init, forget_bias=1.0)
    for _, _, bias_ih, bias_hh in layer.weight_groups():
        i, f, g, o = (bias_ih + bias_hh).detach().split(H)
        torch.testing.assert_close(f, torch.ones(H))
        others = torch.cat([i, g, o])
        if init == "orthogonal":
            assert torch.all(others == 0)
        else:  # the other gates keep the scheme's own values
            assert others.abs().max() <= 2 / math.sqrt(H) and others.std() > 0


def test_cells_take_the_same_schemes():
    cell = rnnlab.LSTMCell(3, H)
    cell.reset_parameters("orthogonal", forget_bias=1.0)
    torch.testing.assert_close((cell.bias_ih + cell.bias_hh).detach()[H : 2 * H], torch.ones(H))
    for block in blocks(cell.weight_hh):
        torch.testing.assert_close(block @ block.T, torch.eye(H), atol=1e-5, rtol=1e-5)


def test_reset_parameters_reuses_the_constructor_scheme():
    layer = rnnlab.RNN(3, H, init="identity")
    with torch.no_grad():
        layer.weight_hh_l0.fill_(0.5)
    layer.reset_parameters()
    assert torch.equal(layer.weight_hh_l0.detach(), torch.eye(H))


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"init": "he"}, "init"),
        ({"init": "identity"}, "identity"),
        ({"forget_bias": float("nan")}, "forget_bias"),
        ({"forget_bias": 1.0, "bias": False}, "forget_bias"),
    ],
)
def test_bad_schemes_raise(kwargs, named):
    with pytest.raises(ValueError, match=named):
        rnnlab.LSTM(3, H, **kwargs)
