"""rnnlab.Recurrent against torch.nn.RNN/LSTM/GRU, and its own padding, chunking and paths."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence

import rnnlab
from conftest import CELL_CASES, assert_same, make_pair, random_state, state_tuple

I, H, T, B = 4, 5, 7, 3


def run_and_backward(layer, x, hx, weights):
    """Forward, then backward of a fixed random projection of every output; returns all grads."""
    output, state = layer(x, hx)
    states = state_tuple(state)
    loss = (output * weights[0]).sum() + sum(
        (s * w).sum() for s, w in zip(states, weights[1:], strict=True)
    )
    inputs = [x, *state_tuple(hx), *layer.parameters()]
    grads = torch.autograd.grad(loss, inputs)
    return output, states, grads


@pytest.mark.parametrize("cell", list(CELL_CASES))
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("fused", [None, False])
def test_matches_torch_outputs_states_and_gradients(
    cell, layers, bidirectional, batch_first, fused
):
    reference, ours = make_pair(
        cell,
        fused,
        input_size=I,
        hidden_size=H,
        num_layers=layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
    )
    directions = 2 if bidirectional else 1
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    hx = random_state(cell, layers * directions, B, H)
    weights = [torch.randn(*shape[:2], directions * H, dtype=torch.float64)]
    weights += [
        torch.randn(layers * directions, B, H, dtype=torch.float64) for _ in state_tuple(hx)
    ]

    expected = run_and_backward(reference, x, hx, weights)
    actual = run_and_backward(ours, x, hx, weights)
    assert_same(actual, expected)


@pytest.mark.parametrize("cell", list(CELL_CASES))
def test_state_dict_moves_both_ways(cell):
    reference, ours = make_pair(cell, input_size=I, hidden_size=H, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(reference.state_dict())
    ours.reset_parameters("orthogonal")  # new weights, then into a fresh torch layer
    back = CELL_CASES[cell](input_size=I, hidden_size=H, num_layers=2, bidirectional=True)
    back.double().load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I, dtype=torch.float64)
    assert_same(ours(x), back(x))


@pytest.mark.parametrize("cell", list(CELL_CASES))
@pytest.mark.parametrize("fused", [None, False])
def test_unbatched_input_matches_torch(cell, fused):
    reference, ours = make_pair(
        cell, fused, input_size=I, hidden_size=H, num_layers=2, bidirectional=True
    )
    x = torch.randn(T, I, dtype=torch.float64)
    hx = random_state(cell, 4, None, H)
    actual = ours(x, hx)
    assert actual[0].shape == (T, 2 * H)
    assert_same(actual, reference(x, hx))


@pytest.mark.parametrize("cell", list(CELL_CASES))
@pytest.mark.parametrize("fused", [None, False])
def test_packed_sequence_matches_torch(cell, fused):
    reference, ours = make_pair(
        cell, fused, input_size=I, hidden_size=H, num_layers=2, bidirectional=True
    )
    lengths = torch.tensor([3, 7, 5])
    x = torch.randn(T, B, I, dtype=torch.float64)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    hx = random_state(cell, 4, B, H)
    out_ref, state_ref = reference(packed, hx)
    out_ours, state_ours = ours(packed, hx)
    assert torch.equal(out_ours.batch_sizes, out_ref.batch_sizes)
    assert torch.equal(out_ours.sorted_indices, out_ref.sorted_indices)
    assert_same((out_ours.data, state_ours), (out_ref.data, state_ref))


# -- padding ----------------------------------------------------------------------------------


def padded_batch(lengths, steps, left=False):
    """Sequences of the given lengths, padded with large garbage (not zeros) to ``steps``."""
    sequences = [torch.randn(n, I, dtype=torch.float64) for n in lengths]
    x = 1e3 * torch.randn(steps, len(lengths), I, dtype=torch.float64)
    mask = torch.zeros(steps, len(lengths), dtype=torch.bool)
    for b, seq in enumerate(sequences):
        where = slice(steps - len(seq), steps) if left else slice(0, len(seq))
        x[where, b] = seq
        mask[where, b] = True
    return sequences, x, mask


@pytest.mark.parametrize("cell", list(CELL_CASES))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(
    ("padding", "fused"),
    [("lengths", None), ("lengths", False), ("mask", None), ("mask", False), ("left-mask", None)],
)
def test_padding_changes_nothing(cell, bidirectional, padding, fused):
    layer = rnnlab.Recurrent(
        cell, I, H, num_layers=2, bidirectional=bidirectional, fused=fused, dtype=torch.float64
    )
    lengths = [2, 7, 4, 1]
    sequences, x, mask = padded_batch(lengths, T, left=padding == "left-mask")
    directions = 2 if bidirectional else 1
    hx = random_state(cell, 2 * directions, len(lengths), H)
    if padding == "lengths":
        output, state = layer(x, hx, lengths=torch.tensor(lengths))
    else:
        output, state = layer(x, hx, mask=mask)
    states = state_tuple(state)
    assert torch.all(output[~mask] == 0), "outputs at padded steps must be zero"
    for b, seq in enumerate(sequences):
        alone_hx = tuple(s[:, b : b + 1] for s in state_tuple(hx))
        alone_out, alone_state = layer(seq.unsqueeze(1), layer.cell.from_state(alone_hx))
        assert_same(
            (output[mask[:, b], b], *(s[:, b] for s in states)),
            (alone_out[:, 0], *(a[:, 0] for a in state_tuple(alone_state))),
        )


def test_batch_first_mask_and_full_lengths():
    layer = rnnlab.LSTM(I, H, batch_first=True, bidirectional=True, dtype=torch.float64)
    x = torch.randn(B, T, I, dtype=torch.float64)
    plain = layer(x)[0]
    assert_same(layer(x, lengths=[T] * B)[0], plain)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 4:] = False
    masked = layer(x, mask=mask)[0]
    assert_same(masked, layer(x, lengths=[4, T, T])[0])
    assert_same(masked[0, :4], layer(x[:1, :4])[0][0])


# -- chunking and paths -----------------------------------------------------------------------


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    cell=st.sampled_from(list(CELL_CASES)),
    fused=st.sampled_from([None, False]),
    cuts=st.lists(st.integers(1, 15), unique=True, max_size=4),
)
def test_one_call_equals_chunks_with_carried_state(cell, fused, cuts):
    torch.manual_seed(1)
    layer = rnnlab.Recurrent(cell, I, H, num_layers=2, fused=fused, dtype=torch.float64)
    x = torch.randn(16, B, I, dtype=torch.float64)
    whole, whole_state = layer(x)
    pieces, state = [], None
    for start, stop in itertools.pairwise([0, *sorted(cuts), 16]):
        out, state = layer(x[start:stop], state)
        pieces.append(out)
    assert_same((torch.cat(pieces), state), (whole, whole_state))


@pytest.mark.parametrize("cell", list(CELL_CASES))
def test_fused_and_step_paths_agree_and_are_the_ones_taken(cell, monkeypatch):
    fused = rnnlab.Recurrent(cell, I, H, num_layers=2, bidirectional=True, dtype=torch.float64)
    steps = rnnlab.Recurrent(
        cell, I, H, num_layers=2, bidirectional=True, fused=False, dtype=torch.float64
    )
    steps.load_state_dict(fused.state_dict())
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([5, 7, 2])
    expected = [steps(x), steps(x, lengths=lengths)]

    def refuse(*args, **kwargs):
        raise AssertionError("the step-by-step path ran where the fused kernel applies")

    monkeypatch.setattr(rnnlab.Recurrent, "_forward_steps", refuse)
    assert_same([fused(x), fused(x, lengths=lengths)], expected)


def test_non_prefix_mask_falls_back_to_steps_or_refuses_when_fused_forced():
    _, x, mask = padded_batch([3, 7, 5], T, left=True)
    auto = rnnlab.GRU(I, H, dtype=torch.float64)
    forced = rnnlab.GRU(I, H, fused=True, dtype=torch.float64)
    assert auto(x, mask=mask)[0].shape == (T, 3, H)
    with pytest.raises(ValueError, match="fused"):
        forced(x, mask=mask)


@pytest.mark.parametrize("fused", [None, False])
def test_dropout_acts_between_layers_in_training_only(fused):
    layer = rnnlab.LSTM(I, H, num_layers=3, dropout=0.5, fused=fused, dtype=torch.float64)
    plain = rnnlab.LSTM(I, H, num_layers=3, fused=fused, dtype=torch.float64)
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(T, B, I, dtype=torch.float64)
    first, second = layer(x)[0], layer(x)[0]
    assert not torch.allclose(first, second), "training-mode dropout should be random"
    assert not torch.allclose(first, plain(x)[0])
    layer.eval()
    assert_same(layer(x)[0], plain(x)[0])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("fused", [None, False])
def test_weight_drop_is_torch_with_a_masked_w_hh_in_training_only(cell, fused):
    layer = rnnlab.Recurrent(cell, I, H, 2, weight_drop=0.4, fused=fused, dtype=torch.float64)
    reference = CELL_CASES[cell](input_size=I, hidden_size=H, num_layers=2).double()
    x = torch.randn(T, B, I, dtype=torch.float64)
    torch.manual_seed(7)  # the masks the layer draws: one per W_hh, in layer order
    masked = {
        name: torch.nn.functional.dropout(value, 0.4) if "weight_hh" in name else value
        for name, value in layer.state_dict().items()
    }
    reference.load_state_dict(masked)
    torch.manual_seed(7)
    output, state = layer(x)
    expected, expected_state = reference(x)
    assert_same(output, expected)
    assert_same(state_tuple(state), state_tuple(expected_state))
    dropped = masked["weight_hh_l0"] == 0
    assert 0.2 < dropped.double().mean() < 0.6
    output.sum().backward()  # a dropped element gets no gradient, the others do
    assert bool((layer.weight_hh_l0.grad[dropped] == 0).all())
    assert bool((layer.weight_hh_l0.grad[~dropped] != 0).any())
    layer.eval()  # and in eval mode the weights are the weights
    reference.load_state_dict(layer.state_dict())
    assert_same(layer(x)[0], reference(x)[0])


# -- bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"hidden_size": 0}, "hidden_size"),
        ({"input_size": -3}, "input_size"),
        ({"num_layers": 0}, "num_layers"),
        ({"cell": "transformer"}, "cell"),
        ({"cell": "rnn", "nonlinearity": "sigmoid"}, "nonlinearity"),
        ({"cell": "lstm", "nonlinearity": "relu"}, "nonlinearity"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"weight_drop": 1.0}, "weight_drop"),
        ({"fused": "yes"}, "fused"),
        ({"init": "xavier"}, "init"),
        ({"cell": "gru", "init": "identity"}, "identity"),
        ({"cell": "gru", "forget_bias": 1.0}, "forget_bias"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(kwargs, named):
    arguments = {"cell": "lstm", "input_size": I, "hidden_size": H, **kwargs}
    with pytest.raises(ValueError, match=named):
        rnnlab.Recurrent(**arguments)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda m: m(torch.randn(T, B, I + 1)), "input_size"),
        (lambda m: m(torch.randn(T, B, I, 2)), "input"),
        (lambda m: m(torch.randn(T, B, I), torch.zeros(2, B, H)), "hx"),
        (lambda m: m(torch.randn(T, B, I), (torch.zeros(1, B, H), torch.zeros(1, 2, H))), "hx"),
        (lambda m: m(torch.randn(T, B, I), lengths=[3, 0, 2]), "lengths"),
        (lambda m: m(torch.randn(T, B, I), lengths=[3, 8, 2]), "lengths"),
        (lambda m: m(torch.randn(T, B, I), lengths=[3, 2]), "lengths"),
        (lambda m: m(torch.randn(T, B, I), mask=torch.ones(T, B)), "mask"),
        (lambda m: m(torch.randn(T, B, I), mask=torch.zeros(T, B, dtype=torch.bool)), "mask"),
        (
            lambda m: m(
                torch.randn(T, B, I), lengths=[1, 1, 1], mask=torch.ones(T, B, dtype=torch.bool)
            ),
            "lengths",
        ),
    ],
)
def test_invalid_inputs_raise_value_error_naming_them(call, named):
    with pytest.raises(ValueError, match=named):
        call(rnnlab.LSTM(I, H))
