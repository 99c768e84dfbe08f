"""An exported model as the portable runtime holds it: the JSON that ``rnnlab export`` writes
beside the graphs (:mod:`rnnlab.export.onnx_files`), and one onnxruntime session per graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

FORMAT, VERSION = "rnnlab.onnx", 1


class Exported:
    """An exported model: its JSON and one onnxruntime session per graph."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        path = Path(path)
        sidecar = path.with_suffix(".json")
        if not path.is_file() or not sidecar.is_file():
            raise ValueError(f"{path}: needs the .onnx file and {sidecar.name} beside it")
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(f"{sidecar} is not an rnnlab ONNX export (version {VERSION})")
        self.meta, self.config = meta, meta["config"]
        self.kind = meta["kind"]
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.sessions = {
            role: _session(path, str(graph["file"]), options)
            for role, graph in meta["graphs"].items()
        }
        #: per graph, its input names and its output names (asked once: run is the hot path)
        self.names = {
            role: ({i.name for i in s.get_inputs()}, [o.name for o in s.get_outputs()])
            for role, s in self.sessions.items()
        }

    def run(self, role: str, **feed) -> dict[str, np.ndarray]:
        """Run graph ``role`` on the inputs it has (unused ones are dropped by name)."""
        wanted, names = self.names[role]
        values = self.sessions[role].run(names, {k: v for k, v in feed.items() if k in wanted})
        return dict(zip(names, values, strict=True))

    @property
    def model(self) -> dict:
        return self.config["model"]


def _session(main: Path, name: str, options: ort.SessionOptions) -> ort.InferenceSession:
    """An onnxruntime session of the graph file ``name`` beside ``main``; one that cannot be
    read is a ValueError of one line (onnxruntime raises its own kinds of error)."""
    if not name or Path(name).name != name:
        raise ValueError(f"{main.with_suffix('.json')} names a graph file outside its folder")
    path = main.with_name(name)
    if not path.is_file():
        raise ValueError(f"{path}: the export's graph file is missing")
    try:
        return ort.InferenceSession(str(path), options)
    except Exception as error:  # InvalidProtobuf, Fail, ...: all say the file is unusable
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path}: not a usable ONNX model ({reason})") from None
