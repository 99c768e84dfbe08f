"""Looking inside recurrent networks: gradient flow through time, hidden states as a text is
read, and long-memory tasks (see ``rnnlab inspect`` and ``rnnlab memory``)."""

from rnnlab.insight.gradients import GradientFlow, fitted_decay, gradient_flow, text_windows
from rnnlab.insight.memory import MemoryResult, longest_solved, sweep, train_memory
from rnnlab.insight.networks import NetworkSpec
from rnnlab.insight.states import StateReport, best_units, read_states, states_html
from rnnlab.insight.trace import Trace, trace

__all__ = [
    "GradientFlow",
    "MemoryResult",
    "NetworkSpec",
    "StateReport",
    "Trace",
    "best_units",
    "fitted_decay",
    "gradient_flow",
    "longest_solved",
    "read_states",
    "states_html",
    "sweep",
    "text_windows",
    "trace",
    "train_memory",
]
