"""The training loop every task runs on, its learning-rate schedule and its set-up."""

from rnnlab.training.loop import EpochResult, EpochTrainer
from rnnlab.training.schedule import learning_rate

__all__ = ["EpochResult", "EpochTrainer", "learning_rate"]
