"""Where rnnlab may write: every output path a user names is checked here, before any work.

- A checkpoint's own files (``config.json``, ``model.safetensors``, ``trainer_state.safetensors``
  in a directory that holds a config or weights) are written only by the run that owns the
  directory. No other output may name one: :func:`output_file` refuses it.
- An output file may not be a directory, nor a device or a pipe (a write renames a new file
  over the old one, which would replace ``/dev/null`` itself). An output directory may not be
  a file or lie under one. A report directory (plots, JSON, evaluations) may not be a
  checkpoint directory, where its files would mix with the run's (:func:`output_dir` with
  ``reports=True``).
- The place must be writable. Missing folders are created later, so the nearest folder that
  exists is probed with a temporary file that is removed at once. That way a read-only or full
  place is refused before a run starts, not at its first save.

Each check raises ValueError with one line that names the path and the reason.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from rnnlab.checkpoint import CONFIG, TRAINER_STATE, WEIGHTS

CHECKPOINT_FILES = (CONFIG, WEIGHTS, TRAINER_STATE)


def is_checkpoint_dir(path: str | Path) -> bool:
    """Whether ``path`` is a directory that holds a checkpoint's config or weights."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in (CONFIG, WEIGHTS))


def output_file(path: str | Path) -> Path:
    """``path`` as a file to write, after the checks above."""
    with _unreachable(path):
        return _output_file(Path(path))


def output_dir(path: str | Path, reports: bool = False) -> Path:
    """``path`` as a directory to write into (``reports``: not a checkpoint directory)."""
    with _unreachable(path):
        return _output_dir(Path(path), reports)


@contextlib.contextmanager
def _unreachable(path):
    """A place the checks cannot even look at (a folder without search permission) is a
    ValueError too."""
    try:
        yield
    except OSError as error:
        raise ValueError(f"cannot write {path}: {error.strerror or error}") from None


def _output_file(path: Path) -> Path:
    resolved = path.resolve()
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name")
    if path.exists() and not path.is_file():  # a device or a pipe: renaming over it replaces it
        raise ValueError(f"{path} is not a regular file; rnnlab replaces the files it writes")
    if resolved.name in CHECKPOINT_FILES and is_checkpoint_dir(resolved.parent):
        raise ValueError(f"{path} is a file of the checkpoint in {path.parent}; write elsewhere")
    _check_writable(resolved.parent, path.parent)
    return path


def _output_dir(path: Path, reports: bool) -> Path:
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a directory")
    if reports and is_checkpoint_dir(path):
        raise ValueError(f"{path} holds a checkpoint; write elsewhere")
    _check_writable(path.resolve(), path)
    return path


def _check_writable(folder: Path, shown: Path) -> None:
    """Refuse unless files can be created in ``folder`` (or, if it does not exist yet, in the
    nearest folder above it that does)."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{shown} cannot be created: {existing} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"cannot write in {existing}: {error.strerror or error}") from None
