"""rnnlab export: every model kind's ONNX graphs against PyTorch (onnxruntime is the oracle of
what the file computes), the portable runtime against the rnnlab commands it stands in for, run
where importing torch fails, int8, and the hub folder read back by from_pretrained."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from rnnlab import (
    ConditionalGenerator,
    Forecaster,
    LanguageModel,
    Seq2Seq,
    SequenceClassifier,
    TransformerLM,
)
from rnnlab.cli import build_parser, main
from rnnlab.data.series import SeriesScaling
from rnnlab.data.vocab import Vocabulary, target_vocabulary
from rnnlab.export import export, load_checkpoint
from rnnlab.export.onnx_files import export_onnx
from rnnlab.export.onnx_graphs import model_graphs, to_onnx
from rnnlab.portable import Classifier, LabelGenerator, Recognizer, Translator, choose
from rnnlab.portable import Forecaster as PortableForecaster
from rnnlab.portable import LanguageModel as PortableLM
from rnnlab.tasks.chat.model import Chatbot
from rnnlab.tasks.speech.features import LogMel
from rnnlab.tasks.speech.model import SpeechRecognizer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "v0"
TEXT = "".join(f"{i} little pigs went to market, said the wolf.\n" for i in range(300))
VOCAB = Vocabulary.build("char", "abcdefghij klmnop\n")
TOLERANCE = 1e-4
INPUTS = 100  # random inputs per graph, over batches of mixed lengths


def session(model, graph) -> ort.InferenceSession:
    return ort.InferenceSession(to_onnx(model, graph).SerializeToString())


def batches(total: int = INPUTS, seed: int = 0):
    """(B, T, lengths (B,)) with B * batches >= total: one full-length row, the rest random."""
    rng = np.random.default_rng(seed)
    shapes = [(1, 1), (3, 1), (4, 9), (7, 3), (5, 17), (10, 6), (20, 11), (25, 4), (25, 2)]
    assert sum(b for b, _ in shapes) >= total
    for b, t in shapes:
        lengths = rng.integers(1, t + 1, size=b)
        lengths[0] = t
        yield b, t, torch.from_numpy(lengths)


def feed(sess: ort.InferenceSession, **values) -> dict:
    """Inputs by name, those the graph kept (an unused input is dropped by the exporter)."""
    names = {i.name for i in sess.get_inputs()}
    return {k: v.numpy() if torch.is_tensor(v) else v for k, v in values.items() if k in names}


def close(actual, expected) -> float:
    expected = expected.detach().float().numpy() if torch.is_tensor(expected) else expected
    difference = float(np.abs(np.asarray(actual, dtype=np.float32) - expected).max())
    assert difference < TOLERANCE, difference
    return difference


# -- every kind's graphs equal PyTorch ---------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "rnn-relu", "mingru", "minlstm"])
@pytest.mark.parametrize("block", ["plain", "residual"])
def test_language_model_step_and_sequence_graphs_equal_pytorch(cell, block):
    model = LanguageModel(
        VOCAB, cell=cell, hidden_size=16, num_layers=2, embedding_size=8, block=block
    ).eval()
    names = model.cell.state_names
    graphs = {g.role: g for g in model_graphs(model)}
    step, sequence = session(model, graphs["step"]), session(model, graphs["sequence"])
    for b, t, _ in batches():
        ids = torch.randint(0, len(VOCAB), (b, t))
        state = tuple(torch.randn(2, b, 16) * 0.5 for _ in names)
        with torch.no_grad():
            logits, final = model(ids, state if len(state) > 1 else state[0])
            first, after_first = model(ids[:, :1], state if len(state) > 1 else state[0])
        finals = (final,) if torch.is_tensor(final) else final
        got = sequence.run(None, feed(sequence, ids=ids, **dict(zip(names, state, strict=True))))
        close(got[0], logits)
        for value, expected in zip(got[1:], finals, strict=True):
            close(value, expected)
        one = step.run(None, feed(step, ids=ids[:, 0], **dict(zip(names, state, strict=True))))
        close(one[0], first[:, 0])
        after = (after_first,) if torch.is_tensor(after_first) else after_first
        for value, expected in zip(one[1:], after, strict=True):
            close(value, expected)


def test_one_hot_language_model_exports_too():
    model = LanguageModel(VOCAB, cell="gru", hidden_size=8, num_layers=1, embedding_size=None)
    sess = session(model.eval(), model_graphs(model)[1])
    ids = torch.randint(0, len(VOCAB), (3, 11))
    with torch.no_grad():
        logits, _ = model(ids)
    close(sess.run(None, {"ids": ids.numpy(), "h": np.zeros((1, 3, 8), np.float32)})[0], logits)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_transformer_sequence_and_cached_step_graphs_equal_pytorch(positions):
    model = TransformerLM(VOCAB, 16, 2, heads=2, context=12, dropout=0.0, positions=positions)
    model.eval()
    step, sequence = (session(model, graph) for graph in model_graphs(model))
    names = [i.name for i in step.get_inputs()][1:]  # k0, v0, k1, v1
    for b, t, _ in batches():
        t = min(t, model.context)
        ids = torch.randint(0, len(VOCAB), (b, t))
        with torch.no_grad():
            logits, cache = model.run(ids)
        got = sequence.run(None, {"ids": ids.numpy()})
        close(got[0], logits)
        for value, expected in zip(got[1:], [p for entry in cache for p in entry], strict=True):
            close(value, expected)
        # the step graph from an empty cache, one symbol at a time, gives every position
        past = dict.fromkeys(names, np.zeros((b, 2, 0, 8), np.float32))
        for position in range(t):
            out = step.run(None, {"ids": ids[:, position].numpy(), **past})
            close(out[0], logits[:, position])
            past = dict(zip(names, out[1:], strict=True))
        assert past["k0"].shape == (b, 2, t, 8)


@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru"])
@pytest.mark.parametrize("pool", ["last", "mean", "max", "attention"])
def test_classifier_graph_equals_pytorch_on_padded_batches(cell, pool):
    text = SequenceClassifier(VOCAB, ["a", "b", "c"], cell=cell, hidden_size=8, pool=pool)
    scaling = SeriesScaling(["x", "y"], [1.0, -2.0], [2.0, 0.5])
    series = SequenceClassifier(
        None, ["u", "v"], cell=cell, hidden_size=8, pool=pool, num_layers=2, series=scaling
    )
    for model in (text.eval(), series.eval()):
        (graph,) = model_graphs(model)
        sess = session(model, graph)
        for b, t, lengths in batches():
            if model.series is None:
                inputs = torch.randint(0, len(VOCAB), (b, t))
                network = inputs
            else:  # raw values in; the graph standardises them as the checkpoint does
                inputs = torch.randn(b, t, 2) * 3
                network = (inputs - torch.tensor([1.0, -2.0])) / torch.tensor([2.0, 0.5])
            with torch.no_grad():
                expected = model(network, lengths).softmax(-1)
            got = sess.run(None, {graph.inputs[0]: inputs.numpy(), "lengths": lengths.numpy()})
            close(got[0], expected)


@pytest.mark.parametrize("attention", ["luong", "bahdanau", "none"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_encoder_and_decoder_step_graphs_equal_pytorch(attention, cell):
    target = target_vocabulary("char", dict.fromkeys("qrstuvw ", 1))
    model = Seq2Seq(
        VOCAB, target, cell=cell, hidden_size=8, attention=attention, embedding_size=8,
        num_layers=2,
    ).eval()  # fmt: skip
    encoder, decoder = model_graphs(model)
    enc, dec = session(model, encoder), session(model, decoder)
    for b, t, lengths in batches():
        source = torch.randint(0, len(VOCAB), (b, t))
        with torch.no_grad():
            memory = model.encode(source, lengths)
        values = enc.run(None, feed(enc, source=source, lengths=lengths))
        got = dict(zip(encoder.outputs, values, strict=True))
        close(got["outputs"], memory.outputs)
        assert (got["mask"] == memory.mask.numpy()).all()
        state = memory.state
        previous = torch.randint(0, len(target), (b,))
        for _ in range(3):  # three decoder steps, each state fed back
            with torch.no_grad():
                logits, state, weights = model.step(previous, state, memory)
            out = dec.run(None, feed(dec, previous=previous, **got))
            close(out[0], logits)
            if weights is not None:
                close(out[-1], weights)
            names = model.decoder.cell.state_names
            got |= dict(zip(names, out[1 : 1 + len(names)], strict=True))
            previous = logits.argmax(-1)


def test_chatbot_exports_as_its_encoder_and_decoder():
    source = Vocabulary("char", tuple("abc \n"))
    target = target_vocabulary("char", dict.fromkeys("xyz ", 1))
    model = Chatbot(source, target, hidden_size=8, embedding_size=4).eval()
    assert [g.role for g in model_graphs(model)] == ["encoder", "decoder"]
    encoder = model_graphs(model)[0]
    ids, lengths = torch.tensor([[0, 1, 4, 2], [1, 1, 0, 0]]), torch.tensor([4, 2])
    with torch.no_grad():
        memory = model.encode(ids, lengths)
    out = session(model, encoder).run(None, {"source": ids.numpy(), "lengths": lengths.numpy()})
    close(out[0], memory.outputs)


@pytest.mark.parametrize("subsample", [1, 2, 3])
def test_speech_graph_equals_pytorch_on_every_real_step(subsample):
    model = SpeechRecognizer("abc '", hidden_size=8, num_layers=2, n_mels=5, subsample=subsample)
    (graph,) = model_graphs(model.eval())
    sess = session(model, graph)
    for b, t, lengths in batches():
        frames = torch.randn(b, t * subsample, 5)
        lengths = lengths * subsample - torch.randint(0, subsample, (b,)).clamp(max=lengths - 1)
        with torch.no_grad():
            log_probs, steps = model(frames, lengths)
        got, got_steps = sess.run(None, {"features": frames.numpy(), "lengths": lengths.numpy()})
        assert (got_steps == steps.numpy()).all()
        for row, n in enumerate(steps.tolist()):
            close(got[row, :n], log_probs[row, :n])


@pytest.mark.parametrize("mode", ["direct", "autoregressive"])
@pytest.mark.parametrize("distribution", ["gaussian", "quantile"])
def test_forecaster_graph_equals_pytorch(mode, distribution):
    model = Forecaster(["y"], window=6, horizon=3, mode=mode, distribution=distribution)
    model = model.eval()
    (graph,) = model_graphs(model)
    sess = session(model, graph)
    for b, t, _ in batches():
        window = torch.randn(b, t, 1)
        state = tuple(torch.randn(1, b, 64) for _ in range(2))
        with torch.no_grad():
            theta, final = model(window, state)
            expected = model.summary(theta)
        inputs = {"window": window, "h": state[0], "c": state[1]}
        got = sess.run(None, {k: v.numpy() for k, v in inputs.items()})
        for value, reference in zip(got, (*expected, *final), strict=True):
            close(value, reference)


@pytest.mark.parametrize("condition", ["both", "init", "input"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_conditional_generator_graphs_equal_pytorch(condition, cell):
    vocab = target_vocabulary("char", dict.fromkeys("abcdefghij", 1))
    model = ConditionalGenerator(
        vocab, ["x", "y", "z"], cell=cell, hidden_size=8, num_layers=2, condition=condition,
        condition_size=4, embedding_size=4,
    ).eval()  # fmt: skip
    step, start, vectors = (session(model, graph) for graph in model_graphs(model))
    names = [o.name[: -len("_out")] for o in start.get_outputs()]
    for b, t, _ in batches():
        labels = torch.randint(0, 3, (b,))
        previous = torch.randint(0, len(vocab), (b, t))
        with torch.no_grad():
            v = model.vectors(labels)
            logits, _ = model(previous, v)
        got_v = vectors.run(None, {"labels": labels.numpy()})[0]
        close(got_v, v)
        state = dict(zip(names, start.run(None, {"v": got_v}), strict=True))
        for position in range(t):
            out = step.run(None, feed(step, previous=previous[:, position], v=got_v, **state))
            close(out[0], logits[:, position])
            state = dict(zip(names, out[1:], strict=True))


def test_every_file_passes_the_onnx_checker_and_the_json_describes_it(tmp_path):
    model = LanguageModel(VOCAB, hidden_size=8, num_layers=1)
    written = export_onnx(model, tmp_path / "m.onnx")
    assert [p.name for p in written] == ["m.onnx", "m.sequence.onnx", "m.json"]
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["kind"] == "rnnlab.language_model" and meta["quantize"] is None
    assert meta["config"]["vocab"]["symbols"] == list(VOCAB.symbols)
    for role, graph in meta["graphs"].items():
        loaded = onnx.load(tmp_path / graph["file"])
        onnx.checker.check_model(loaded, full_check=True)
        assert [i.name for i in loaded.graph.input] == graph["inputs"], role
        axes = [d.dim_param for d in loaded.graph.input[0].type.tensor_type.shape.dim]
        assert axes == (["batch"] if role == "step" else ["batch", "time"])


def test_an_export_checks_every_file_it_writes_before_writing_one(tmp_path):
    (tmp_path / "m.json").mkdir()  # where the JSON would go
    with pytest.raises(ValueError, match=r"m\.json is a directory"):
        export_onnx(LanguageModel(VOCAB, hidden_size=8, num_layers=1), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_int8_is_smaller_holds_int8_weights_and_stays_close(tmp_path):
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, hidden_size=128, num_layers=2, embedding_size=32).eval()
    plain = export_onnx(model, tmp_path / "f" / "m.onnx")
    small = export_onnx(model, tmp_path / "q" / "m.onnx", quantize="int8")
    for f, q in zip(plain[:2], small[:2], strict=True):
        assert f.stat().st_size > 3 * q.stat().st_size, (f.stat().st_size, q.stat().st_size)
        weights = onnx.load(q)

        def int8_tensors(graph):
            found = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
            for node in graph.node:
                for attribute in node.attribute:
                    if attribute.type == onnx.AttributeProto.GRAPH:
                        found += int8_tensors(attribute.g)
            return found

        assert len(int8_tensors(weights.graph)) >= 4  # W_ih, W_hh (in the Scans' bodies too)
    assert json.loads((tmp_path / "q" / "m.json").read_text())["quantize"] == "int8"
    ids = torch.randint(0, len(VOCAB), (4, 20))
    with torch.no_grad():
        logits, _ = model(ids)
    sess = ort.InferenceSession(str(small[1]))
    zeros = np.zeros((2, 4, 128), np.float32)
    got = sess.run(None, {"ids": ids.numpy(), "h": zeros, "c": zeros})[0]
    difference = np.abs(got - logits.numpy()).max()
    assert 0 < difference < 0.05 * np.abs(logits.numpy()).max()  # rounded, not broken


# -- the portable runtime against the rnnlab commands ----------------------------------------


def run_cli(*args: str) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(list(args)) == 0
    return printed.getvalue()


def run_portable(*args: str, torch_fails: bool = True) -> subprocess.CompletedProcess:
    """``python -m rnnlab.portable ARGS`` in a fresh interpreter in which ``import torch``
    raises ImportError, so the run proves the runtime needs no PyTorch."""
    code = (
        "import runpy, sys\n"
        + ("sys.modules['torch'] = None\n" if torch_fails else "")
        + f"sys.argv = ['rnnlab.portable', *{list(args)!r}]\n"
        + "runpy.run_module('rnnlab.portable', run_name='__main__', alter_sys=True)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small recurrent and a small transformer language model, trained on TEXT, exported."""
    root = tmp_path_factory.mktemp("export")
    (root / "text.txt").write_text(TEXT)
    small = ["--batch-size", "8", "--epochs", "1", "--evals", "1"]
    run_cli(
        "train", "--text", str(root / "text.txt"), "--out", str(root / "lm"), "--seq-len", "16",
        "--hidden", "32", "--layers", "2", "--embedding", "8", *small, "--sample-length", "0",
    )  # fmt: skip
    run_cli(
        "train", "--text", str(root / "text.txt"), "--out", str(root / "tf"), "--arch",
        "transformer", "--hidden", "16", "--layers", "1", "--heads", "2", "--context", "16",
        *small, "--sample-length", "0",
    )  # fmt: skip
    for name in ("lm", "tf"):
        run_cli("export", str(root / name), "--format", "onnx", "--out", str(root / f"{name}.onnx"))
    return root


