"""Generation's fast path: prepared products, the stepper, and batched sampling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnlab import LanguageModel, Recurrent, kernels
from rnnlab.data import Vocabulary
from rnnlab.generation import Sampling, generate_batch
from rnnlab.kernels import PreparedLinear
from rnnlab.stepper import Stepper

TEXT = "the quick brown fox jumps over the lazy dog\n" * 3


def model_for(cell="lstm", embedding=8, layers=2, hidden=24, block="plain") -> LanguageModel:
    torch.manual_seed(0)
    vocab = Vocabulary.build("char", TEXT)
    return LanguageModel(vocab, cell, hidden, layers, embedding, block=block).eval()


@pytest.mark.parametrize("rows", [1, 5, 64])
@pytest.mark.parametrize("bias", [True, False])
def test_prepared_linear_is_linear_in_float32_with_and_without_onednn(rows, bias, monkeypatch):
    torch.manual_seed(0)
    w, b, x = torch.randn(48, 32), torch.randn(48), torch.randn(rows, 32)
    expected = F.linear(x, w, b if bias else None)
    prepared = PreparedLinear(w, b if bias else None, batch_size=rows)
    assert torch.allclose(prepared(x), expected, atol=1e-5)
    monkeypatch.setattr(kernels, "_onednn_ops", lambda: None)
    plain = PreparedLinear(w, b if bias else None, batch_size=rows)
    assert plain.kernel == "linear"
    assert torch.allclose(plain(x), expected, atol=1e-5)


def test_prepared_linear_in_bfloat16_is_linear_to_bfloat16_precision():
    torch.manual_seed(0)
    w, b, x = torch.randn(64, 128), torch.randn(64), torch.randn(3, 128)
    out = PreparedLinear(w, b, dtype=torch.bfloat16)(x)
    assert out.dtype == torch.bfloat16
    exact = F.linear(x, w, b)
    # Inputs, weights and result each rounded to 8 significant bits: errors of ~1% of the
    # typical magnitude, never more.
    assert (out.float() - exact).abs().max() < 0.03 * exact.abs().max()
    assert not torch.equal(out.float(), exact)


@pytest.mark.parametrize("cell", ["rnn", "rnn-relu", "lstm", "gru", "mingru", "minlstm"])
@pytest.mark.parametrize("embedding", [8, None])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("block", ["plain", "residual"])
def test_step_function_equals_forward_in_float32(cell, embedding, layers, block):
    model = model_for(cell, embedding, layers, block=block)
    ids = model.vocab.encode(TEXT[:30]).view(2, 15)
    expected, _ = model(ids)
    step = model.step_function(batch_size=2, precision="float32")
    got, state = step(ids[:, :9])
    more, _ = step(ids[:, 9:], state)  # the state carries across calls
    assert torch.allclose(torch.cat([got, more], 1), expected, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_step_function_in_bfloat16_is_close_to_forward(cell):
    model = model_for(cell, hidden=64)
    ids = model.vocab.encode(TEXT[:40]).view(1, 40)
    expected, _ = model(ids)
    got, _ = model.step_function(precision="bfloat16")(ids)
    assert not torch.equal(got, expected)  # it really computes in bfloat16
    assert (got - expected).abs().max() < 2e-2 * expected.abs().max()
    assert (got.softmax(-1) - expected.softmax(-1)).abs().max() < 1e-2


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stepper_state_converts_to_and_from_the_recurrent_layout(cell):
    torch.manual_seed(0)
    rnn = Recurrent(cell, 5, 7, num_layers=2)
    x = torch.randn(4, 3, 5)
    _, final = rnn(x)
    stepper = Stepper(rnn, batch_size=3)
    state = stepper.from_torch(final)
    parts = final if cell == "lstm" else (final,)
    assert len(state) == 2 and all(
        torch.equal(s, p[1]) for s, p in zip(state[1], parts, strict=True)
    )
    back = stepper.to_torch(state)
    back = back if cell == "lstm" else (back,)
    assert all(torch.equal(a, b) for a, b in zip(back, parts, strict=True))
    # Stepping on from that state continues the sequence exactly as the layer would.
    y, _ = rnn(x[:1], final)
    top, _ = stepper(stepper.input_projection(x[0]), state)
    assert torch.allclose(top, y[0], atol=1e-6)


def test_bidirectional_networks_and_bad_precisions_are_refused():
    with pytest.raises(ValueError, match="cannot step"):
        Stepper(Recurrent("gru", 4, 4, bidirectional=True))
    with pytest.raises(ValueError, match="precision"):
        Stepper(Recurrent("gru", 4, 4), precision="float16")


def test_generate_batch_samples_independent_streams_repeatably():
    model = model_for()
    samples = model.generate_batch(8, "the ", 30, seed=3)
    assert len(samples) == 8 and all(len(s) == 30 for s in samples)
    assert len(set(samples)) > 1  # independent draws
    assert model.generate_batch(8, "the ", 30, seed=3) == samples
    greedy = model.generate_batch(3, "the ", 12, greedy=True)
    assert greedy == [model.generate("the ", 12, greedy=True)] * 3
    with pytest.raises(ValueError, match="streams"):
        model.generate_batch(0, "the ", 5)


def test_generate_batch_follows_the_model_distribution():
    # A step function with fixed logits: the sampled frequencies match its softmax.
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])

    def step(ids, state):
        return logits.expand(ids.shape[0], ids.shape[1], 4), state

    ids = generate_batch(
        step,
        torch.zeros(4000, 1, dtype=torch.long),
        2,
        Sampling(),
        torch.Generator().manual_seed(0),
    )
    assert ids.shape == (4000, 2)
    freq = torch.bincount(ids.flatten(), minlength=4).float() / ids.numel()
    assert torch.allclose(freq, logits.softmax(0), atol=0.02)
