"""The training loop every task runs on, its learning-rate schedule and its set-up."""

from rnnlab.training.loop import Diverged, EpochResult, EpochTrainer, Loop, RunResult
from rnnlab.training.schedule import learning_rate

__all__ = [
    "Diverged",
    "EpochResult",
    "EpochTrainer",
    "Loop",
    "RunResult",
    "learning_rate",
]
