"""minGRU and minLSTM: the parallel scans compute the step-by-step recurrence, everywhere."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnlab
from rnnlab.cells import Cell, MinGRUCell, MinLSTMCell

TIGHT = {"rtol": 1e-10, "atol": 1e-12}
METHODS = ["sequential", "chunked", "log"]


def cell_and_inputs(cls, steps: int, batch: int = 2, size: int = 4, hidden: int = 6):
    cell = cls(size, hidden, dtype=torch.float64)
    x = torch.randn(steps, batch, size, dtype=torch.float64)
    return cell, F.linear(x, cell.weight_ih, cell.bias_ih)


def stepped(cell, gi, state, mask=None, reverse=False):
    """The base class's loop: one ``update`` per step (what generation does)."""
    return Cell.unroll(cell, gi, state, cell.weight_hh, cell.bias_hh, mask, reverse)


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
@pytest.mark.parametrize("steps", [1, 2, 31, 257, 4096])
@pytest.mark.parametrize("with_h0", [False, True])
def test_every_scan_equals_the_step_by_step_loop(cls, steps, with_h0):
    cell, gi = cell_and_inputs(cls, steps)
    h0 = (
        torch.rand(2, 6, dtype=torch.float64) if with_h0 else torch.zeros(2, 6, dtype=torch.float64)
    )
    expected, (final,) = stepped(cell, gi, (h0,))
    for method in METHODS:
        cell.scan_method = method
        output, (last,) = cell.unroll(gi, (h0,), cell.weight_hh, cell.bias_hh)
        tolerance = TIGHT if method != "log" else {"rtol": 1e-9, "atol": 1e-12}
        torch.testing.assert_close(output, expected, **tolerance)
        torch.testing.assert_close(last, final, **tolerance)


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
@pytest.mark.parametrize("method", METHODS)
def test_masked_and_reversed_scans_equal_the_loop(cls, method):
    cell, gi = cell_and_inputs(cls, 9, batch=3)
    mask = torch.arange(9)[:, None] < torch.tensor([9, 4, 1])[None, :]
    h0 = torch.rand(3, 6, dtype=torch.float64)
    cell.scan_method = method
    for reverse in (False, True):
        expected = stepped(cell, gi, (h0,), mask, reverse)
        got = cell.unroll(gi, (h0,), cell.weight_hh, cell.bias_hh, mask, reverse)
        torch.testing.assert_close(got[0], expected[0], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(got[1][0], expected[1][0], rtol=1e-9, atol=1e-12)


def test_the_equations_as_written_in_the_docstrings():
    gru, gi = cell_and_inputs(MinGRUCell, 1)
    h = torch.rand(2, 6, dtype=torch.float64)
    k, v = gi[0].chunk(2, dim=-1)
    z, g = torch.sigmoid(k), torch.where(v >= 0, v + 0.5, torch.sigmoid(v))
    torch.testing.assert_close(gru.update(gi[0], None, (h,))[0], (1 - z) * h + z * g, **TIGHT)
    lstm, gi = cell_and_inputs(MinLSTMCell, 1)
    kf, ki, v = gi[0].chunk(3, dim=-1)
    f, i = torch.sigmoid(kf), torch.sigmoid(ki)
    g = torch.where(v >= 0, v + 0.5, torch.sigmoid(v))
    expected = f / (f + i) * h + i / (f + i) * g
    torch.testing.assert_close(lstm.update(gi[0], None, (h,))[0], expected, **TIGHT)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_a_layer_fed_in_pieces_with_the_state_carried_equals_one_call(cell):
    rnn = rnnlab.Recurrent(cell, 4, 6, num_layers=2, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, 50, 4, dtype=torch.float64)
    whole, h_whole = rnn(x)
    first, h = rnn(x[:, :20])
    rest, h_rest = rnn(x[:, 20:], h)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole, **TIGHT)
    torch.testing.assert_close(h_rest, h_whole, **TIGHT)


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
@pytest.mark.parametrize("method", ["chunked", "log"])
def test_gradients_through_the_scans_are_exact(cls, method):
    cell, _ = cell_and_inputs(cls, 1, size=3, hidden=2)
    cell.scan_method = method
    gi = torch.randn(20, 2, cls.gates * 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.rand(2, 2, dtype=torch.float64, requires_grad=True)

    def run(gi, h0):
        return cell.unroll(gi, (h0,), cell.weight_hh, cell.bias_hh)[0]

    assert torch.autograd.gradcheck(run, (gi, h0))


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("method", METHODS)
def test_8192_steps_stay_finite_in_float32(cell, method):
    rnn = rnnlab.Recurrent(cell, 8, 16, batch_first=True)
    rnn.cell.scan_method = method
    x = torch.randn(2, 8192, 8, requires_grad=True)
    output, h = rnn(x)
    output.square().mean().backward()
    assert torch.isfinite(output).all() and torch.isfinite(h).all()
    assert torch.isfinite(x.grad).all() and torch.isfinite(rnn.weight_ih_l0.grad).all()


def test_minimal_cells_have_no_fused_kernel_to_require():
    with pytest.raises(ValueError, match="no fused kernel for the mingru cell"):
        rnnlab.Recurrent("mingru", 3, 4, fused=True)


def test_minimal_cells_have_no_recurrent_weights():
    rnn = rnnlab.Recurrent("minlstm", 5, 7, num_layers=2)
    assert rnn.weight_hh_l1.shape == (0, 7) and rnn.bias_hh_l0.shape == (0,)
    assert rnn.weight_ih_l1.shape == (21, 7)
    assert sum(p.numel() for p in rnn.parameters()) == 21 * 5 + 21 + 21 * 7 + 21


def test_the_scan_is_a_training_setting_for_every_block_and_only_for_minimal_cells():
    from rnnlab.data import Vocabulary
    from rnnlab.tasks.language import TrainSettings

    settings = TrainSettings(cell="minlstm", block="residual", num_layers=3, scan="log")
    model = settings.build_model(Vocabulary.build("char", "abc"))
    assert [block.rnn.cell.scan_method for block in model.blocks] == ["log"] * 3
    with pytest.raises(ValueError, match="scan applies to mingru and minlstm, not lstm"):
        TrainSettings(cell="lstm", scan="chunked")
    with pytest.raises(ValueError, match="scan must be one of"):
        TrainSettings(cell="mingru", scan="parallel")
