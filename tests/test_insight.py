"""Insight: the trace, gradient flow (against rnnlab.scratch's hand-written BPTT), hidden-state
reports, long-memory tasks, and the inspect/memory commands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import png_size
from rnnlab import LanguageModel, Recurrent
from rnnlab.cli import main
from rnnlab.data import Vocabulary
from rnnlab.insight import (
    NetworkSpec,
    best_units,
    fitted_decay,
    gradient_flow,
    read_states,
    states_html,
    text_windows,
    trace,
    train_memory,
)
from rnnlab.insight.gradients import write_report as write_gradients
from rnnlab.insight.memory import AddingTask, CopyTask, longest_solved, sweep
from rnnlab.insight.states import correlations, text_properties
from rnnlab.insight.states import write_report as write_states
from rnnlab.scratch.network import Network
from rnnlab.scratch.output import softmax

CELLS = ("rnn", "rnn-relu", "lstm", "gru", "mingru", "minlstm")
TEXT = "".join(f'line {i}: "quoted (and {i % 7})" said the wolf.\n' for i in range(200))


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.build("char", TEXT + "<>&/ script alert")


# -- trace --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_trace_computes_what_the_layer_computes(cell):
    rnn = Recurrent(cell, 5, 7, num_layers=2, dtype=torch.float64).eval()
    x = torch.randn(9, 3, 5, dtype=torch.float64)
    output, final = rnn(x)
    run = trace(rnn, x)
    torch.testing.assert_close(run.stacked(1), output, rtol=1e-10, atol=1e-12)
    final = (final,) if isinstance(final, torch.Tensor) else final
    for which, part in enumerate(final):
        for layer in range(2):
            torch.testing.assert_close(run.final()[layer][which], part[layer])


# -- gradient flow ------------------------------------------------------------------------------


def scratch_norms(model: LanguageModel, windows: torch.Tensor) -> list[np.ndarray]:
    """||dL_T/dh_t|| per layer by rnnlab.scratch's BPTT, reversed so that index k is k back."""
    V, layers = len(model.vocab), model.rnn.num_layers
    net = Network(model.rnn.cell_name, V, model.rnn.hidden_size, layers)
    state = {k: v.detach().double().numpy() for k, v in model.rnn.state_dict().items()}
    net.params = {k: state[k] for k in net.params}
    ids = windows[:, :-1].numpy().T  # (T, B)
    hs, _, caches = net.forward(np.eye(V)[ids])
    W, b = model.head.weight.detach().double().numpy(), model.head.bias.detach().double().numpy()
    dlogits = softmax(hs[-1] @ W.T + b)
    dlogits[np.arange(len(dlogits)), windows[:, -1].numpy()] -= 1.0  # summed cross-entropy
    doutputs = np.zeros_like(hs)
    doutputs[-1] = dlogits @ W
    _, _, _, dh = net.backward(doutputs, caches)
    return [np.linalg.norm(d, axis=-1).mean(axis=1)[::-1] for d in dh]


@pytest.mark.parametrize("cell", CELLS[:4])
def test_gradient_norms_equal_the_scratch_bptt(vocab, cell):
    torch.manual_seed(0)
    model = LanguageModel(vocab, cell, 12, 2, embedding_size=None).eval()
    windows = text_windows(vocab.encode(TEXT), 5, 4 + 30 + 2, seed=1)
    flow = gradient_flow(model, windows, warmup=4)
    expected = scratch_norms(model, windows)
    assert flow.distance == 30 and len(flow.norms) == 2
    for layer in range(2):
        np.testing.assert_allclose(flow.norms[layer], expected[layer][:31], rtol=1e-9)
    assert all(n > 0 for n in flow.norms[0])  # the comparison is not between zeros


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_minimal_cells_pass_gradients_back_through_their_keep_coefficient_alone(vocab, cell):
    """dL_T/dh_{T-k} = dL_T/dh_T * prod_{j > T-k} a_j: the Jacobian of a step is diag(a_t)."""
    torch.manual_seed(0)
    model = LanguageModel(vocab, cell, 12, 1, embedding_size=None).double().eval()
    windows = text_windows(vocab.encode(TEXT), 1, 25 + 2, seed=2)
    flow = gradient_flow(model, windows, warmup=0)
    x = torch.nn.functional.one_hot(windows[:, :-1], len(vocab)).double().transpose(0, 1)
    run = trace(model.rnn, x)
    h_last = run.states[0][-1][0]
    loss = torch.nn.functional.cross_entropy(model.head(h_last), windows[:, -1], reduction="sum")
    (g,) = torch.autograd.grad(loss, h_last)
    with torch.no_grad():
        a = [model.rnn.cell.coefficients(gi)[0] for gi, _ in run.projections[0]]
    expected = [float(g.norm())]
    for k in range(1, flow.distance + 1):
        g = g * a[-k]
        expected.append(float(g.norm()))
    np.testing.assert_allclose(flow.norms[0], expected, rtol=1e-9)
    assert math.isnan(flow.spectral_radius[0]) and 0 < flow.keep_gate[0] < 1