def test_torch_is_not_imported_by_import_rnnlab():
    code = "import sys, rnnlab; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
    import rnnlab

    assert all(getattr(rnnlab, name) is not None for name in rnnlab.__all__)
    with pytest.raises(AttributeError):
        rnnlab.NoSuchThing  # noqa: B018


@pytest.mark.parametrize("name", ["lm", "tf"])
def test_portable_greedy_generation_is_rnnlab_generate_greedy(trained, name):
    expected = run_cli(
        "generate", str(trained / name), "--prime", "7 little", "--length", "500", "--greedy",
        "--precision", "float32",
    )  # fmt: skip
    done = run_portable(
        "generate", str(trained / f"{name}.onnx"), "--prime", "7 little", "--length", "500",
        "--greedy",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert len(expected) == len("7 little") + 500 + 1


@pytest.mark.parametrize("level", ["word", "byte"])
def test_portable_reads_and_writes_words_and_bytes_as_rnnlab_does(level, tmp_path):
    text = TEXT + "le loup a dit: « café »\n"
    torch.manual_seed(5)
    model = LanguageModel(Vocabulary.build(level, text), cell="gru", hidden_size=16, num_layers=1)
    with torch.no_grad():
        model.head.weight.mul_(8)  # spread-out scores: the same choices in both runtimes
    model.save_pretrained(tmp_path / "lm")
    export(tmp_path / "lm", "onnx", tmp_path / "lm.onnx")
    prime = "the wolf said, café" if level == "byte" else "the wolf went to"
    expected = run_cli(
        "generate", str(tmp_path / "lm"), "--prime", prime, "--length", "60", "--greedy",
        "--precision", "float32",
    )  # fmt: skip
    done = run_portable(
        "generate", str(tmp_path / "lm.onnx"), "--prime", prime, "--length", "60", "--greedy"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected


def test_portable_seeded_sampling_is_reproducible(trained):
    path = str(trained / "lm.onnx")
    options = ["--length", "200", "--temperature", "1.5", "--top-k", "8", "--top-p", "0.95"]
    runs = [run_portable("generate", path, *options, "--seed", s) for s in ("1", "1", "2")]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout != runs[2].stdout
    batch = PortableLM(trained / "lm.onnx").generate("1", 50, streams=3, seed=4)
    assert len(set(batch)) == 3  # the streams differ from each other


def test_portable_sampling_obeys_top_k_and_top_p():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 4000, np.float32))
    for options, allowed in (({"top_k": 2}, {0, 1}), ({"top_p": 0.7}, {0, 1})):
        chosen = choose(logits, rng, **options)
        assert set(chosen.tolist()) == allowed
    drawn = np.bincount(choose(logits, rng), minlength=4) / len(logits)
    assert np.abs(drawn - [0.5, 0.3, 0.15, 0.05]).max() < 0.03
    assert (choose(logits, rng, greedy=True) == 0).all()


