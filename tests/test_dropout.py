"""Dropout for sequences: a locked mask is one mask for every step, embedding dropout drops
whole symbols, both scale what they keep by 1 / (1 - p) and vanish in eval mode; the recurrent
stack's locked dropout between layers equals torch's one-layer LSTMs with the mask applied by
hand; and the language model's levers are settings of the saved model that leave its weights'
names alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnlab import LanguageModel, Recurrent
from rnnlab.data import Vocabulary
from rnnlab.dropout import SequenceDropout, locked_dropout, symbol_dropout
from rnnlab.tasks.language import TrainSettings, load_model


def test_a_locked_mask_is_the_same_at_every_step():
    torch.manual_seed(0)
    x = torch.ones(8, 50, 40)
    y = locked_dropout(x, 0.3, time_dim=1)
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same mask at every step
    assert y.unique().tolist() == [0.0, pytest.approx(1 / 0.7)]
    dropped = (y[:, 0] == 0).float().mean().item()
    assert 0.2 < dropped < 0.4  # 320 draws of p = 0.3
    time_major = locked_dropout(torch.ones(50, 8, 40), 0.3, time_dim=0)
    assert torch.equal(time_major, time_major[:1].expand_as(time_major))


def test_plain_dropout_draws_a_mask_per_step():
    torch.manual_seed(0)
    y = SequenceDropout(0.3)(torch.ones(8, 50, 40))
    assert not torch.equal(y, y[:, :1].expand_as(y))


def test_sequence_dropout_is_the_identity_in_eval_mode_and_at_zero():
    x = torch.randn(3, 7, 5)
    drop = SequenceDropout(0.5, locked=True).eval()
    assert torch.equal(drop(x), x)
    assert torch.equal(locked_dropout(x, 0.0), x)
    assert torch.equal(symbol_dropout(x, torch.zeros(3, 7, dtype=torch.long), 4, 0.5, False), x)
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        SequenceDropout(1.0)


def test_embedding_dropout_drops_every_occurrence_of_a_symbol():
    torch.manual_seed(1)
    ids = torch.randint(0, 10, (6, 30))
    x = torch.ones(6, 30, 4)
    y = symbol_dropout(x, ids, 10, 0.4, training=True)
    for symbol in range(10):
        values = y[ids == symbol]
        if len(values):
            assert values.unique().numel() == 1  # one factor for the symbol, everywhere
            assert values[0, 0].item() in (0.0, pytest.approx(1 / 0.6))
    assert (y == 0).any() and (y != 0).any()


def test_locked_dropout_between_layers_is_torch_lstms_with_the_mask_by_hand():
    torch.manual_seed(0)
    stack = Recurrent("lstm", 5, 7, 3, dropout=0.4, locked_dropout=True).train()
    x = torch.randn(11, 4, 5)
    torch.manual_seed(3)
    output, (h, c) = stack(x)

    layers = []
    for layer in range(3):
        lstm = nn.LSTM(5 if layer == 0 else 7, 7)
        lstm.load_state_dict(
            {
                f"{k}_l0": getattr(stack, f"{k}_l{layer}")
                for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            }
        )
        layers.append(lstm)
    torch.manual_seed(3)
    y, finals = x, []
    for layer, lstm in enumerate(layers):
        y, final = lstm(y)
        finals.append(final)
        if layer < 2:  # the mask torch's seed gives next: one per sequence and unit
            y = y * torch.empty(1, 4, 7).bernoulli_(0.6).div_(0.6)
    torch.testing.assert_close(output, y)
    torch.testing.assert_close(h, torch.cat([f[0] for f in finals]))
    torch.testing.assert_close(c, torch.cat([f[1] for f in finals]))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_fused_and_the_stepped_locked_stacks_agree(cell):
    torch.manual_seed(0)
    fused = Recurrent(cell, 5, 6, 2, dropout=0.5, locked_dropout=True, weight_drop=0.2)
    stepped = Recurrent(
        cell, 5, 6, 2, dropout=0.5, locked_dropout=True, weight_drop=0.2, fused=False
    )
    stepped.load_state_dict(fused.state_dict())
    x = torch.randn(9, 3, 5)
    torch.manual_seed(5)
    a = fused(x, lengths=[9, 4, 6])
    torch.manual_seed(5)
    b = stepped(x, lengths=[9, 4, 6])
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


def _model(**levers) -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(Vocabulary.build("char", "abcdefgh" * 4), "lstm", 12, 2, 6, 0.3, **levers)


LEVERS = {"locked_dropout": True, "input_dropout": 0.2, "embedding_dropout": 0.25}


@pytest.mark.parametrize("block", ["plain", "residual"])
def test_the_levers_leave_eval_deterministic_and_the_weights_names_alone(block):
    plain, levered = _model(block=block), _model(block=block, **LEVERS)
    assert plain.state_dict().keys() == levered.state_dict().keys()
    levered.load_state_dict(plain.state_dict())
    ids = torch.randint(0, 8, (3, 10))
    plain.eval(), levered.eval()
    torch.testing.assert_close(levered(ids)[0], plain(ids)[0])
    levered.train()
    torch.manual_seed(2)
    first = levered(ids)[0]
    torch.manual_seed(2)
    assert torch.equal(levered(ids)[0], first)  # seeded masks
    assert not torch.allclose(first, levered(ids)[0])  # fresh masks each pass


def test_the_levers_are_settings_of_the_saved_model(tmp_path):
    settings = TrainSettings(num_layers=2, **LEVERS)
    model = settings.build_model(Vocabulary.build("char", "abcabc"))
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.rnn.locked_dropout and loaded.drop.locked and loaded.drop_input.p == 0.2
    assert loaded.embedding_dropout == 0.25


def test_the_levers_apply_to_the_recurrent_model_only():
    with pytest.raises(ValueError, match="--locked-dropout applies to the recurrent model"):
        TrainSettings(arch="transformer", locked_dropout=True)
    with pytest.raises(ValueError, match="embedding_dropout must be in"):
        TrainSettings(embedding_dropout=1.0)
