"""Saving and loading models as checkpoint directories, shared by every task's model.

A model class names its ``FORMAT`` (recorded in ``config.json``), returns everything needed to
rebuild it from :meth:`config`, and builds itself from that in ``_from_config``. Then
``save_pretrained(dir)`` writes ``config.json`` and ``model.safetensors`` (each atomically, keeping
any other keys already in the config, such as the training settings), and
``from_pretrained(dir)`` reads them back in eval mode without running any code from the files.

Loading validates before it allocates: the config must build the model on the meta device (no
memory), and that model's parameter names and shapes must be the ones in the weights file's
header; only then is the model built and the weights read, which must be finite. So a tampered
config can neither build a model larger than its weights file nor load into the wrong one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Self

import torch

from rnnlab.checkpoint import (
    CONFIG,
    WEIGHTS,
    checkpoint_dir,
    read_json,
    read_tensors,
    tensor_shapes,
    write_json,
    write_tensors,
)
from rnnlab.settings import check_section


class Pretrained:
    """Mixin for an ``nn.Module`` with ``FORMAT``, ``KIND``, ``config()`` and ``_from_config``."""

    FORMAT: str
    KIND: str  # what the model is, for error messages: "language model", ...
    DATA: tuple[str, ...] = ()  # constructor arguments that are data (a vocabulary), not settings

    def constructor_arguments(self, values: dict) -> dict:
        """The arguments the calling constructor was given, by name, in its signature's order
        (``values`` is its ``locals()``), but those named in ``DATA``: what ``config()``
        records under ``model`` and ``_from_config`` passes back, so no model lists them by
        hand."""
        code = sys._getframe(1).f_code
        names = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
        return {name: values[name] for name in names if name not in self.DATA}

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
        write_tensors(directory / WEIGHTS, self.state_dict(), meta)
        return self.save_config(directory)

    def save_config(self, directory: str | Path) -> Path:
        """Write ``config.json`` alone (atomically, keeping its other keys): for what a model
        learns after its weights are fixed, such as a forecaster's calibration."""
        config_path = Path(directory) / CONFIG
        config = read_json(config_path) if config_path.is_file() else {}
        config.update(self.config())
        write_json(config_path, config)
        return Path(directory)

    @classmethod
    def from_config(cls, config: dict) -> Self:
        """A freshly initialised model of the architecture ``config`` describes."""
        if config.get("format") != cls.FORMAT:
            raise ValueError(
                f"the checkpoint is not a {cls.KIND} (format {config.get('format')!r})"
            )
        model = config.get("model")
        if not isinstance(model, dict):
            raise ValueError(f"malformed {cls.KIND} config: its model section is not an object")
        check_section(model, f"malformed {cls.KIND} config")
        try:
            return cls._from_config(config)
        except KeyError as error:
            raise ValueError(f"malformed {cls.KIND} config: no {error}") from None
        except (TypeError, ValueError, AttributeError, IndexError, RuntimeError) as error:
            message = " ".join(str(error).split())
            raise ValueError(f"malformed {cls.KIND} config: {message}") from None

    @classmethod
    def check_fits(cls, config: dict, shapes: dict[str, tuple], where: Path) -> None:
        """Refuse ``config`` unless the model it describes has exactly the tensors ``shapes``
        (names and shapes, as in the header of the weights file ``where``). The model is
        built on the meta device, so nothing is allocated."""
        layers = _layers(config)
        if isinstance(layers, int) and layers > len(shapes):  # each layer has weights
            raise ValueError(f"the config asks for {layers} layers; {where} holds fewer")
        with torch.device("meta"):
            probe = cls.from_config(config)
        expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
        if expected != shapes:
            raise ValueError(f"{where} does not fit its config: {_difference(expected, shapes)}")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> Self:
        """The model saved in checkpoint ``directory``, in eval mode; the weights file's
        metadata is in ``model.checkpoint_meta`` and the whole config (training settings and
        data sources included) in ``model.checkpoint_config``."""
        directory = checkpoint_dir(directory)
        config = read_json(directory / CONFIG)
        cls.check_fits(config, tensor_shapes(directory / WEIGHTS), directory / WEIGHTS)
        model = cls.from_config(config)
        tensors, meta = read_tensors(directory / WEIGHTS)
        if not all(t.isfinite().all() for t in tensors.values() if t.is_floating_point()):
            raise ValueError(
                f"{directory / WEIGHTS} holds NaN or infinite weights; it cannot be used"
            )
        model.load_state_dict(tensors)
        model.checkpoint_meta, model.checkpoint_config = meta, config
        return model.eval()


def _layers(config: dict):
    model = config.get("model")
    return model.get("num_layers") if isinstance(model, dict) else None


def _difference(expected: dict[str, tuple], found: dict[str, tuple]) -> str:
    """The first way the weights file's tensors ``found`` differ from the ``expected`` ones."""
    missing = sorted(expected.keys() - found.keys())
    if missing:
        return f"{len(missing)} tensor(s) missing, such as {missing[0]}"
    extra = sorted(found.keys() - expected.keys())
    if extra:
        return f"{len(extra)} unexpected tensor(s), such as {extra[0]}"
    name = next(k for k in sorted(expected) if expected[k] != found[k])
    return f"{name} has shape {list(found[name])}, the config makes {list(expected[name])}"
