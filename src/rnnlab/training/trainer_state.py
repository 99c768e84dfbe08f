"""The trainer state: everything a run needs to continue, in one file written at once.

    trainer_state.safetensors
        tensors   model.NAME            the latest weights (not the kept ones)
                  optim.I.SLOT          AdamW's moments and step of parameter I
                  rng                   torch's random-number state
                  TASK...               what the task adds (a carried hidden state, best weights)
        header    step, elapsed, history, records, best, param_groups, and the task's JSON

Keeping the JSON in the safetensors header makes the whole state one file, so one atomic
rename saves it: a save that dies leaves the previous state whole. Reading validates before
anything is restored: a step that is not a count, a clock that is not finite seconds, history
or records that are not lists, or moments whose shapes are not their parameters' are refused
as "corrupt or from another run".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rnnlab.checkpoint import read_tensors, write_tensors

#: what a trainer state's checks and restoring raise on a file no run could have written
BROKEN = (KeyError, ValueError, RuntimeError, TypeError, IndexError, AttributeError)


@dataclass
class TrainerState:
    """The tensors and the JSON of a trainer state (see the module docstring)."""

    tensors: dict[str, torch.Tensor]
    meta: dict

    @classmethod
    def capture(
        cls,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        meta: dict,
        tensors: dict[str, torch.Tensor] | None = None,
    ) -> TrainerState:
        """The state of ``model``, ``optimizer`` and torch's random numbers, with the loop's
        and the task's ``meta`` and the task's own ``tensors``."""
        saved = {f"model.{k}": v for k, v in model.state_dict().items()}
        state = optimizer.state_dict()
        for index, slots in state["state"].items():
            saved.update({f"optim.{index}.{k}": v for k, v in slots.items()})
        saved["rng"] = torch.get_rng_state()
        saved.update(tensors or {})
        return cls(saved, {**meta, "param_groups": state["param_groups"]})

    def write(self, path: str | Path) -> None:
        write_tensors(path, self.tensors, self.meta)

    @classmethod
    def read(cls, path: str | Path, optimizer: torch.optim.Optimizer) -> TrainerState:
        """The state in ``path``, checked against ``optimizer``'s parameters."""
        tensors, meta = read_tensors(path)
        state = cls(tensors, meta)
        try:
            state.check(optimizer)
        except BROKEN as error:
            raise state.corrupt(path, error) from None
        return state

    def check(self, optimizer: torch.optim.Optimizer) -> None:
        """Refuse a state that no run could have saved (see the module docstring)."""
        meta = self.meta
        step, elapsed = meta["step"], meta["elapsed"]
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"step must be a count, got {step!r}")
        if not isinstance(elapsed, int | float) or not 0 <= elapsed < math.inf:
            raise ValueError(f"elapsed must be a finite number of seconds, got {elapsed!r}")
        if not isinstance(meta["history"], list) or not isinstance(meta.get("records", []), list):
            raise ValueError("history and records must be lists")
        shapes = [p.shape for group in optimizer.param_groups for p in group["params"]]
        for key, value in self.tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                if name != "step" and value.shape != shapes[int(index)]:
                    raise ValueError(
                        f"{key} has shape {list(value.shape)}, its parameter "
                        f"{list(shapes[int(index)])}"
                    )

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Put the latest weights, the moments and the random-number state back."""
        model.load_state_dict({k[6:]: v for k, v in self.tensors.items() if k.startswith("model.")})
        slots: dict[int, dict] = {}
        for key, value in self.tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                slots.setdefault(int(index), {})[name] = value
        groups = self.meta["param_groups"]
        for group in groups:
            group["betas"] = tuple(group["betas"])
        optimizer.load_state_dict({"state": slots, "param_groups": groups})
        torch.set_rng_state(self.tensors["rng"])

    def prefixed(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors saved under ``prefix`` (``best.``), without it."""
        return {k[len(prefix) :]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    @staticmethod
    def corrupt(path: str | Path, error: Exception) -> ValueError:
        message = " ".join(str(error).split())
        return ValueError(f"{path} is corrupt or from another run ({message})")
