"""Checkpoint files: safetensors for tensors, JSON for everything else, every write atomic.

A write goes to a temporary file beside the target (``.NAME.tmp-PID``), is flushed to disk and
renamed over the target (``os.replace``), and then the directory is flushed too, so that the
rename survives a power cut. A save that dies half way leaves the previous file intact, and
the next run in that directory removes the temporary file of a process that no longer lives
(:func:`remove_stale_temporaries`). A run holds an exclusive lock on its directory
(:func:`lock_directory`), so two runs never write one checkpoint.

Loading never runs code: there is no pickle anywhere. JSON is read with limits: a file over
``MAX_JSON_BYTES`` or nesting deeper than ``MAX_JSON_DEPTH`` is refused (a score may be NaN;
whoever reads a number checks its range).
Problems a user can cause (a missing directory, a truncated or foreign file) raise ValueError
with one line naming the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors
from torch import Tensor

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TRAINER_STATE = "trainer_state.safetensors"

MAX_JSON_BYTES = 256 * 2**20  # a config or a header's JSON: a word vocabulary fits many times
MAX_JSON_DEPTH = 32  # rnnlab writes at most 4 levels
TEMPORARY = re.compile(r"\.(.+)\.tmp-(\d+)")


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once: a temporary file, fsync, rename, fsync of the
    directory. An OSError names ``path`` (not the temporary file); a ``path`` that exists and is
    not a regular file (``/dev/null``, a pipe) is refused, since the rename would replace it."""
    path = Path(path)
    if path.exists() and not path.is_file():  # the rename would replace a device or a pipe
        raise ValueError(f"{path} is not a regular file; rnnlab replaces the files it writes")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Remove the temporary files in ``directory`` left by writers that died (their process
    is gone); returns what was removed."""
    removed = []
    for path in Path(directory).iterdir():
        match = TEMPORARY.fullmatch(path.name)
        if match and path.is_file() and not _alive(int(match.group(2))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def lock_directory(directory: str | Path) -> int:
    """Take the exclusive lock on ``directory`` (``flock`` on the directory itself, so no lock
    file is left behind); returns the descriptor to pass to :func:`unlock_directory`. Another
    process holding it is a ValueError; the lock dies with its process."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ValueError(f"{directory} is in use by another rnnlab run; wait for it") from None
    return fd


def unlock_directory(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def write_json(path: str | Path, data: dict) -> None:
    atomic_write(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


def parse_json(text: str | bytes, where: str):
    """``text`` as JSON within the limits above; ``where`` names it in the ValueError."""
    if len(text) > MAX_JSON_BYTES:
        raise ValueError(f"{where} is too large ({len(text):,} bytes > {MAX_JSON_BYTES:,})")
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        raise ValueError(f"{where} is corrupt (not valid JSON: {error})") from None
    except RecursionError:
        raise ValueError(f"{where} is corrupt (JSON nested too deeply)") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise ValueError(f"{where} is corrupt (JSON nested over {MAX_JSON_DEPTH} levels)")
    return data


def _depth(value) -> int:
    """The nesting depth of JSON ``value``, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def read_json(path: str | Path) -> dict:
    """The JSON object in the regular file ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no {path.name} in {path.parent}: not an rnnlab checkpoint directory")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path} is too large for a config ({path.stat().st_size:,} bytes)")
    data = parse_json(path.read_bytes(), str(path))
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
    with _safetensors(path) as file:
        tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
        text = (file.metadata() or {}).get("rnnlab", "{}")
    meta = parse_json(text, f"the header of {path}")
    if not isinstance(meta, dict):
        raise ValueError(f"the header of {path} is corrupt (expected a JSON object)")
    return tensors, meta


def tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in the safetensors file ``path``, read from its
    header alone (nothing is loaded)."""
    with _safetensors(path) as file:
        return {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}  # noqa: SIM118


@contextlib.contextmanager
def _safetensors(path: str | Path):
    """``safe_open(path)``: a missing or corrupt file is a one-line ValueError, and a file that
    cannot be read an OSError naming it and the cause (``Permission denied``), not "corrupt"."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no {path.name} in {path.parent}: not an rnnlab checkpoint directory")
    with open(path, "rb"):
        pass
    try:
        with safe_open(path, framework="pt") as file:
            yield file
    except (SafetensorError, ValueError) as error:
        raise ValueError(f"{path} is corrupt ({error}); it cannot be loaded") from None


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