def test_portable_refuses_bad_input_in_one_line(trained, tmp_path):
    cases = [
        (("generate", str(trained / "lm.onnx"), "--prime", "QZ"), "never saw"),
        (("generate", str(tmp_path / "none.onnx")), "needs the .onnx file"),
        (("classify", str(trained / "lm.onnx"), "text"), "not a classifier"),
        (("generate", str(trained / "lm.onnx"), "--temperature", "0"), "temperature"),
    ]
    for args, fragment in cases:
        done = run_portable(*args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], (args, lines)


def test_portable_classifier_predictions_are_rnnlab_classify_predict(tmp_path):
    checkpoint = FIXTURES / "classify"
    export(checkpoint, "onnx", tmp_path / "clf.onnx")
    texts = [line.split(",")[0] for line in (FIXTURES / "names.csv").read_text().splitlines()[1:]]
    expected = run_cli("classify", "predict", str(checkpoint), *texts, "--top", "2")
    done = run_portable("classify", str(tmp_path / "clf.onnx"), *texts, "--top", "2")
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    expected_rows = [line.split("\t") for line in expected.splitlines()]
    assert [r[:2] + r[3:4] for r in rows] == [r[:2] + r[3:4] for r in expected_rows]
    numbers = np.array([[float(r[2]), float(r[4])] for r in rows])
    expected_numbers = np.array([[float(r[2]), float(r[4])] for r in expected_rows])
    assert np.abs(numbers - expected_numbers).max() <= 1e-4 + 1e-9


