"""rnnlab.scratch: the networks in plain NumPy with hand-written backpropagation through time.

Readable reference and test oracle for the PyTorch layers: each cell's step and its backward
step (:mod:`~rnnlab.scratch.cells`), the loop over time and layers with BPTT
(:mod:`~rnnlab.scratch.network`), softmax cross-entropy (:mod:`~rnnlab.scratch.output`),
clipping and SGD/Adagrad/Adam (:mod:`~rnnlab.scratch.optim`), finite-difference gradient checks
(:mod:`~rnnlab.scratch.gradcheck`), and a character model with its training loop
(:mod:`~rnnlab.scratch.charrnn`). No autograd anywhere.
"""

from rnnlab.scratch.charrnn import CharRNN, ScratchResult, train
from rnnlab.scratch.gradcheck import check, max_relative_error, numeric_gradient
from rnnlab.scratch.network import Network
from rnnlab.scratch.optim import SGD, Adagrad, Adam, clip_grad_norm
from rnnlab.scratch.output import softmax, softmax_cross_entropy

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "CharRNN",
    "Network",
    "ScratchResult",
    "check",
    "clip_grad_norm",
    "max_relative_error",
    "numeric_gradient",
    "softmax",
    "softmax_cross_entropy",
    "train",
]
