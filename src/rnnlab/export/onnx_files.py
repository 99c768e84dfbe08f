"""Writing a model's ONNX graphs (:mod:`rnnlab.export.onnx_graphs`) as files, with the JSON
that a runtime needs beside them, and int8 weights on request.

``export_onnx(model, "model.onnx")`` writes the kind's first graph to ``model.onnx``, each
other graph to ``model.<role>.onnx`` and ``model.json``::

    {"format": "rnnlab.onnx", "version": 1, "kind": <the checkpoint's format>,
     "quantize": null | "int8", "opset": 17,
     "graphs": {<role>: {"file": ..., "inputs": [...], "outputs": [...]}, ...},
     "config": <the checkpoint's config.json: vocabulary, labels, settings, scaling>}

``quantize="int8"`` stores the weights of the matrix products (MatMul, Gemm, Gather) as 8-bit
integers with one scale per tensor, by onnxruntime's dynamic quantization; activations are
quantized on the fly at run time.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import onnx

from rnnlab import __version__
from rnnlab.checkpoint import atomic_write, write_json
from rnnlab.export.onnx_graphs import model_graphs, to_onnx
from rnnlab.export.unroll import OPSET
from rnnlab.outputs import is_checkpoint_dir, output_file

FORMAT, VERSION = "rnnlab.onnx", 1


def graph_path(out: Path, role: str, first: bool) -> Path:
    """Where the graph ``role`` goes: ``out`` for the first, ``<stem>.<role>.onnx`` else."""
    return out if first else out.with_name(f"{out.stem}.{role}.onnx")


def sidecar_path(out: Path) -> Path:
    return out.with_suffix(".json")


def export_onnx(model, out: str | Path, quantize: str | None = None) -> list[Path]:
    """Write ``model``'s graphs and their JSON (see the module docstring); the paths written."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"{out}: an ONNX file's name ends in .onnx")
    if is_checkpoint_dir(out.parent):
        raise ValueError(f"{out.parent} holds a checkpoint; write the export elsewhere")
    if quantize not in (None, "int8"):
        raise ValueError(f"--quantize must be int8, got {quantize!r}")
    model = model.float()  # the graphs are float32 (a no-op for a model loaded from disk)
    graphs = model_graphs(model)
    paths = [graph_path(out, graph.role, index == 0) for index, graph in enumerate(graphs)]
    for path in (*paths, sidecar_path(out)):  # every file, before the first is written
        output_file(path)
    files, described = [], {}
    out.parent.mkdir(parents=True, exist_ok=True)
    for graph, path in zip(graphs, paths, strict=True):
        exported = to_onnx(model, graph)
        exported.producer_name, exported.producer_version = "rnnlab", __version__
        data = exported.SerializeToString()
        if quantize == "int8":
            data = quantized(data)
        atomic_write(path, data)
        files.append(path)
        described[graph.role] = {
            "file": path.name,
            "inputs": [i.name for i in exported.graph.input],
            "outputs": list(graph.outputs),
        }
    sidecar = sidecar_path(out)
    write_json(
        sidecar,
        {
            "format": FORMAT,
            "version": VERSION,
            "rnnlab": __version__,
            "kind": model.FORMAT,
            "quantize": quantize,
            "opset": OPSET,
            "graphs": described,
            # the checkpoint's config (its training record too), updated by the model's own
            # (a calibration set after loading)
            "config": (getattr(model, "checkpoint_config", None) or {}) | model.config(),
        },
    )
    return [*files, sidecar]


def quantized(data: bytes) -> bytes:
    """The serialised model ``data`` with int8 weights (onnxruntime's dynamic quantization)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process, meant for image models
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder, "float.onnx"), Path(folder, "int8.onnx")
        source.write_bytes(data)
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "Gather"],
            extra_options={"EnableSubgraph": True},  # the Scans' bodies too
        )
        model = onnx.load(target)
    logging.disable(logging.NOTSET)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()
