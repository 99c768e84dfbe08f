"""rnnlab.scratch: gradient checks, agreement with the PyTorch layers, optimizers, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from conftest import SHARED_DATA
from rnnlab.cli import main
from rnnlab.data import Vocabulary
from rnnlab.scratch import SGD, Adagrad, Adam, CharRNN, Network, check, clip_grad_norm, train
from rnnlab.scratch.output import softmax_cross_entropy

CELLS = ["rnn", "rnn-relu", "lstm", "gru"]
SHAKESPEARE = SHARED_DATA / "tinyshakespeare.txt"


def problem(cell, layers, batch, initial, seed=0):
    """A network, inputs, random weights for a scalar loss on outputs and final states."""
    net = Network(cell, 3, 4, layers, seed=seed + 1)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(5, batch, 3))
    weights = rng.normal(size=(5, batch, 4))
    state = None
    if initial:
        state = [
            tuple(rng.normal(size=(batch, 4)) for _ in range(net.cell.state_size))
            for _ in range(layers)
        ]
    final_weights = [
        tuple(rng.normal(size=(batch, 4)) for _ in range(net.cell.state_size))
        for _ in range(layers)
    ]
    return net, x, state, weights, final_weights


def scalar_loss(outputs, finals, weights, final_weights):
    loss = float((outputs * weights).sum())
    for layer, fw in zip(finals, final_weights, strict=True):
        loss += sum(float((s * w).sum()) for s, w in zip(layer, fw, strict=True))
    return loss


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("initial", [False, True])
def test_bptt_matches_finite_differences(cell, layers, batch, initial):
    net, x, state, weights, final_weights = problem(cell, layers, batch, initial)

    def loss():
        outputs, finals, _ = net.forward(x, state)
        return scalar_loss(outputs, finals, weights, final_weights)

    _, _, caches = net.forward(x, state)
    grads, dx, dstate0, _ = net.backward(weights, caches, final_weights)
    errors = check(loss, net.params, grads)
    errors["x"] = check(loss, {"x": x}, {"x": dx})["x"]
    if initial:
        for layer in range(layers):
            for k, part in enumerate(state[layer]):
                errors[f"state{layer}.{k}"] = check(loss, {"s": part}, {"s": dstate0[layer][k]})[
                    "s"
                ]
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_scratch_and_pytorch_layers_agree(cell, layers):
    net, x, state, weights, final_weights = problem(cell, layers, 3, True, seed=2)
    outputs, finals, caches = net.forward(x, state)
    grads, dx, dstate0, _ = net.backward(weights, caches, final_weights)

    layer = rnnlab.Recurrent(cell, 3, 4, layers, dtype=torch.float64)
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in net.params.items()})
    xt = torch.from_numpy(x).requires_grad_()
    parts = [
        torch.from_numpy(np.stack([s[k] for s in state])).requires_grad_()
        for k in range(net.cell.state_size)
    ]
    out, final = layer(xt, tuple(parts) if len(parts) == 2 else parts[0])
    final = final if isinstance(final, tuple) else (final,)
    loss = (out * torch.from_numpy(weights)).sum()
    for k, f in enumerate(final):
        loss = loss + (f * torch.from_numpy(np.stack([w[k] for w in final_weights]))).sum()
    loss.backward()

    def rel(a, b):
        a, b = np.asarray(a), np.asarray(b)
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))

    assert rel(outputs, out.detach()) < 1e-6
    for k, f in enumerate(final):
        assert rel(np.stack([s[k] for s in finals]), f.detach()) < 1e-6
    for name, p in layer.named_parameters():
        assert rel(grads[name], p.grad) < 1e-6, name
    assert rel(dx, xt.grad) < 1e-6
    for k, part in enumerate(parts):
        assert rel(np.stack([d[k] for d in dstate0]), part.grad) < 1e-6


@pytest.mark.parametrize("cell", CELLS)
def test_gradient_through_time_is_dl_dh_t_at_every_step(cell):
    net, x, _, weights, _ = problem(cell, 1, 2, False, seed=3)
    _, _, caches = net.forward(x)
    _, _, _, dh = net.backward(weights, caches)
    torch_cell = rnnlab.make_cell(cell, 3, 4, dtype=torch.float64)
    torch_cell.load_state_dict({k[:-3]: torch.from_numpy(v) for k, v in net.params.items()})
    state, hs = None, []
    for t in range(x.shape[0]):
        state = torch_cell(torch.from_numpy(x[t]), state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        hs.append(h)
    (torch.stack(hs) * torch.from_numpy(weights)).sum().backward()
    for t, h in enumerate(hs):
        assert np.allclose(dh[0][t], h.grad.numpy(), rtol=1e-9, atol=1e-12), t


def test_softmax_cross_entropy_gradient_and_padding():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 3, 6))
    targets = rng.integers(0, 6, size=(4, 3))
    targets[-1, -1] = -100  # padding: ignored
    loss, dy = softmax_cross_entropy(y, targets)
    ty = torch.from_numpy(y).requires_grad_()
    expected = torch.nn.functional.cross_entropy(
        ty.reshape(-1, 6), torch.from_numpy(targets).reshape(-1)
    )
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    assert np.allclose(dy, ty.grad.numpy(), atol=1e-14)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: SGD(lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (lambda: Adagrad(lr=0.1), lambda p: torch.optim.Adagrad(p, lr=0.1)),
        (lambda: Adam(lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    ],
)
def test_optimizers_follow_torch_optim(ours, theirs):
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(3, 4))}
    tensor = torch.tensor(params["w"].copy(), requires_grad=True)
    opt, topt = ours(), theirs([tensor])
    for _ in range(5):
        grad = rng.normal(size=(3, 4))
        opt.step(params, {"w": grad.copy()})
        tensor.grad = torch.from_numpy(grad)
        topt.step()
    assert np.allclose(params["w"], tensor.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_clipping_scales_the_joint_norm_like_torch():
    rng = np.random.default_rng(0)
    grads = {"a": rng.normal(size=(3, 3)), "b": rng.normal(size=5)}
    tensors = [torch.tensor(g.copy(), requires_grad=True) for g in grads.values()]
    for t, g in zip(tensors, grads.values(), strict=True):
        t.grad = torch.from_numpy(g.copy())
    norm = clip_grad_norm(grads, 1.0)
    torch_norm = torch.nn.utils.clip_grad_norm_(tensors, 1.0)
    assert norm == pytest.approx(float(torch_norm))
    for t, g in zip(tensors, grads.values(), strict=True):
        assert np.allclose(g, t.grad.numpy())


def test_char_model_saves_and_loads_without_pickle(tmp_path):
    model = CharRNN(Vocabulary.build("char", "hello world"), "gru", 8, 2)
    model.save(tmp_path / "m.npz")
    again = CharRNN.load(tmp_path / "m.npz")
    assert again.config() == model.config()
    assert all(np.array_equal(again.params[k], v) for k, v in model.params.items())
    assert again.sample("he", 20, seed=1) == model.sample("he", 20, seed=1)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a scratch model"):
        CharRNN.load(tmp_path / "bad.npz")


@pytest.mark.skipif(not SHAKESPEARE.is_file(), reason=f"shared data set not found: {SHAKESPEARE}")
def test_scratch_training_lowers_the_loss_on_tiny_shakespeare():
    text = SHAKESPEARE.read_text(encoding="utf-8")[:50_000]
    model = CharRNN(Vocabulary.build("char", text))
    result = train(model, text, steps=1500, sample_every=0, progress=False)
    assert result.first_loss > 3.5  # about log(vocabulary size) at the start
    assert result.smooth_loss < result.first_loss - 1.2, result


def test_scratch_train_command_trains_saves_and_reloads(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. " * 200)
    weights = str(tmp_path / "w.npz")
    args = ["scratch-train", "--text", str(text), "--steps", "200", "--sample-every", "100"]
    assert main([*args, "--save", weights]) == 0
    out = capsys.readouterr().out
    assert "--- step 100" in out and "chars/s" in out
    assert main([*args, "--load", weights, "--steps", "5"]) == 0
    assert main([*args, "--save", str(tmp_path / "w.bin")]) == 2
    assert "needs a .npz" in capsys.readouterr().err


def test_scratch_training_stops_at_a_loss_that_is_not_finite():
    text = "the cat sat on the mat. " * 50
    model = CharRNN(Vocabulary.build("char", text), hidden=16)
    with (
        np.errstate(over="ignore", invalid="ignore"),  # the overflow is what is tested
        pytest.raises(ValueError, match=r"the loss is nan at step \d+: training diverged"),
    ):
        train(model, text, steps=5, lr=1e308, clip=0.0, sample_every=0, progress=False)
