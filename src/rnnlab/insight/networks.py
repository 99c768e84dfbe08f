"""Freshly initialised networks named on the command line: ``CELL[:INIT[:SCALE]]``.

Examples: ``lstm``, ``rnn-relu:identity`` (the IRNN), ``rnn:orthogonal:0.9`` (an orthogonal W_hh
scaled to spectral radius 0.9). SCALE multiplies every W_hh after initialisation, the direct way
to watch gradients vanish (< 1) or explode (> 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnlab.cells import CELLS, RNNCell
from rnnlab.data.vocab import Vocabulary
from rnnlab.init import SCHEMES
from rnnlab.recurrent import Recurrent
from rnnlab.settings import (
    DEPTH,
    FINITE,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    SEED,
    WIDTH,
    Check,
    Settings,
    one_of,
    setting,
    task_settings,
)
from rnnlab.tasks.language.model import LanguageModel

#: the networks the insight tools compare when none are named
DEFAULT_NETWORKS = "rnn,rnn-relu:identity,lstm,gru"

#: an initial forget-gate bias, or ``default`` for torch's uniform initialisation (None)
FORGET_BIAS = Check(
    lambda text: None if text == "default" else float(text),
    lambda v: v is None or FINITE.test(v),
    "a finite number or default",
)


@task_settings()
class NetworkSettings(Settings):
    """The fresh networks an insight tool builds: their width, the scheme and the forget-gate
    bias they start from, and the seed."""

    init: str = setting(
        "default", "scheme where LIST names none", one_of(SCHEMES), group="networks"
    )
    forget_bias: float | None = setting(
        1.0,
        "initial LSTM forget-gate bias; 'default' keeps torch's uniform init",
        FORGET_BIAS,
        group="networks",
        optional=True,
    )
    hidden_size: int = setting(128, "hidden units", WIDTH, flag="--hidden", group="networks")
    seed: int = setting(0, "random seed", SEED, group="networks")


@task_settings()
class GradientSettings(NetworkSettings):
    """What ``inspect gradients`` measures: windows of text read after a warm-up, the gradient
    taken up to ``distance`` steps back."""

    num_layers: int = setting(1, "of fresh networks", DEPTH, flag="--layers", group="networks")
    distance: int = setting(200, "steps back to measure", POSITIVE_INT, group="gradients")
    sequences: int = setting(64, "windows averaged over", POSITIVE_INT, group="gradients")
    warmup: int = setting(
        50,
        "steps read before the measured window, to set the state",
        NON_NEGATIVE_INT,
        group="gradients",
    )


@dataclass(frozen=True)
class NetworkSpec:
    """A cell name, an initialisation scheme and a scale for W_hh."""

    cell: str
    init: str = "default"
    scale: float = 1.0

    @classmethod
    def parse(cls, text: str, init: str = "default") -> NetworkSpec:
        """``CELL[:INIT[:SCALE]]``; ``init`` is the scheme when the text names none."""
        parts = text.strip().split(":")
        if len(parts) > 3 or not parts[0]:
            raise ValueError(f"network {text!r}: expected CELL[:INIT[:SCALE]]")
        cell = parts[0]
        if cell not in CELLS:
            raise ValueError(f"network {text!r}: the cell must be one of {', '.join(CELLS)}")
        if len(parts) > 1 and parts[1]:
            init = parts[1]
        if init not in SCHEMES:
            raise ValueError(f"network {text!r}: the init must be one of {', '.join(SCHEMES)}")
        if init == "identity" and CELLS[cell][0] is not RNNCell:
            raise ValueError(f"network {text!r}: identity init is for vanilla RNN cells only")
        scale = 1.0
        if len(parts) == 3:
            try:
                scale = float(parts[2])
            except ValueError:
                raise ValueError(f"network {text!r}: SCALE must be a number") from None
            if not (math.isfinite(scale) and scale > 0):
                raise ValueError(f"network {text!r}: SCALE must be a positive number")
        return cls(cell, init, scale)

    @classmethod
    def parse_list(cls, text: str, init: str = "default") -> list[NetworkSpec]:
        """A comma-separated list of specs."""
        specs = [cls.parse(part, init) for part in text.split(",") if part.strip()]
        if not specs:
            raise ValueError("no networks given (expected e.g. rnn,lstm,gru)")
        return specs

    @property
    def name(self) -> str:
        text = self.cell if self.init == "default" else f"{self.cell}:{self.init}"
        return text if self.scale == 1.0 else f"{text}:{self.scale:g}"

    def _forget_bias(self, forget_bias: float | None) -> float | None:
        return forget_bias if self.cell == "lstm" else None

    @torch.no_grad()
    def _scaled(self, rnn: Recurrent) -> None:
        for _, weight_hh, _, _ in rnn.weight_groups():
            weight_hh.mul_(self.scale)

    def recurrent(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        forget_bias: float | None = None,
        **kwargs,
    ) -> Recurrent:
        """The recurrent layer this spec names (``forget_bias`` applies to LSTMs only)."""
        rnn = Recurrent(
            self.cell,
            input_size,
            hidden_size,
            num_layers,
            init=self.init,
            forget_bias=self._forget_bias(forget_bias),
            **kwargs,
        )
        self._scaled(rnn)
        return rnn

    def language_model(
        self,
        vocab: Vocabulary,
        hidden_size: int,
        num_layers: int = 1,
        forget_bias: float | None = None,
    ) -> LanguageModel:
        """An untrained language model with this spec's recurrent layers, in eval mode."""
        model = LanguageModel(
            vocab,
            self.cell,
            hidden_size,
            num_layers,
            init=self.init,
            forget_bias=self._forget_bias(forget_bias),
        )
        self._scaled(model.rnn)
        return model.eval()