def test_models_of_residual_blocks_are_refused_by_name(vocab):
    model = LanguageModel(vocab, "mingru", 8, 1, block="residual")
    windows = text_windows(vocab.encode(TEXT), 2, 12, seed=0)
    with pytest.raises(ValueError, match="residual blocks"):
        gradient_flow(model, windows, warmup=2)
    with pytest.raises(ValueError, match="residual blocks"):
        read_states(model, "line 1")


def test_small_recurrent_weights_vanish_and_a_forget_bias_holds_on(vocab):
    windows = text_windows(vocab.encode(TEXT), 16, 20 + 60 + 2, seed=0)
    torch.manual_seed(0)
    small = NetworkSpec.parse("rnn:orthogonal:0.5").language_model(vocab, 32)
    torch.manual_seed(0)
    lstm = NetworkSpec.parse("lstm").language_model(vocab, 32, forget_bias=1.0)
    rnn_flow = gradient_flow(small, windows, warmup=20)
    lstm_flow = gradient_flow(lstm, windows, warmup=20)
    assert rnn_flow.decay[0] < 0.6  # at most rho(W_hh) = 0.5 times tanh' <= 1, fitted
    assert rnn_flow.spectral_radius[0] == pytest.approx(0.5)
    assert 0 < rnn_flow.mean_derivative[0] <= 1 and rnn_flow.keep_gate[0] is None
    assert lstm_flow.decay[0] > rnn_flow.decay[0] + 0.2
    assert lstm_flow.norms[0][60] > 1e6 * rnn_flow.norms[0][60]
    assert 0.5 < lstm_flow.keep_gate[0] < 1  # sigma(1 + noise): the forget gate starts open


def test_the_identity_relu_rnn_passes_gradients_back_undiminished(vocab):
    windows = text_windows(vocab.encode(TEXT), 8, 10 + 50 + 2, seed=0)
    torch.manual_seed(0)
    irnn = NetworkSpec.parse("rnn-relu:identity").language_model(vocab, 32)
    flow = gradient_flow(irnn, windows, warmup=10)
    assert flow.spectral_radius[0] == pytest.approx(1.0)
    assert 0.97 < flow.decay[0] <= 1.0 + 1e-9


def test_fitted_decay_recovers_a_geometric_rate_and_skips_zeros():
    assert fitted_decay([5.0 * 0.7**k for k in range(40)]) == pytest.approx(0.7)
    assert fitted_decay([1.0, 0.5, 0.25, 0.0, 0.0625]) == pytest.approx(0.5)
    assert math.isnan(fitted_decay([1.0, 0.0]))