def test_portable_series_classifier_reads_an_npz_as_rnnlab_reads_values(tmp_path):
    scaling = SeriesScaling(["x", "y"], [1.0, -2.0], [2.0, 0.5])
    model = SequenceClassifier(None, ["u", "v", "w"], hidden_size=8, series=scaling).eval()
    export_onnx(model, tmp_path / "s.onnx")
    rng = np.random.default_rng(1)
    values = rng.normal(size=(6, 9, 2)).astype(np.float32) * 3
    lengths = np.array([9, 2, 5, 9, 1, 7])
    np.savez(tmp_path / "s.npz", values=values, lengths=lengths)
    series = [v[:n] for v, n in zip(values, lengths, strict=True)]
    expected = model.predict_proba(series).numpy()
    got = Classifier(tmp_path / "s.onnx").probabilities(series)
    close(got, expected)
    done = run_portable("classify", str(tmp_path / "s.onnx"), "--npz", str(tmp_path / "s.npz"))
    labels = [line.split("\t")[1] for line in done.stdout.splitlines()]
    assert labels == [model.labels[i] for i in expected.argmax(1)]


def test_portable_translations_are_rnnlab_translate_greedy_and_beam(tmp_path):
    checkpoint = FIXTURES / "translate"
    export(checkpoint, "onnx", tmp_path / "tr.onnx")
    model = Seq2Seq.from_pretrained(checkpoint)
    sources = [line.split("\t")[0] for line in (FIXTURES / "pairs.tsv").read_text().splitlines()]
    portable = Translator(tmp_path / "tr.onnx")
    for beam in (1, 3):
        expected = model.translate(sources, beam=beam)
        got = portable.translate(sources, beam=beam)
        assert [text for text, _ in got] == [t.text for t in expected]
        assert np.allclose([p for _, p in got], [t.log_prob for t in expected], atol=1e-4)
    line = run_cli("translate", str(checkpoint), sources[0], "--scores")
    done = run_portable("translate", str(tmp_path / "tr.onnx"), sources[0], "--scores")
    assert done.stdout.split("\t")[0] == line.split("\t")[0]


