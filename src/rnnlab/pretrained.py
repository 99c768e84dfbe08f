"""Saving and loading models as checkpoint directories, shared by every task's model.

A model class names its ``FORMAT`` (recorded in ``config.json``), returns everything needed to
rebuild it from :meth:`config`, and builds itself from that in ``_from_config``. Then
``save_pretrained(dir)`` writes ``config.json`` and ``model.safetensors`` (each atomically, keeping
any other keys already in the config, such as the training settings), and
``from_pretrained(dir)`` reads them back in eval mode without running any code from the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from rnnlab.checkpoint import (
    CONFIG,
    WEIGHTS,
    checkpoint_dir,
    read_json,
    read_tensors,
    write_json,
    write_tensors,
)


class Pretrained:
    """Mixin for an ``nn.Module`` with ``FORMAT``, ``KIND``, ``config()`` and ``_from_config``."""

    FORMAT: str
    KIND: str  # what the model is, for error messages: "language model", ...

    def config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def _from_config(cls, config: dict) -> Self:
        raise NotImplementedError

    def save_pretrained(self, directory: str | Path, meta: dict | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (each atomically) into ``directory``;
        ``meta`` goes into the weights file's header."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config_path = directory / CONFIG
        config = read_json(config_path) if config_path.is_file() else {}
        config.update(self.config())
        write_tensors(directory / WEIGHTS, self.state_dict(), meta)
        write_json(config_path, config)
        return directory

    @classmethod
    def from_config(cls, config: dict) -> Self:
        """A freshly initialised model of the architecture ``config`` describes."""
        if config.get("format") != cls.FORMAT:
            raise ValueError(
                f"the checkpoint is not a {cls.KIND} (format {config.get('format')!r})"
            )
        try:
            return cls._from_config(config)
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed {cls.KIND} config: {error}") from None

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> Self:
        """The model saved in checkpoint ``directory``, in eval mode; the weights file's
        metadata is in ``model.checkpoint_meta`` and the whole config (training settings and
        data sources included) in ``model.checkpoint_config``."""
        directory = checkpoint_dir(directory)
        config = read_json(directory / CONFIG)
        model = cls.from_config(config)
        tensors, meta = read_tensors(directory / WEIGHTS)
        try:
            model.load_state_dict(tensors)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise ValueError(f"{directory / WEIGHTS} does not fit its config: {first}") from None
        model.checkpoint_meta, model.checkpoint_config = meta, config
        return model.eval()
