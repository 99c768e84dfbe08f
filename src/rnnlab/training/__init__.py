"""The training loop every task runs on (with its run directory and trainer state), its
learning-rate schedule, its set-up, its distribution over processes, and the one way a training
command runs (:mod:`rnnlab.training.run`)."""

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
