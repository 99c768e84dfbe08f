"""The explorer, ``rnnlab serve``: a local web page where you watch a trained model read, write,
and forget (hidden-state heatmap, next-symbol probabilities, surprisal, gradient flow), and play
the RNN game against it. :mod:`~rnnlab.explore.reading` and :mod:`~rnnlab.explore.game` hold
what the page shows, :mod:`~rnnlab.explore.served` the checkpoints, :mod:`~rnnlab.explore.app`
the Starlette application, and ``static/`` the page itself (plain JavaScript, no build step)."""

from rnnlab.explore.app import create_app
from rnnlab.explore.game import Round
from rnnlab.explore.reading import Reader
from rnnlab.explore.served import Served, default_checkpoint, load_all

__all__ = ["Reader", "Round", "Served", "create_app", "default_checkpoint", "load_all"]
