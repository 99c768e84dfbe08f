"""Every model kind as ONNX graphs with dynamic batch and time axes, checked by ``onnx.checker``.

The graphs, by kind (B: batch, T: time, state: the recurrent state in torch's form, (L, B, H)
per tensor, named by the cell: ``h`` or ``h`` and ``c``):

- recurrent language model: ``step`` (ids[B], state) -> (logits[B, V], state), the graph a
  caller loops to generate, and ``sequence`` (ids[B, T], state) -> (logits[B, T, V], state);
- transformer language model: ``step`` (ids[B], the key/value cache: k0, v0, k1, ... each
  [B, heads, P, size]) -> (logits[B, V], the cache with position P added), and ``sequence``
  ids[B, T] -> (logits[B, T, V], its cache), T and P + 1 at most its context;
- classifier: ``classify`` (ids[B, T] or raw values[B, T, C], lengths[B]) -> probabilities[B, K],
  a series standardised inside the graph, padding after each sequence's length ignored;
- translator and chatbot: ``encoder`` (source[B, S], lengths[B]) -> the memory (outputs, mask,
  keys with attention, the decoder's first state) and ``decoder`` (previous[B], state, memory)
  -> (logits[B, V], state, attention weights[B, S]);
- speech recogniser: ``recognise`` (log-mel features[B, N, M], lengths[B]) -> (log-posteriors
  [B, T, A + 1], steps[B]); the log-mel front end stays outside the graph;
- forecaster: ``forecast`` (window[B, T, 1 + C] in the model's z units, state) -> (point, lower,
  upper, state): direct models (B, H) from the window's last step, autoregressive ones (B, T),
  one step ahead at every step; the interval is the network's, before calibration;
- conditional generator: ``step`` (previous[B], v[B, K], state) -> (logits[B, V], state),
  ``start`` v -> the first state, ``vectors`` labels[B] -> v (any vector of size K will do).

The time axis stays dynamic because each recurrent loop is an ONNX ``Scan``
(:mod:`rnnlab.export.unroll`); the step graph is traced over one step. PyTorch's
TorchScript-based exporter (``dynamo=False``) records the graphs.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import onnx
import torch
from torch import Tensor, nn

from rnnlab.export.unroll import DOMAIN, OPSET, replace_unrolls, unrolls_as_scans
from rnnlab.modes import evaluating
from rnnlab.recurrent import Recurrent
from rnnlab.tasks.chat.model import Chatbot
from rnnlab.tasks.classify.model import SequenceClassifier
from rnnlab.tasks.conditional.model import ConditionalGenerator
from rnnlab.tasks.forecast.model import Forecaster
from rnnlab.tasks.language.model import LanguageModel
from rnnlab.tasks.language.transformer import TransformerLM
from rnnlab.tasks.speech.model import SpeechRecognizer, steps_of
from rnnlab.tasks.translate.model import Memory, Seq2Seq

EXAMPLE_BATCH, EXAMPLE_TIME = 3, 5  # the traced example's shape; lengths 5, 2 and 4


@dataclass
class Graph:
    """One graph to export: its role, the function, an example input and the axis names."""

    role: str
    function: Callable
    example: tuple
    inputs: list[str]
    outputs: list[str]
    dynamic: dict[str, dict[int, str]]
    scan: bool = True  # loops over time as Scans (else traced for the example's steps)


class _Function(nn.Module):
    """``function`` as a module, so the exporter sees ``model``'s weights as parameters."""

    def __init__(self, model: nn.Module, function: Callable) -> None:
        super().__init__()
        self.model, self.function = model, function

    def forward(self, *inputs):
        return self.function(*inputs)