def test_portable_forecast_is_rnnlab_forecast_predict(tmp_path):
    model = Forecaster.from_pretrained(FIXTURES / "forecast")
    model.calibration = [0.75]  # the interval widened as rnnlab widens it
    export_onnx(model, tmp_path / "fc.onnx")
    history = (FIXTURES / "series.csv").read_text()
    values = np.array([[float(r.split(",")[1])] for r in history.splitlines()[1:]])
    expected = model.predict(values)
    ((name, point, lower, upper),) = PortableForecaster(tmp_path / "fc.onnx").forecast(values)
    assert name == "y"
    pairs = ((point, expected.point), (lower, expected.lower), (upper, expected.upper))
    for got, reference in pairs:
        assert np.allclose(got, np.asarray(reference).reshape(-1), rtol=1e-4, atol=1e-4)
    csv = str(FIXTURES / "series.csv")
    done = run_portable("forecast", str(tmp_path / "fc.onnx"), "--history", csv)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + model.horizon


def test_portable_chatbot_replies_are_its_greedy_and_beam_translations(tmp_path):
    turns = ["hello there", "hi friend", "how are you", "fine thanks", "and you"]
    source = Vocabulary.build("word", "\n".join(turns) + "\n")
    target = target_vocabulary("word", dict.fromkeys(" ".join(turns).split(), 1))
    torch.manual_seed(3)
    model = Chatbot(source, target, context=1, hidden_size=12, embedding_size=6, max_length=4)
    model = model.eval()
    with torch.no_grad():
        model.head.weight.mul_(6)  # spread-out scores: no near ties between the two runtimes
    export_onnx(model, tmp_path / "chat.onnx")
    contexts = ["hello there\nhi friend", "how are you", "fine thanks\nand you how are you"]
    portable = Translator(tmp_path / "chat.onnx")
    for beam in (1, 2):
        expected = [t.text for t in model.translate(contexts, beam=beam)]
        assert [text for text, _ in portable.translate(contexts, beam=beam)] == expected