def test_gradient_flow_leaves_the_model_alone_and_needs_long_enough_text(vocab):
    model = LanguageModel(vocab, "gru", 8, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gradient_flow(model, text_windows(vocab.encode(TEXT), 2, 12, seed=0), warmup=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert next(model.parameters()).dtype == torch.float32
    with pytest.raises(ValueError, match="too short"):
        text_windows(vocab.encode("line 1"), 2, 100)


def test_network_specs_parse_and_refuse(vocab):
    spec = NetworkSpec.parse("rnn:orthogonal:0.9")
    assert (spec.cell, spec.init, spec.scale, spec.name) == ("rnn", "orthogonal", 0.9, spec.name)
    assert NetworkSpec.parse("gru", init="orthogonal").init == "orthogonal"
    assert [s.name for s in NetworkSpec.parse_list("rnn, lstm")] == ["rnn", "lstm"]
    torch.manual_seed(0)
    model = spec.language_model(vocab, 16)
    torch.manual_seed(0)
    plain = NetworkSpec.parse("rnn:orthogonal").language_model(vocab, 16)
    torch.testing.assert_close(model.rnn.weight_hh_l0, 0.9 * plain.rnn.weight_hh_l0)
    for bad in ("tree", "lstm:identity", "rnn:bogus", "rnn:orthogonal:-1", "rnn::x", "a:b:c:d"):
        with pytest.raises(ValueError, match="network"):
            NetworkSpec.parse(bad)


def test_the_gradient_report_writes_a_plot_and_the_numbers(vocab, tmp_path):
    windows = text_windows(vocab.encode(TEXT), 2, 14, seed=0)
    flows = [gradient_flow(LanguageModel(vocab, c, 8, 2), windows, 2, name=c) for c in CELLS]
    paths = write_gradients(flows, tmp_path, {"distance": 10})
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].stat().st_size > 5000
    data = json.loads(paths[0].read_text())
    assert [n["name"] for n in data["networks"]] == list(CELLS)
    assert data["networks"][2]["norms"][1] == flows[2].norms[1]


# -- hidden states ------------------------------------------------------------------------------


def test_text_properties_follow_quotes_brackets_and_lines():
    props = text_properties(list('a"b(c)"\nxy'))
    assert props["inside quotes"].tolist() == [0, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert props["inside brackets"].tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert props["position in line"].tolist() == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2]


def test_correlations_find_a_planted_unit():
    rng = np.random.default_rng(0)
    values = rng.normal(size=200)
    activations = rng.normal(size=(200, 10))
    activations[:, 3] = -2 * values + 1
    activations[:, 5] = 7.0  # constant: no correlation, no division by zero
    r = correlations(activations, values)
    assert np.argmax(np.abs(r)) == 3 and r[3] == pytest.approx(-1.0) and r[5] == 0.0


def test_states_follow_the_model_and_the_best_unit_is_found(vocab):
    torch.manual_seed(0)
    model = LanguageModel(vocab, "lstm", 16, 2).eval()
    text = TEXT[:300]
    report = read_states(model, text)
    assert len(report.symbols) == 300 and [a.shape for a in report.activations] == [(300, 16)] * 2
    with torch.no_grad():
        logits, _ = model(vocab.encode(text).unsqueeze(0))
    probabilities = torch.softmax(logits[0], -1)
    top = probabilities.argmax(-1)
    for t in (0, 150, 299):
        symbol, p = report.predictions[t][0]
        assert symbol == vocab.symbols[top[t]] and p == pytest.approx(float(probabilities[t].max()))
    assert len(report.predictions[0]) == 5
    cells = read_states(model, text, state="c")
    assert not np.allclose(cells.activations[1], report.activations[1])
    matches = best_units(report)
    assert {m.property for m in matches} == {"inside quotes", "inside brackets", "position in line"}
    for match in matches:
        values = text_properties(report.symbols)[match.property]
        r = correlations(report.activations[match.layer], values)
        assert abs(match.correlation) == pytest.approx(np.abs(r).max())
        assert all(
            np.abs(correlations(a, values)).max() <= abs(match.correlation) + 1e-12
            for a in report.activations
        )
    assert {m.layer for m in best_units(report, [0])} == {0}


def test_state_reports_refuse_what_they_cannot_show(vocab):
    gru = LanguageModel(vocab, "gru", 8, 1)
    with pytest.raises(ValueError, match="no cell state"):
        read_states(gru, "line", state="c")
    with pytest.raises(ValueError, match="never saw"):
        read_states(gru, "line ~")
    with pytest.raises(ValueError, match="empty"):
        read_states(gru, "")


def test_the_html_escapes_the_text_and_the_files_are_written(vocab, tmp_path):
    torch.manual_seed(0)
    model = LanguageModel(vocab, "rnn", 8, 1).eval()
    text = '<script>alert("1")</script> & "q"\n'
    report = read_states(model, text)
    assert "".join(report.symbols) == text
    matches = best_units(report)
    page = states_html(report, 0, 2, matches, "a <title> & more")
    assert "<script" not in page and "&lt;" in page and "&amp;" in page
    assert "a &lt;title&gt; &amp; more" in page
    assert page.count('<span style="background:') == len(report.symbols)
    png, html_path, json_path = write_states(
        report, matches, 0, 2, tmp_path, units=6, title="a <title> & more"
    )
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 3000
    assert html_path.read_text(encoding="utf-8") == page
    data = json.loads(json_path.read_text())
    assert data["unit"] == 2 and len(data["activation"]) == len(report.symbols)


# -- long-memory tasks --------------------------------------------------------------------------


def test_the_adding_task_marks_one_value_in_each_half_and_sums_them():
    task = AddingTask()
    x, y = task.batch(500, 20, torch.Generator().manual_seed(0))
    assert x.shape == (500, 20, 2) and y.shape == (500,)
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :10].sum(1) == 1).all() and (markers[:, 10:].sum(1) == 1).all()
    torch.testing.assert_close(y, (values * markers).sum(1))
    baseline = float(((y - 1.0) ** 2).mean())  # always answering 1.0
    assert baseline == pytest.approx(task.baseline, rel=0.15)


def test_the_copy_task_asks_for_the_first_symbols_after_the_go_marker():
    task = CopyTask(symbols=8, count=10)
    x, y = task.batch(4, 15, torch.Generator().manual_seed(0))
    ids = x.argmax(-1)
    assert x.shape == (4, 10 + 15 + 10, 10) and y.shape == (4, 10)
    assert torch.equal(ids[:, :10], y) and (y < 8).all()
    assert (ids[:, 10 + 14] == 9).all()  # "go" at the last of the 15 delay steps
    assert (ids[:, 10:24] == 8).all() and (ids[:, 25:] == 8).all()  # blanks
    assert task.baseline == pytest.approx(math.log(8))