def _state_names(names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    return list(names), [f"{name}_out" for name in names]


def _torch_state(parts: tuple[Tensor, ...]):
    return parts[0] if len(parts) == 1 else tuple(parts)


def _flat_state(state) -> tuple[Tensor, ...]:
    return (state,) if torch.is_tensor(state) else tuple(state)


def _lengths() -> Tensor:
    return torch.tensor([EXAMPLE_TIME, 2, 4])


def _batch_time(*names: str) -> dict[str, dict[int, str]]:
    return {name: {0: "batch", 1: "time"} for name in names}


def language_graphs(model: LanguageModel) -> list[Graph]:
    names, outs = _state_names(model.cell.state_names)
    layers, hidden = model.settings["num_layers"], model.settings["hidden_size"]
    states = tuple(torch.zeros(layers, EXAMPLE_BATCH, hidden) for _ in names)
    state_axes = {name: {1: "batch"} for name in names + outs}

    def step(ids, *state):
        logits, state = model(ids[:, None], _torch_state(state))
        return logits[:, 0], *_flat_state(state)

    def sequence(ids, *state):
        logits, state = model(ids, _torch_state(state))
        return logits, *_flat_state(state)

    ids = torch.zeros(EXAMPLE_BATCH, EXAMPLE_TIME, dtype=torch.long)
    return [
        Graph(
            "step",
            step,
            (ids[:, 0], *states),
            ["ids", *names],
            ["logits", *outs],
            {"ids": {0: "batch"}, "logits": {0: "batch"}} | state_axes,
            scan=False,
        ),
        Graph(
            "sequence",
            sequence,
            (ids, *states),
            ["ids", *names],
            ["logits", *outs],
            _batch_time("ids", "logits") | state_axes,
        ),
    ]


def transformer_graphs(model: TransformerLM) -> list[Graph]:
    """The step graph reads one symbol after a key/value cache of any length (one query sees
    every key: no mask), the sequence graph a window from position 0, returning its cache."""
    layers = len(model.blocks)
    names = [f"{part}{layer}" for layer in range(layers) for part in ("k", "v")]
    outs = [f"{name}_out" for name in names]
    heads = model.blocks[0].heads
    size = model.settings["hidden_size"] // heads

    def flat(cache) -> list[Tensor]:
        return [part for entry in cache for part in entry]

    def step(ids, *parts):
        cache = [(parts[2 * i], parts[2 * i + 1]) for i in range(layers)]
        logits, cache = model.run(ids[:, None], cache)
        return logits[:, 0], *flat(cache)

    def sequence(ids):
        logits, cache = model.run(ids)
        return logits, *flat(cache)

    ids = torch.zeros(EXAMPLE_BATCH, EXAMPLE_TIME, dtype=torch.long)
    past = [torch.zeros(EXAMPLE_BATCH, heads, EXAMPLE_TIME, size) for _ in names]
    cached = {name: {0: "batch", 2: "positions"} for name in names}
    grown = {name: {0: "batch", 2: "positions_out"} for name in outs}
    return [
        Graph(
            "step",
            step,
            (ids[:, 0], *past),
            ["ids", *names],
            ["logits", *outs],
            {"ids": {0: "batch"}, "logits": {0: "batch"}} | cached | grown,
        ),
        Graph(
            "sequence",
            sequence,
            (ids,),
            ["ids"],
            ["logits", *outs],
            _batch_time("ids", "logits") | {name: {0: "batch", 2: "time"} for name in outs},
        ),
    ]


def conditional_graphs(model: ConditionalGenerator) -> list[Graph]:
    """``step`` (previous[B], v[B, K], state) -> (logits, state); ``start`` v -> s_0 (zeros
    for a model conditioned on its input only); ``vectors`` labels[B] -> v."""
    names, outs = _state_names(model.rnn.cell.state_names)
    layers, hidden = model.settings["num_layers"], model.settings["hidden_size"]
    states = tuple(torch.zeros(layers, EXAMPLE_BATCH, hidden) for _ in names)
    v = torch.zeros(EXAMPLE_BATCH, model.condition_size)

    def step(previous, v, *state):
        logits, state = model(previous[:, None], v, _torch_state(state))
        return logits[:, 0], *_flat_state(state)

    def start(v):
        state = model.initial_state(v)
        if state is None:  # conditioned on the input only: s_0 = 0
            zeros = v.new_zeros(layers, v.shape[0], hidden)
            return tuple(zeros for _ in names)
        return _flat_state(state)

    labels = torch.zeros(EXAMPLE_BATCH, dtype=torch.long)
    state_axes = {name: {1: "batch"} for name in names + outs}
    batch = {0: "batch"}
    return [
        Graph(
            "step",
            step,
            (labels, v, *states),
            ["previous", "v", *names],
            ["logits", *outs],
            {"previous": batch, "v": batch, "logits": batch} | state_axes,
            scan=False,
        ),
        Graph("start", start, (v,), ["v"], outs, {"v": batch} | state_axes),
        Graph(
            "vectors",
            model.vectors,
            (labels,),
            ["labels"],
            ["v"],
            dict.fromkeys(("labels", "v"), batch),
        ),
    ]


def classifier_graphs(model: SequenceClassifier) -> list[Graph]:
    if model.series is None:
        example = torch.zeros(EXAMPLE_BATCH, EXAMPLE_TIME, dtype=torch.long)
        name = "ids"
        prepare = None
    else:
        example = torch.zeros(EXAMPLE_BATCH, EXAMPLE_TIME, len(model.series.channels))
        name = "values"
        mean = torch.tensor(model.series.mean, dtype=torch.float32)
        std = torch.tensor(model.series.std, dtype=torch.float32)

        def prepare(values):
            return (values - mean) / std

    def classify(inputs, lengths):
        if prepare is not None:
            inputs = prepare(inputs)
        return model(inputs, lengths).float().softmax(-1)

    return [
        Graph(
            "classify",
            classify,
            (example, _lengths()),
            [name, "lengths"],
            ["probabilities"],
            _batch_time(name) | {"lengths": {0: "batch"}, "probabilities": {0: "batch"}},
        )
    ]


def seq2seq_graphs(model: Seq2Seq) -> list[Graph]:
    names, outs = _state_names(model.decoder.cell.state_names)
    attention = model.attention is not None
    memory_names = ["outputs", "mask"] + (["keys"] if attention else [])

    def encode(source, lengths):
        memory = model.encode(source, lengths)
        keys = [memory.keys] if attention else []
        return memory.outputs, memory.mask, *keys, *_flat_state(memory.state)

    def decode(previous, *inputs):
        state, rest = inputs[: len(names)], inputs[len(names) :]
        outputs, mask, keys = rest[0], rest[1], rest[2] if attention else None
        memory = Memory(outputs, mask, keys, _torch_state(state))
        logits, state, weights = model.step(previous, _torch_state(state), memory)
        extra = [weights] if attention else []
        return logits.float(), *_flat_state(state), *extra

    source = torch.zeros(EXAMPLE_BATCH, EXAMPLE_TIME, dtype=torch.long)
    with torch.no_grad():
        memory = model.encode(source, _lengths())
    example_memory = [memory.outputs, memory.mask] + ([memory.keys] if attention else [])
    state = _flat_state(memory.state)
    state_axes = {name: {1: "batch"} for name in names + outs}
    memory_axes = _batch_time(*memory_names)
    return [
        Graph(
            "encoder",
            encode,
            (source, _lengths()),
            ["source", "lengths"],
            memory_names + names,
            _batch_time("source") | {"lengths": {0: "batch"}} | memory_axes | state_axes,
        ),
        Graph(
            "decoder",
            decode,
            (torch.zeros(EXAMPLE_BATCH, dtype=torch.long), *state, *example_memory),
            ["previous", *names, *memory_names],
            ["logits", *outs] + (["weights"] if attention else []),
            {"previous": {0: "batch"}, "logits": {0: "batch"}, "weights": {0: "batch", 1: "time"}}
            | state_axes
            | memory_axes,
            scan=False,
        ),
    ]


def speech_graphs(model: SpeechRecognizer) -> list[Graph]:
    k, bands = model.subsample, model.n_mels

    def recognise(features, lengths):
        batch = features.shape[0]
        features = nn.functional.pad(features, (0, 0, 0, k - 1))  # room for a last partial step
        steps = steps_of(lengths, k)
        frames = steps.max() * k
        x = features[:, :frames].reshape(batch, -1, k * bands)
        output, _ = model.rnn(x, lengths=steps)
        return model.head(output).float().log_softmax(-1), steps

    features = torch.zeros(EXAMPLE_BATCH, EXAMPLE_TIME * k, bands)
    return [
        Graph(
            "recognise",
            recognise,
            (features, _lengths() * k - 1),
            ["features", "lengths"],
            ["log_probs", "steps"],
            _batch_time("features", "log_probs") | {"lengths": {0: "batch"}, "steps": {0: "batch"}},
        )
    ]


def forecaster_graphs(model: Forecaster) -> list[Graph]:
    names, outs = _state_names(model.rnn.cell.state_names)
    layers, hidden = model.settings["num_layers"], model.settings["hidden_size"]
    states = tuple(torch.zeros(layers, EXAMPLE_BATCH, hidden) for _ in names)

    def forecast(window, *state):
        theta, state = model(window, _torch_state(state))
        return *model.summary(theta), *_flat_state(state)

    window = torch.zeros(EXAMPLE_BATCH, EXAMPLE_TIME, 1 + len(model.covariates))
    axes = _batch_time("window") | {name: {1: "batch"} for name in names + outs}
    ahead = {0: "batch"} if model.mode == "direct" else {0: "batch", 1: "time"}
    return [
        Graph(
            "forecast",
            forecast,
            (window, *states),
            ["window", *names],
            ["point", "lower", "upper", *outs],
            axes | dict.fromkeys(("point", "lower", "upper"), ahead),
        )
    ]


#: the graphs of each model kind (Chatbot before Seq2Seq: it is one)
GRAPHS: tuple[tuple[type, Callable[..., list[Graph]]], ...] = (
    (LanguageModel, language_graphs),
    (TransformerLM, transformer_graphs),
    (SequenceClassifier, classifier_graphs),
    (Chatbot, seq2seq_graphs),
    (Seq2Seq, seq2seq_graphs),
    (SpeechRecognizer, speech_graphs),
    (Forecaster, forecaster_graphs),
    (ConditionalGenerator, conditional_graphs),
)


def _recurrent(model: nn.Module) -> bool:
    return any(isinstance(m, Recurrent) for m in model.modules())


def has_graphs(model: nn.Module) -> bool:
    """Whether ``model``'s kind exports as ONNX graphs."""
    return any(isinstance(model, kind) for kind, _ in GRAPHS)


def model_graphs(model: nn.Module) -> list[Graph]:
    """The graphs ``model`` exports as; a ValueError for a kind without them."""
    for kind, graphs in GRAPHS:
        if isinstance(model, kind):
            return graphs(model)
    raise ValueError(f"a {getattr(model, 'KIND', type(model).__name__)} has no ONNX export")


def to_onnx(model: nn.Module, graph: Graph) -> onnx.ModelProto:
    """``graph`` of ``model`` (in eval mode, float32) as a checked ONNX model."""
    buffer = io.BytesIO()
    with evaluating(model), unrolls_as_scans(model, graph.scan), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python values it records
        torch.onnx.export(
            _Function(model, graph.function),
            graph.example,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=graph.inputs,
            output_names=graph.outputs,
            dynamic_axes=graph.dynamic,
            custom_opsets={DOMAIN: 1} if graph.scan and _recurrent(model) else None,
        )
        exported = replace_unrolls(onnx.load_from_string(buffer.getvalue()))
    onnx.checker.check_model(exported, full_check=True)
    return exported
