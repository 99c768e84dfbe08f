"""One time step of each recurrent cell, and the loop that runs a cell over a sequence.

Every cell splits its step in two. The part that depends on the input alone,

    gi_t = W_ih x_t + b_ih,

is one matrix product for a whole sequence at once; the recurrence ``recur(gi_t, state, W_hh,
b_hh)`` is the part that needs the previous state and must run step after step. A state is a
tuple of tensors: ``(h,)`` for the vanilla RNN and the GRU, ``(h, c)`` for the LSTM.

Weight names, shapes and gate orders are those of ``torch.nn.RNNCell``, ``LSTMCell`` and
``GRUCell`` (the weights of G gates are stacked in blocks of ``hidden_size`` rows), so a state
dict moves between rnnlab and torch unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.checks import check_choice
from rnnlab.init import init_weights_
from rnnlab.scan import log_scan, scan

State = tuple[Tensor, ...]


def check_size(name: str, value: object) -> int:
    """Return ``value`` if it is a positive int, else raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class Cell(nn.Module):
    """Base class: the parameters of one cell and the loop that runs it over time.

    A cell built with ``weights=False`` holds only its equation; a :class:`~rnnlab.Recurrent`
    layer keeps one such cell and passes its own per-layer weights to ``recur`` and ``unroll``.
    """

    #: blocks of ``hidden_size`` rows in ``weight_ih`` and ``weight_hh``
    gates: ClassVar[int]
    #: names of the state tensors, ``("h",)`` or ``("h", "c")``
    state_names: ClassVar[tuple[str, ...]] = ("h",)
    #: True if a step depends on the two projections only through their sum ``gi + gh`` (then
    #: :meth:`activate` takes that sum, and both products can be one, on [x, h])
    additive: ClassVar[bool] = False
    #: blocks of ``hidden_size`` rows in ``weight_hh``: ``gates``, or 0 for a cell whose step
    #: does not multiply h_{t-1} by a matrix (its ``weight_hh`` and ``bias_hh`` have no rows)
    recurrent_gates: ClassVar[int | None] = None
    #: the forget gate's block in the gate order, for ``forget_bias`` (None: the cell has none)
    forget_gate: ClassVar[int | None] = None
    #: whether ``init="identity"`` (W_hh = I, the IRNN) applies: vanilla RNN cells only
    identity_init: ClassVar[bool] = False

    @classmethod
    def hh_rows(cls, hidden_size: int) -> int:
        """Rows of ``weight_hh`` and ``bias_hh``."""
        gates = cls.gates if cls.recurrent_gates is None else cls.recurrent_gates
        return gates * hidden_size

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        weights: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.has_weights = bool(weights)
        if not weights:
            return
        rows, hh_rows = self.gates * hidden_size, self.hh_rows(hidden_size)
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(hh_rows, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows, **factory))
            self.bias_hh = nn.Parameter(torch.empty(hh_rows, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    # -- the equation -------------------------------------------------------------------------

    def recur(self, gi: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None) -> State:
        """One step given the input projection ``gi = W_ih x_t + b_ih`` of shape (B, G*H)."""
        return self.update(gi, F.linear(state[0], weight_hh, bias_hh), state)

    def update(self, gi: Tensor, gh: Tensor, state: State) -> State:
        """The elementwise rest of a step, given both projections: ``gi = W_ih x_t + b_ih`` and
        ``gh = W_hh h_{t-1} + b_hh``, each (B, G*H). Callers that compute the products their own
        way (a prepacked kernel for generation) share the equation through this."""
        return self.activate(gi + gh, state)

    def activate(self, z: Tensor, state: State) -> State:
        """For :attr:`additive` cells: the step given the pre-activation sum ``z = gi + gh``."""
        raise NotImplementedError

    @property
    def fused_kernel(self) -> Callable | None:
        """torch's fused multi-layer kernel computing exactly this cell, or None."""
        return None

    # -- parameters ---------------------------------------------------------------------------

    def weight_groups(self) -> list[tuple[Tensor, Tensor, Tensor | None, Tensor | None]]:
        """``[(weight_ih, weight_hh, bias_ih, bias_hh)]``: the one group of a standalone cell."""
        if not self.has_weights:
            return []
        return [(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)]

    def reset_parameters(self, init: str = "default", forget_bias: float | None = None) -> None:
        """Initialise the weights by scheme name (see :mod:`rnnlab.init`)."""
        init_weights_(self, self.weight_groups(), init, forget_bias)

    # -- running ------------------------------------------------------------------------------

    def zero_state(self, batch_size: int, like: Tensor) -> State:
        """The all-zero state for ``batch_size`` sequences, on ``like``'s device and dtype."""
        shape = (batch_size, self.hidden_size)
        return tuple(like.new_zeros(shape) for _ in self.state_names)

    def as_state(
        self, hx: Tensor | tuple[Tensor, ...] | None, batch_size: int, like: Tensor
    ) -> State:
        """Accept torch's state forms (``h`` or ``(h, c)``) and return the internal tuple."""
        if hx is None:
            return self.zero_state(batch_size, like)
        state = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(state) != len(self.state_names):
            names = ", ".join(self.state_names)
            raise ValueError(f"hx: {type(self).__name__} expects a state of ({names})")
        return state

    def from_state(self, state: State) -> Tensor | tuple[Tensor, ...]:
        """The internal tuple in torch's form: ``h`` alone, or ``(h, c)``."""
        return state[0] if len(state) == 1 else tuple(state)

    def unroll(
        self,
        gi: Tensor,
        state: State,
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        mask: Tensor | None = None,
        reverse: bool = False,
    ) -> tuple[Tensor, State]:
        """Run ``recur`` over time: gi (T, B, G*H) -> outputs h_t (T, B, H), final state.

        ``mask`` (T, B), True at real steps: a masked step leaves the state unchanged and outputs
        zeros, so padding never reaches the real steps or the final state. ``reverse`` runs
        from t = T-1 down to 0. Memory: autograd keeps O(T*B*G*H) scalars, each step's gates.
        """
        steps = range(gi.shape[0] - 1, -1, -1) if reverse else range(gi.shape[0])
        outputs: list[Tensor] = []
        for t in steps:
            new = self.recur(gi[t], state, weight_hh, bias_hh)
            if mask is None:
                outputs.append(new[0])
            else:
                keep = mask[t].unsqueeze(-1)
                new = tuple(torch.where(keep, n, s) for n, s in zip(new, state, strict=True))
                outputs.append(new[0] * keep)
            state = new
        if reverse:
            outputs.reverse()
        return torch.stack(outputs), state

    def forward(self, input: Tensor, hx: Tensor | tuple[Tensor, ...] | None = None):
        """One step, as ``torch.nn.*Cell``: input (B, I) or (I,); returns h, or (h, c)."""
        self._check_input(input, dims=(1, 2))
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        if hx is not None and not batched:
            hx = tuple(s.unsqueeze(0) for s in self.as_state(hx, 1, x))
        state = self.as_state(hx, x.shape[0], x)
        new = self.recur(
            F.linear(x, self.weight_ih, self.bias_ih), state, self.weight_hh, self.bias_hh
        )
        if not batched:
            new = tuple(s.squeeze(0) for s in new)
        return self.from_state(new)

    def sequence(
        self,
        input: Tensor,
        hx: Tensor | tuple[Tensor, ...] | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
        """Run over a whole sequence: input (T, B, I) -> (outputs (T, B, H), final state)."""
        self._check_input(input, dims=(3,))
        state = self.as_state(hx, input.shape[1], input)
        gi = F.linear(input, self.weight_ih, self.bias_ih)
        outputs, state = self.unroll(gi, state, self.weight_hh, self.bias_hh, mask)
        return outputs, self.from_state(state)

    def _check_input(self, input: Tensor, dims: tuple[int, ...]) -> None:
        if not self.has_weights:
            raise RuntimeError(f"this {type(self).__name__} holds no weights; use recur/unroll")
        if input.dim() not in dims:
            raise ValueError(
                f"input: expected {' or '.join(map(str, dims))} dimensions, "
                f"got shape {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"input_size: the cell expects {self.input_size} features, "
                f"got input with {input.shape[-1]}"
            )

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if not self.has_weights:
            text += ", weights=False"
        return text


class RNNCell(Cell):
    """Vanilla (Elman) RNN cell.

        h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   f = tanh or relu

    The derivative of h_t with respect to h_{t-1} is diag(f'(.)) W_hh: backpropagation through
    time multiplies by it once per step, which is why gradients vanish or explode.
    """

    gates = 1
    additive = True
    identity_init = True
    activations: ClassVar[dict[str, Callable[[Tensor], Tensor]]] = {
        "tanh": torch.tanh,
        "relu": torch.relu,
    }

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        **kwargs,
    ) -> None:
        if nonlinearity not in self.activations:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, **kwargs)

    def activate(self, z: Tensor, state: State) -> State:
        return (self.activations[self.nonlinearity](z),)

    @property
    def fused_kernel(self) -> Callable:
        return torch.rnn_tanh if self.nonlinearity == "tanh" else torch.rnn_relu

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(Cell):
    """Long short-term memory cell (Hochreiter & Schmidhuber 1997, with a forget gate).

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)        input gate
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)        forget gate
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)     candidate
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)        output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    Gate blocks are stacked in the order i, f, g, o, as in torch. The cell state c carries
    memory additively: dc_t/dc_{t-1} = diag(f_t), so a forget gate near 1 keeps gradients alive.
    """

    gates = 4
    forget_gate = 1  # gate order i, f, g, o
    state_names = ("h", "c")
    additive = True

    def activate(self, z: Tensor, state: State) -> State:
        c = state[1]
        i, f, g, o = z.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    @property
    def fused_kernel(self) -> Callable:
        return torch.lstm


class GRUCell(Cell):
    """Gated recurrent unit (Cho et al. 2014), in torch's formulation.

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)             reset gate
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)             update gate
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))  candidate
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    Gate blocks are stacked in the order r, z, n. The reset gate multiplies W_hn h + b_hn, not
    h alone, exactly as torch and cuDNN do.
    """

    gates = 3

    def update(self, gi: Tensor, gh: Tensor, state: State) -> State:
        (h,) = state
        ir, iz, in_ = gi.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r = torch.sigmoid(ir + hr)
        z = torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return ((1 - z) * n + z * h,)

    @property
    def fused_kernel(self) -> Callable:
        return torch.gru


def _g(v: Tensor) -> Tensor:
    """g(v) = v + 1/2 for v >= 0, σ(v) below: continuous, increasing and always positive."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def _log_g(v: Tensor) -> Tensor:
    """log g(v), computed without forming g(v) for v < 0: log σ(v) = -softplus(-v)."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


class MinimalCell(Cell):
    """Base of minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): the gates and
    the candidate depend on x_t alone, so a step is the linear recurrence

        h_t = a_t * h_{t-1} + b_t,   (a_t, b_t) = :meth:`coefficients` (W_ih x_t + b_ih)

    with no W_hh (``weight_hh`` and ``bias_hh`` have no rows). :meth:`unroll` computes all steps
    at once with :func:`rnnlab.scan.scan` (``scan_method``, ``rnnlab train --scan``: ``auto``,
    ``sequential``, ``chunked``) or, as the paper trains, :func:`rnnlab.scan.log_scan`
    (``log``, from :meth:`log_coefficients`; it needs h_0 >= 0). A padded step gets a = 1,
    b = 0, so the state passes it unchanged. One step for generation is :meth:`update`: O(1)
    memory.
    """

    recurrent_gates = 0
    scan_method: str = "auto"

    def coefficients(self, gi: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def log_coefficients(self, gi: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def update(self, gi: Tensor, gh: Tensor, state: State) -> State:
        a, b = self.coefficients(gi)
        return (a * state[0] + b,)

    def unroll(
        self,
        gi: Tensor,
        state: State,
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        mask: Tensor | None = None,
        reverse: bool = False,
    ) -> tuple[Tensor, State]:
        """gi (T, B, G*H) -> outputs h_t (T, B, H), final state, by a scan over time (the
        contract of :meth:`Cell.unroll`). Memory: O(T*B*H) scalars for a, b and h."""
        # the scan in float32 at least: under bfloat16 autocast gi arrives in bfloat16, whose
        # 8-bit mantissa would round a_t = 0.999 to 1.0 and lose long memory
        gi = gi.to(torch.promote_types(gi.dtype, torch.float32))
        (h0,) = state
        h0 = h0.to(gi.dtype)
        keep = None if mask is None else mask.unsqueeze(-1)
        if self.scan_method == "log":
            log_a, log_b = self.log_coefficients(gi)
            if keep is not None:
                log_a = log_a.masked_fill(~keep, 0.0)
                log_b = log_b.masked_fill(~keep, float("-inf"))
            if reverse:
                log_a, log_b = log_a.flip(0), log_b.flip(0)
            log_h0 = None if not bool(h0.any()) else h0.log()
            h = log_scan(log_a.transpose(0, 1), log_b.transpose(0, 1), log_h0).exp()
        else:
            a, b = self.coefficients(gi)
            if keep is not None:
                a = a.masked_fill(~keep, 1.0)
                b = b.masked_fill(~keep, 0.0)
            if reverse:
                a, b = a.flip(0), b.flip(0)
            h = scan(a.transpose(0, 1), b.transpose(0, 1), h0, method=self.scan_method)
        h = h.transpose(0, 1)  # (T, B, H), in the order read
        final = h[-1]
        if reverse:
            h = h.flip(0)
        return (h if keep is None else h * keep), (final,)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.scan_method == "auto" else text + f", scan_method={self.scan_method!r}"


class MinGRUCell(MinimalCell):
    """minGRU: the GRU without h_{t-1} in its gate and candidate, nor a reset gate.

        z_t  = σ(W_iz x_t + b_iz)                                  update gate
        h~_t = g(W_ih x_t + b_ih),  g(v) = v + 1/2 (v >= 0), σ(v) (v < 0)   candidate, > 0
        h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t

    Blocks of ``weight_ih`` in the order z, h. In log space (k = W_iz x_t + b_iz):
    log(1 - z_t) = -softplus(k), log z_t = -softplus(-k), and log h~_t = log g(.).
    """

    gates = 2

    def coefficients(self, gi: Tensor) -> tuple[Tensor, Tensor]:
        k, v = gi.chunk(2, dim=-1)
        z = torch.sigmoid(k)
        return 1 - z, z * _g(v)

    def log_coefficients(self, gi: Tensor) -> tuple[Tensor, Tensor]:
        k, v = gi.chunk(2, dim=-1)
        return -F.softplus(k), -F.softplus(-k) + _log_g(v)


class MinLSTMCell(MinimalCell):
    """minLSTM: the LSTM's forget and input gates from x_t alone, normalised to sum to one,
    and no output gate nor cell state apart from h.

        f_t  = σ(W_if x_t + b_if),   i_t = σ(W_ii x_t + b_ii)     forget and input gates
        h~_t = g(W_ih x_t + b_ih)                                  candidate, > 0
        f'_t = f_t / (f_t + i_t),    i'_t = i_t / (f_t + i_t)
        h_t  = f'_t * h_{t-1} + i'_t * h~_t

    Blocks of ``weight_ih`` in the order f, i, h. With d = softplus(-k_f) - softplus(-k_i)
    (= log i_t - log f_t), f'_t = σ(-d) and i'_t = σ(d); in log space log f'_t = -softplus(d),
    log i'_t = -softplus(-d).
    """

    gates = 3

    def _difference(self, gi: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, v = gi.chunk(3, dim=-1)
        return F.softplus(-kf) - F.softplus(-ki), v

    def coefficients(self, gi: Tensor) -> tuple[Tensor, Tensor]:
        d, v = self._difference(gi)
        return torch.sigmoid(-d), torch.sigmoid(d) * _g(v)

    def log_coefficients(self, gi: Tensor) -> tuple[Tensor, Tensor]:
        d, v = self._difference(gi)
        return -F.softplus(d), -F.softplus(-d) + _log_g(v)


#: cell names accepted everywhere a cell is chosen by name, with the keyword arguments they imply
CELLS: dict[str, tuple[type[Cell], dict[str, str]]] = {
    "rnn": (RNNCell, {"nonlinearity": "tanh"}),
    "rnn-tanh": (RNNCell, {"nonlinearity": "tanh"}),
    "rnn-relu": (RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, {}),
    "gru": (GRUCell, {}),
    "mingru": (MinGRUCell, {}),
    "minlstm": (MinLSTMCell, {}),
}


def make_cell(
    name: str,
    input_size: int,
    hidden_size: int,
    bias: bool = True,
    nonlinearity: str | None = None,
    **kwargs,
) -> Cell:
    """Build a cell by name (``rnn``, ``rnn-relu``, ``lstm``, ``gru``, ``mingru``, ...).

    ``nonlinearity`` applies to ``rnn`` only and overrides the one a name implies.
    """
    check_choice("cell", name, CELLS)
    cls, implied = CELLS[name]
    options = dict(implied)
    if nonlinearity is not None:
        if cls is not RNNCell:
            raise ValueError(f"nonlinearity applies to the rnn cell only, not {name!r}")
        if name != "rnn" and nonlinearity != implied["nonlinearity"]:
            raise ValueError(f"nonlinearity={nonlinearity!r} contradicts cell {name!r}")
        options["nonlinearity"] = nonlinearity
    return cls(input_size, hidden_size, bias, **options, **kwargs)
