"""Checkpoint files: safetensors for tensors, JSON for everything else, every write atomic.

A write goes to a temporary file beside the target, is flushed to disk, and then renamed over
the target (``os.replace``), so a save that dies half way leaves the previous file intact.
Loading never runs code: no pickle anywhere. Problems a user can cause (a missing directory, a
truncated or foreign file) raise ValueError with one line naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors
from torch import Tensor

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TRAINER_STATE = "trainer_state.safetensors"


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once: a temporary file, fsync, then rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: dict) -> None:
    atomic_write(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no {path.name} in {path.parent}: not an rnnlab checkpoint directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is corrupt (not valid JSON: {error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is corrupt (expected a JSON object)")
    return data


def write_tensors(path: str | Path, tensors: dict[str, Tensor], meta: dict | None = None) -> None:
    """Save tensors (contiguous CPU copies) with ``meta`` as JSON in the safetensors header."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    header = {"rnnlab": json.dumps(meta or {}, ensure_ascii=False)}
    atomic_write(path, save_safetensors(tensors, metadata=header))


def read_tensors(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    """The tensors and the JSON metadata saved by :func:`write_tensors`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no {path.name} in {path.parent}: not an rnnlab checkpoint directory")
    try:
        with safe_open(path, framework="pt") as file:
            tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
            meta = json.loads((file.metadata() or {}).get("rnnlab", "{}"))
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path} is corrupt ({error}); it cannot be loaded") from None
    return tensors, meta


def checkpoint_dir(path: str | Path) -> Path:
    """``path`` if it is an existing directory holding a config, else a ValueError."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"checkpoint directory not found: {path}")
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory; a checkpoint is a directory")
    if not (path / CONFIG).is_file():
        raise ValueError(f"{path} holds no {CONFIG}: not an rnnlab checkpoint directory")
    return path