def test_a_short_lstm_run_beats_the_adding_baseline():
    result = train_memory("adding", NetworkSpec.parse("lstm"), 10, steps=400, budget=math.inf)
    assert result.steps <= 400 and result.loss < 0.5 * result.baseline
    assert result.beats_baseline and result.history[0][0] == 0
    assert result.history[0][2] > 0.5 * result.baseline  # it was not solved before training


def test_a_sweep_stops_climbing_for_a_network_that_failed(monkeypatch):
    from rnnlab.insight import memory

    solves_up_to = {"rnn": 10, "lstm": 50}
    calls = []

    def fake(task, spec, length, budget, **options):
        calls.append((spec.name, length, budget))
        loss = 0.01 if length <= solves_up_to[spec.name] else 1.0
        return memory.MemoryResult(task, spec.name, length, 1, 0.0, loss, 1.0, None, {})

    monkeypatch.setattr(memory, "train_memory", fake)
    specs = NetworkSpec.parse_list("rnn,lstm")
    results = sweep("adding", specs, [50, 10, 25, 100], budget=80.0)
    assert [(n, length) for n, length, _ in calls] == [
        ("rnn", 10), ("lstm", 10), ("rnn", 25), ("lstm", 25), ("lstm", 50), ("lstm", 100),
    ]  # fmt: skip
    assert calls[0][2] == pytest.approx(10.0, rel=0.01)  # 80 s over 8 runs still possible
    assert longest_solved(results) == {"rnn": 10, "lstm": 50}


# -- the commands -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, vocab):
    root = tmp_path_factory.mktemp("insight")
    torch.manual_seed(0)
    LanguageModel(vocab, "lstm", 16, 2).save_pretrained(root / "ck")
    (root / "text.txt").write_text(TEXT)
    return root


def test_inspect_gradients_on_a_checkpoint_and_fresh_networks(checkpoint, capsys):
    out = checkpoint / "g"
    args = ["inspect", "gradients", str(checkpoint / "ck"), "--text", str(checkpoint / "text.txt")]
    small = ["--hidden", "8", "--distance", "20", "--sequences", "4", "--warmup", "3"]
    assert main([*args, "--cells", "rnn,gru:orthogonal", *small, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| ck layer 0 |" in printed and "| gru:orthogonal |" in printed and "k=10" in printed
    data = json.loads((out / "gradients.json").read_text())
    assert [n["name"] for n in data["networks"]] == ["ck", "rnn", "gru:orthogonal"]
    assert len(data["networks"][0]["norms"][0]) == 21
    assert png_size(out / "gradients.png") == (825, 495)  # a 7.5 x 4.5 in figure at 110 dpi


def test_inspect_states_writes_the_heatmap_page_and_numbers(checkpoint, capsys):
    out = checkpoint / "s"
    args = ["inspect", "states", str(checkpoint / "ck"), "--file", str(checkpoint / "text.txt")]
    assert main([*args, "--max-chars", "400", "--state", "c", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "inside quotes: unit" in printed and "showing unit" in printed
    assert {p.name for p in out.iterdir()} >= {"states.png", "states.html", "states.json"}
    assert len(json.loads((out / "states.json").read_text())["symbols"]) == 400
    assert main(["inspect", "states", str(checkpoint / "ck"), "--text", "line 1", "--unit", "3",
                 "--layer", "0", "--out", str(out)]) == 0  # fmt: skip
    assert "showing unit 3 of layer 0" in capsys.readouterr().out


def test_memory_runs_each_network_and_writes_its_report(tmp_path, capsys):
    args = ["memory", "--task", "copy", "--length", "5", "--steps", "3", "--hidden", "8"]
    assert main([*args, "--cells", "rnn,lstm", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| copy | rnn | 5 | 3 |" in printed and "| copy | lstm | 5 | 3 |" in printed
    data = json.loads((tmp_path / "memory.json").read_text())
    assert [r["network"] for r in data["runs"]] == ["rnn", "lstm"]
    assert png_size(tmp_path / "memory.png") == (825, 495)
    sweep_args = ["memory", "--sweep", "--lengths", "4,6", "--steps", "2", "--hidden", "8"]
    assert main([*sweep_args, "--cells", "gru", "--out", str(tmp_path)]) == 0
    assert "gru: longest solved length" in capsys.readouterr().out


def test_a_run_that_blows_up_stops_before_the_update_and_says_so():
    exploding = NetworkSpec.parse("rnn-relu:identity:2")  # h grows like 2^T
    result = train_memory("adding", exploding, 200, steps=5, budget=math.inf)
    assert result.diverged == 1 and result.steps == 0
    assert result.verdict == "diverged at step 1" and not result.beats_baseline