def test_portable_forecast_with_covariates_and_two_targets(tmp_path):
    from rnnlab.tasks.forecast.series import Scaling

    scaling = Scaling(np.array([2.0, 0.5]), np.array([1.0]), np.array([3.0]), "window")
    model = Forecaster(
        ["y", "z"], covariates=["x"], scaling=scaling, window=8, horizon=4, hidden_size=8
    ).eval()
    model.calibration = [0.3, 1.2]
    export_onnx(model, tmp_path / "fc.onnx")
    history = np.random.default_rng(0).normal(size=(20, 3)) * [2.0, 0.5, 3.0] + [5, -1, 1]
    expected = model.predict(history)
    got = PortableForecaster(tmp_path / "fc.onnx").forecast(history)
    assert [name for name, *_ in got] == ["y", "z"]
    point, lower, upper = (np.stack([g[k] for g in got]) for k in (1, 2, 3))  # (S, H)
    for mine, theirs in ((point, expected.point), (lower, expected.lower), (upper, expected.upper)):
        assert np.allclose(mine, theirs, rtol=1e-4, atol=1e-4)


def test_portable_transcription_is_rnnlab_speech_transcribe(tmp_path):
    torch.manual_seed(3)
    model = SpeechRecognizer("abc '", hidden_size=16, num_layers=2, n_mels=20).eval()
    with torch.no_grad():  # spread-out scores (the same best path in both runtimes), and
        model.head.weight.mul_(6)  # no bias towards the blank: something is written
        model.head.bias.zero_()
    model.save_pretrained(tmp_path / "asr")
    export(tmp_path / "asr", "onnx", tmp_path / "asr.onnx")
    rng = np.random.default_rng(0)
    paths = []
    for n, seconds in enumerate((0.7, 1.3)):
        t = np.arange(int(16_000 * seconds)) / 16_000
        tone = 0.3 * np.sin(2 * np.pi * (200 + 900 * t) * t) + 0.05 * rng.normal(size=t.size)
        path = tmp_path / f"r{n}.wav"
        with wave.open(str(path), "wb") as file:
            file.setnchannels(1)
            file.setsampwidth(2)
            file.setframerate(16_000)
            file.writeframes((np.clip(tone, -1, 1) * 32767).astype("<i2").tobytes())
        paths.append(str(path))
    portable = Recognizer(tmp_path / "asr.onnx")
    samples = np.asarray(rng.normal(size=8000) * 0.1, np.float32)
    close(portable.features(samples), LogMel(16_000, 20)(torch.from_numpy(samples)))
    expected = run_cli("speech", "transcribe", str(tmp_path / "asr"), *paths)
    done = run_portable("transcribe", str(tmp_path / "asr.onnx"), *paths)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected and len(expected.splitlines()) == 2
    assert all(line.split("\t")[1] for line in expected.splitlines())  # not empty


