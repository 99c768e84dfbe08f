"""The loop over time as an ONNX ``Scan``, so that exported graphs keep a dynamic time axis.

Tracing a model for ``torch.onnx.export`` records the loop of :meth:`rnnlab.Cell.unroll` one
Python iteration at a time, which fixes the number of steps to the example's. While
:func:`unrolls_as_scans` is active, every :class:`~rnnlab.Recurrent` layer in a model takes its
step-by-step path and each (layer, direction) unroll is recorded as one placeholder node,
``rnnlab::Unroll(gi, mask, state...) -> (outputs, state...)``; then :func:`replace_unrolls`
turns each placeholder into a standard ``Scan`` whose body is the cell's own ``recur`` traced
for one step with that layer's W_hh and b_hh, under the masking rule of ``unroll``:

    new = recur(gi_t, state, W_hh, b_hh);  state = mask_t ? new : state;  out_t = mask_t * h

A reverse direction scans its inputs and outputs backwards (``scan_*_directions`` = 1), so a
padded sequence's reverse pass starts at its own last real step, exactly as in PyTorch.
"""

from __future__ import annotations

import io
from contextlib import contextmanager

import onnx
import torch
from onnx import helper
from torch import Tensor, nn

from rnnlab.cells import Cell
from rnnlab.recurrent import Recurrent

OPSET = 17
DOMAIN = "rnnlab"

#: the unrolls recorded while tracing, by the key their placeholder carries: (cell, W_hh, b_hh)
_UNROLLS: dict[str, tuple[Cell, Tensor, Tensor | None]] = {}


class _Unroll(torch.autograd.Function):
    """``cell.unroll`` in eager mode; one ``rnnlab::Unroll`` node in a traced graph."""

    @staticmethod
    def forward(ctx, key, reverse, gi, mask, weight_hh, bias_hh, *state):
        cell = _UNROLLS[key][0]
        output, final = Cell.unroll(cell, gi, state, weight_hh, bias_hh, mask, reverse)
        return (output, *final)

    @staticmethod
    def symbolic(g, key, reverse, gi, mask, weight_hh, bias_hh, *state):
        # the weights are the tracer's inputs; the Scan's body holds them (_step_graph)
        output, *final = g.op(
            f"{DOMAIN}::Unroll",
            gi,
            mask,
            *state,
            key_s=key,
            reverse_i=int(reverse),
            outputs=1 + len(state),
        )
        hidden = _UNROLLS[key][0].hidden_size  # (T, B, H) and the state's own (B, H)
        output.setType(gi.type().with_sizes([None, None, hidden]))
        for value, given in zip(final, state, strict=True):
            value.setType(given.type())
        return (output, *final)


@contextmanager
def unrolls_as_scans(model: nn.Module, scan: bool = True):
    """Within the block, every Recurrent in ``model`` steps (no fused kernel) and its cells'
    unrolls are the placeholder (see the module docstring); put back afterwards. With ``scan``
    False the cells run :meth:`Cell.unroll`'s own loop, which a trace records step by step:
    for a graph of a fixed number of steps (one, for a step graph)."""
    saved = []
    for layer in model.modules():
        if not isinstance(layer, Recurrent):
            continue
        cell = layer.cell
        saved.append((layer, layer.fused))
        layer.fused = False

        def unroll(gi, state, weight_hh, bias_hh, mask=None, reverse=False, cell=cell):
            if not scan:
                return Cell.unroll(cell, gi, state, weight_hh, bias_hh, mask, reverse)
            if mask is None:
                mask = torch.ones(gi.shape[:2], dtype=torch.bool, device=gi.device)
            key = f"unroll{len(_UNROLLS)}"
            _UNROLLS[key] = (cell, weight_hh, bias_hh)
            output, *final = _Unroll.apply(key, reverse, gi, mask, weight_hh, bias_hh, *state)
            return output, tuple(final)

        cell.unroll = unroll
    try:
        yield
    finally:
        _UNROLLS.clear()
        for layer, fused in saved:
            layer.fused = fused
            del layer.cell.unroll


class _Step(nn.Module):
    """One masked step of ``cell`` with its W_hh and b_hh: (state..., gi_t, mask_t) ->
    (state..., out_t)."""

    def __init__(self, cell: Cell, weight_hh: Tensor, bias_hh: Tensor | None) -> None:
        super().__init__()
        self.cell = cell
        self.register_buffer("weight_hh", weight_hh.detach().float())
        self.register_buffer("bias_hh", None if bias_hh is None else bias_hh.detach().float())

    def forward(self, *inputs: Tensor):
        count = len(self.cell.state_names)
        state, (gi, mask) = inputs[:count], inputs[count:]
        new = self.cell.recur(gi, state, self.weight_hh, self.bias_hh)
        keep = mask.unsqueeze(-1)
        new = tuple(torch.where(keep, n, s) for n, s in zip(new, state, strict=True))
        return (*new, new[0] * keep.to(new[0].dtype))


def _step_graph(key: str, prefix: str) -> onnx.GraphProto:
    """The traced step of the unroll ``key`` as a Scan body: its inputs the state and the
    step's (gi_t, mask_t), its weights its own initializers, every name prefixed by
    ``prefix``."""
    cell, weight_hh, bias_hh = _UNROLLS[key]
    count = len(cell.state_names)
    batch = 2
    example = (
        *(torch.zeros(batch, cell.hidden_size) for _ in range(count)),
        torch.zeros(batch, cell.gates * cell.hidden_size),
        torch.ones(batch, dtype=torch.bool),
    )
    names = [f"s{i}" for i in range(count)] + ["gi", "mask"]
    outputs = [f"n{i}" for i in range(count)] + ["out"]
    buffer = io.BytesIO()
    torch.onnx.export(
        _Step(cell, weight_hh, bias_hh),
        example,
        buffer,
        dynamo=False,
        opset_version=OPSET,
        input_names=names,
        output_names=outputs,
        dynamic_axes={name: {0: "batch"} for name in names + outputs},
    )
    body = onnx.load_from_string(buffer.getvalue()).graph

    def rename(name: str) -> str:
        return prefix + name if name else name

    for node in body.node:
        node.name = prefix + node.name
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
    for value in (*body.input, *body.output, *body.value_info):
        value.name = rename(value.name)
    for tensor in body.initializer:
        tensor.name = rename(tensor.name)
    body.name = prefix + "step"
    return body


def replace_unrolls(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace every ``rnnlab::Unroll`` node of ``model`` by a ``Scan`` (in place), and drop
    the initializers no node reads any more (each W_hh now lives in its Scan's body)."""
    graph = model.graph
    nodes = list(graph.node)
    del graph.node[:]
    for index, node in enumerate(nodes):
        if node.domain != DOMAIN:
            graph.node.append(node)
            continue
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        reverse = attributes["reverse"]
        prefix = f"scan{index}/"
        gi, mask, *state = node.input
        output, *final = node.output
        graph.node.append(
            helper.make_node(
                "Scan",
                [*state, gi, mask],
                [*final, output],
                name=prefix + "scan",
                body=_step_graph(attributes["key"].decode(), prefix),
                num_scan_inputs=2,
                scan_input_directions=[reverse, reverse],
                scan_output_directions=[reverse],
            )
        )
    kept = [o for o in model.opset_import if o.domain != DOMAIN]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    used = {name for node in graph.node for name in node.input}
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)
    return model