@pytest.mark.parametrize("condition", ["both", "init", "input"])
def test_portable_generation_from_a_label_is_rnnlab_generate_from_label(condition, tmp_path):
    vocab = target_vocabulary("char", dict.fromkeys("abcdefghij", 1))
    torch.manual_seed(4)
    model = ConditionalGenerator(
        vocab, ["x", "y"], hidden_size=16, num_layers=2, condition=condition, condition_size=4
    ).eval()
    with torch.no_grad():
        model.head.weight.mul_(6)  # spread-out scores: the same choices in both runtimes
    model.save_pretrained(tmp_path / "cond")
    export(tmp_path / "cond", "onnx", tmp_path / "cond.onnx")
    # at a temperature this low a draw is the likeliest symbol, whichever generator draws it
    options = ["--label", "y", "--count", "3", "--prime", "ab", "--temperature", "1e-6"]
    expected = run_cli("generate-from-label", str(tmp_path / "cond"), *options, "--seed", "0")
    done = run_portable("generate-from-label", str(tmp_path / "cond.onnx"), *options)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected and len(expected.splitlines()) == 3
    sampled = LabelGenerator(tmp_path / "cond.onnx")
    assert sampled.generate("x", 4, seed=1) == sampled.generate("x", 4, seed=1)


# -- the hub folder ----------------------------------------------------------------------------


def test_hub_folder_loads_with_from_pretrained_and_its_card_reproduces_the_run(trained, tmp_path):
    out = tmp_path / "hub"
    printed = run_cli("export", str(trained / "lm"), "--format", "hub", "--out", str(out))
    assert "README.md" in printed
    assert {"config.json", "model.safetensors", "README.md", "model.onnx", "model.json"} <= {
        p.name for p in out.iterdir()
    }
    original, copy = load_checkpoint(trained / "lm"), LanguageModel.from_pretrained(out)
    ids = torch.randint(0, len(original.vocab), (2, 30))
    with torch.no_grad():
        assert torch.equal(original(ids)[0], copy(ids)[0])
    card = (out / "README.md").read_text()
    config = json.loads((trained / "lm" / "config.json").read_text())
    assert config["data"]["sha256"] in card
    assert f"{original.checkpoint_meta['val_loss']:.4f}" in card
    command = card.split("```\n")[1].splitlines()[0]
    words = shlex.split(command)
    assert words[:2] == ["rnnlab", "train"]
    args = build_parser().parse_args(words[1:])  # the command parses, with the run's settings
    assert args.hidden_size == 32 and args.num_layers == 2 and args.seq_len == 16
    assert args.text == [str(trained / "text.txt")]
    again = tmp_path / "again"  # and run, it trains the same model again, bit for bit
    run_cli(*[str(again) if w == "FOLDER" else w for w in words[1:]], "--sample-length", "0")
    retrained = json.loads((again / "config.json").read_text())
    assert retrained["model"] == config["model"] and retrained["training"] == config["training"]
    with torch.no_grad():
        assert torch.equal(LanguageModel.from_pretrained(again)(ids)[0], copy(ids)[0])


def test_portable_refuses_a_damaged_export_in_one_line(trained, tmp_path):
    for name in ("lm.onnx", "lm.sequence.onnx", "lm.json"):
        (tmp_path / name).write_bytes((trained / name).read_bytes())
    (tmp_path / "lm.sequence.onnx").write_bytes((trained / "lm.sequence.onnx").read_bytes()[:500])
    damaged = run_portable("generate", str(tmp_path / "lm.onnx"), "--length", "5")
    meta = json.loads((tmp_path / "lm.json").read_text())
    meta["graphs"]["step"]["file"] = "../elsewhere.onnx"
    (tmp_path / "lm.json").write_text(json.dumps(meta))
    moved = run_portable("generate", str(tmp_path / "lm.onnx"), "--length", "5")
    del meta["config"]
    (tmp_path / "lm.json").write_text(json.dumps(meta))
    broken = run_portable("generate", str(tmp_path / "lm.onnx"), "--length", "5")
    cases = ((damaged, "not a usable ONNX model"), (moved, "outside its folder"), (broken, ""))
    for done, fragment in cases:
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert lines[0].startswith("rnnlab.portable: error: ") and fragment in lines[0]
