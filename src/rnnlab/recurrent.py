"""A stack of recurrent layers unrolled over time: ``Recurrent``, and ``RNN``, ``LSTM``, ``GRU``.

The constructor arguments, weight names (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), input and
output shapes and state layout are those of ``torch.nn.RNN`` / ``LSTM`` / ``GRU``, so a state
dict saved from one loads into the other and gives the same outputs. On top of torch's API:

- variable-length batches by ``lengths`` (B,) or a padding ``mask`` (True at real steps);
  padding never reaches the real outputs or the final state, in either direction;
- two ways to compute the same function: torch's fused kernel (``fused=None`` uses it wherever it
  applies) and the readable step-by-step loop of :meth:`rnnlab.cells.Cell.unroll`
  (``fused=False``), which the tests compare against each other and against torch;
- initialisation by name (``init``, ``forget_bias``; see :mod:`rnnlab.init`).

Shapes (T steps, B sequences, L layers, D = 2 if bidirectional else 1, H hidden):
input (T, B, I), or (B, T, I) with ``batch_first``, or (T, I) unbatched, or a PackedSequence;
output (T, B, D*H) in the same layout; state h_n (and c_n for the LSTM) of shape (L*D, B, H),
ordered layer by layer, forward direction before reverse.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab.cells import Cell, State, check_size, make_cell
from rnnlab.dropout import sequence_dropout
from rnnlab.init import init_weights_

HiddenState = Tensor | tuple[Tensor, ...]


class Recurrent(nn.Module):
    """A multi-layer, optionally bidirectional recurrent network of one cell type.

    Args:
        cell: cell name: ``rnn`` (tanh), ``rnn-relu``, ``lstm``, ``gru``, ``mingru`` or
            ``minlstm`` (the last two have no ``weight_hh`` rows and run by a scan over time).
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
            as in ``torch.nn.LSTM``; ``dropout`` in [0, 1) is applied to the outputs of every
            layer but the last, in training mode.
        nonlinearity: ``tanh`` or ``relu`` for the ``rnn`` cell.
        fused: None (default) uses torch's fused kernel wherever it computes the same function
            and the step-by-step loop elsewhere; False always steps; True requires the kernel.
            minGRU and minLSTM have no such kernel: they always run their scan over time.
        init: initialisation scheme name (``default``, ``orthogonal``, ``identity``).
        forget_bias: for LSTMs, the initial total forget-gate bias (commonly 1.0).
        weight_drop: DropConnect on the recurrent weights in training mode (Wan et al. 2013, as
            AWD-LSTM uses it): each forward pass drops this fraction of the elements of every
            W_hh (one mask for the whole sequence) and scales the rest by 1 / (1 - p).
        locked_dropout: the ``dropout`` between layers keeps one mask per sequence for every
            time step (variational dropout, :func:`rnnlab.dropout.locked_dropout`) instead of
            a mask per element.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        nonlinearity: str | None = None,
        fused: bool | None = None,
        init: str = "default",
        forget_bias: float | None = None,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        check_size("num_layers", num_layers)
        if not isinstance(weight_drop, int | float) or not 0.0 <= weight_drop < 1.0:
            raise ValueError(f"weight_drop must be a number in [0, 1), got {weight_drop!r}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not (0.0 <= dropout < 1.0)
        ):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if fused not in (None, True, False):
            raise ValueError(f"fused must be None, True or False, got {fused!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout acts between stacked layers; with num_layers=1 it does nothing",
                stacklevel=2,
            )
        self.cell: Cell = make_cell(
            cell, input_size, hidden_size, bias, nonlinearity, weights=False
        )
        if fused and self.cell.fused_kernel is None:
            raise ValueError(
                f"fused=True: torch has no fused kernel for the {cell} cell; use fused=None"
            )
        self.cell_name = cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.fused = fused
        self.init = init
        self.forget_bias = forget_bias
        self.weight_drop = float(weight_drop)
        self.locked_dropout = bool(locked_dropout)

        rows, hh_rows = self.cell.gates * hidden_size, self.cell.hh_rows(hidden_size)
        factory = {"device": device, "dtype": dtype}
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes:
                name = f"l{layer}{suffix}"
                self.register_parameter(
                    f"weight_ih_{name}", nn.Parameter(torch.empty(rows, layer_input, **factory))
                )
                self.register_parameter(
                    f"weight_hh_{name}", nn.Parameter(torch.empty(hh_rows, hidden_size, **factory))
                )
                for kind, size in (("ih", rows), ("hh", hh_rows)):
                    value = nn.Parameter(torch.empty(size, **factory)) if bias else None
                    self.register_parameter(f"bias_{kind}_{name}", value)
        self.reset_parameters(init, forget_bias)

    # -- parameters ---------------------------------------------------------------------------

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse")[: self.num_directions]

    def weight_groups(self) -> list[tuple[Tensor, Tensor, Tensor | None, Tensor | None]]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) per layer and direction, in torch's order."""
        return [
            tuple(
                getattr(self, f"{kind}_l{layer}{suffix}")
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            for layer in range(self.num_layers)
            for suffix in self._suffixes
        ]

    def forward_groups(self) -> list[tuple[Tensor, Tensor, Tensor | None, Tensor | None]]:
        """:meth:`weight_groups` as the forward pass uses them: in training mode with
        ``weight_drop`` p > 0, every W_hh with a fraction p of its elements dropped."""
        groups = self.weight_groups()
        if not (self.training and self.weight_drop):
            return groups
        return [
            (ih, None if hh is None else F.dropout(hh, self.weight_drop), b_ih, b_hh)
            for ih, hh, b_ih, b_hh in groups
        ]

    def flat_weights(self) -> list[Tensor]:
        """The forward pass's weights (:meth:`forward_groups`) in the flat order torch's fused
        kernels take (biases left out if none)."""
        return _flat(self.forward_groups())

    def reset_parameters(self, init: str | None = None, forget_bias: float | None = None) -> None:
        """Re-initialise by scheme name; with no arguments, the scheme given at construction."""
        if init is None:
            init, forget_bias = self.init, self.forget_bias
        init_weights_(self.cell, self.weight_groups(), init, forget_bias)

    # -- forward ------------------------------------------------------------------------------

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: HiddenState | None = None,
        *,
        lengths: Tensor | Sequence[int] | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor | PackedSequence, HiddenState]:
        """Run the network; returns ``(output, h_n)``, or ``(output, (h_n, c_n))`` for an LSTM.

        ``lengths`` (B,) gives each sequence's number of real steps (1..T); ``mask`` has the
        input's leading two dimensions and is True at real steps. Give at most one of them.
        The final state of each sequence is the state at its own last real step (for the
        reverse direction: after reading back to step 0). Outputs at padded steps are zero.
        """
        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            if lengths is not None or mask is not None:
                raise ValueError("lengths/mask: a PackedSequence already carries its lengths")
            x, lengths = pad_packed_sequence(packed)
            packed_lengths, batched = lengths, True
        else:
            x, mask, batched = self._time_major(input, mask)
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"input_size: the layer expects {self.input_size} features, "
                f"got input with {x.shape[-1]}"
            )
        steps, batch = x.shape[:2]
        state = self._initial_state(hx, batch, batched, x)
        mask, lengths = _padding(lengths, mask, steps, batch, x.device)

        kernel = self.cell.fused_kernel
        can_fuse = kernel is not None and (mask is None or lengths is not None)
        if self.fused and not can_fuse:
            raise ValueError(
                "fused: torch's kernels take padding by lengths only (a prefix mask), "
                "not this mask; use fused=None or False"
            )
        fuse = can_fuse and self.fused is not False
        if self.dropout and self.training and self.num_layers > 1:
            output, state = self._forward_layers(x, state, mask, lengths, fuse)
        elif fuse:
            output, state = self._forward_fused(x, state, lengths)
        else:
            output, state = self._forward_steps(x, state, mask)

        if packed is not None:
            order = packed.sorted_indices
            if order is not None:
                output = output.index_select(1, order)
                packed_lengths = packed_lengths[order.cpu()]
            data = pack_padded_sequence(output, packed_lengths, enforce_sorted=True).data
            output = PackedSequence(
                data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
            )
        elif not batched:
            output = output.squeeze(1)
            state = tuple(s.squeeze(1) for s in state)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, self.cell.from_state(state)

    def _time_major(self, input: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None, bool]:
        """Input (and mask) as (T, B, ...), and whether the input had a batch dimension."""
        if input.dim() not in (2, 3):
            raise ValueError(f"input: expected 2 or 3 dimensions, got shape {tuple(input.shape)}")
        if input.dim() == 2:
            return input.unsqueeze(1), None if mask is None else mask.unsqueeze(1), False
        if self.batch_first:
            return input.transpose(0, 1), None if mask is None else mask.transpose(0, 1), True
        return input, mask, True

    def _initial_state(self, hx: HiddenState | None, batch: int, batched: bool, x: Tensor) -> State:
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if hx is None:
            return tuple(x.new_zeros(shape) for _ in self.cell.state_names)
        state = self.cell.as_state(hx, batch, x)
        expected = shape if batched else (shape[0], shape[2])
        for name, tensor in zip(self.cell.state_names, state, strict=True):
            if tuple(tensor.shape) != expected:
                raise ValueError(
                    f"hx: expected {name}_0 of shape {expected}, got {tuple(tensor.shape)}"
                )
        return state if batched else tuple(s.unsqueeze(1) for s in state)

    def _forward_layers(
        self, x: Tensor, state: State, mask: Tensor | None, lengths: Tensor | None, fuse: bool
    ) -> tuple[Tensor, State]:
        """Training with dropout between layers: one layer at a time (by the fused kernel where
        ``fuse``, else stepped), the dropout between them ours, its mask per element or locked
        (torch's multi-layer kernel draws a mask per element only). Per element it is as fast
        as the multi-layer kernel's own dropout, and a locked mask is faster: 100.8, 100.9 and
        91.5 ms per update of a 2 x 512 LSTM, B 32, T 64, bfloat16 (benchmarks/RESULTS.md)."""
        directions = self.num_directions
        groups = self.forward_groups()
        finals = []
        for layer in range(self.num_layers):
            rows = slice(layer * directions, (layer + 1) * directions)
            layer_state = tuple(s[rows] for s in state)
            if fuse:
                x, final = self._forward_fused(x, layer_state, lengths, groups[rows])
            else:
                x, final = self._forward_steps(x, layer_state, mask, groups[rows])
            finals.append(final)
            if layer < self.num_layers - 1:
                x = sequence_dropout(x, self.dropout, self.locked_dropout, time_dim=0)
        return x, tuple(torch.cat(parts) for parts in zip(*finals, strict=True))

    def _forward_fused(
        self, x: Tensor, state: State, lengths: Tensor | None, groups: list | None = None
    ) -> tuple[Tensor, State]:
        """torch's fused multi-layer kernel, over every layer or the layers of ``groups``
        (their :meth:`forward_groups`), without dropout (:meth:`_forward_layers` adds it);
        padding goes through a PackedSequence."""
        kernel = self.cell.fused_kernel
        groups = self.forward_groups() if groups is None else groups
        layers = len(groups) // self.num_directions
        options = (
            _flat(groups),
            self.bias,
            layers,
            0.0,
            self.training,
            self.bidirectional,
        )
        if lengths is None:
            output, *final = kernel(x, _kernel_state(state), *options, False)
            return output, tuple(final)
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        state = tuple(s.index_select(1, packed.sorted_indices) for s in state)
        data, *final = kernel(packed.data, packed.batch_sizes, _kernel_state(state), *options)
        output, _ = pad_packed_sequence(
            PackedSequence(
                data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
            ),
            total_length=x.shape[0],
        )
        return output, tuple(s.index_select(1, packed.unsorted_indices) for s in final)

    def _forward_steps(
        self, x: Tensor, state: State, mask: Tensor | None, groups: list | None = None
    ) -> tuple[Tensor, State]:
        """The readable path: for each layer and direction, W_ih x for all steps, then unroll
        (every layer, or those of ``groups`` as in :meth:`_forward_fused`)."""
        groups = self.forward_groups() if groups is None else groups
        layers = len(groups) // self.num_directions
        finals: list[State] = []
        for layer in range(layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                weight_ih, weight_hh, bias_ih, bias_hh = groups[k]
                output, final = self.cell.unroll(
                    F.linear(x, weight_ih, bias_ih),
                    tuple(s[k] for s in state),
                    weight_hh,
                    bias_hh,
                    mask,
                    reverse=direction == 1,
                )
                outputs.append(output)
                finals.append(final)
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
        return x, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if type(self) is Recurrent:
            text = f"{self.cell_name!r}, {text}"
        for name, default in (
            ("num_layers", 1),
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
            ("fused", None),
            ("init", "default"),
            ("weight_drop", 0.0),
            ("locked_dropout", False),
            ("forget_bias", None),
        ):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)!r}"
        return text


def _flat(groups: list) -> list[Tensor]:
    """Weight groups in the flat order torch's fused kernels take (biases left out if none)."""
    return [w for group in groups for w in group if w is not None]


def _kernel_state(state: State) -> Tensor | list[Tensor]:
    """The state as torch's fused kernels take it: h alone, or the list [h, c]."""
    return list(state) if len(state) > 1 else state[0]


def _padding(
    lengths: Tensor | Sequence[int] | None,
    mask: Tensor | None,
    steps: int,
    batch: int,
    device: torch.device,
) -> tuple[Tensor | None, Tensor | None]:
    """Normalise padding to ``(mask (T, B) on device, lengths (B,) on the CPU)``.

    Returns (None, None) when nothing is padded. ``lengths`` is None when the mask is not a
    prefix mask (real steps first, then padding), which only the step-by-step path handles.
    """
    if lengths is not None and mask is not None:
        raise ValueError("lengths/mask: give one of them, not both")
    if lengths is not None:
        lengths = torch.as_tensor(lengths).cpu()
        if lengths.shape != (batch,) or lengths.is_floating_point() or lengths.is_complex():
            raise ValueError(
                f"lengths: expected {batch} integers, got shape "
                f"{tuple(lengths.shape)} of {lengths.dtype}"
            )
        if lengths.numel() and (lengths.min() < 1 or lengths.max() > steps):
            raise ValueError(f"lengths: every length must be in 1..{steps}, got {lengths.tolist()}")
        lengths = lengths.long()
        mask = torch.arange(steps).unsqueeze(1) < lengths.unsqueeze(0)
    elif mask is not None:
        if mask.shape != (steps, batch) or mask.dtype != torch.bool:
            raise ValueError(
                f"mask: expected a bool tensor shaped like the input's first two "
                f"dimensions, got {tuple(mask.shape)} of {mask.dtype}"
            )
        mask = mask.cpu()
        if not mask.any(0).all():
            raise ValueError("mask: every sequence needs at least one real (True) step")
        counts = mask.sum(0)
        prefix = torch.arange(steps).unsqueeze(1) < counts.unsqueeze(0)
        lengths = counts if torch.equal(prefix, mask) else None
    else:
        return None, None
    if lengths is not None and bool((lengths == steps).all()):
        return None, None
    return mask.to(device), lengths


class RNN(Recurrent):
    """Elman RNN with the signature of ``torch.nn.RNN``:
    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh or relu."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(
            "rnn",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            nonlinearity=nonlinearity,
            **kwargs,
        )


class _GatedSignature(Recurrent):
    """The signature of ``torch.nn.LSTM`` / ``GRU``, for the cell named by ``cell_type``."""

    cell_type: str

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(
            self.cell_type,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            **kwargs,
        )


class LSTM(_GatedSignature):
    """LSTM with the signature of ``torch.nn.LSTM`` (equations in :class:`~rnnlab.LSTMCell`)."""

    cell_type = "lstm"


class GRU(_GatedSignature):
    """GRU with the signature of ``torch.nn.GRU`` (equations in :class:`~rnnlab.GRUCell`)."""

    cell_type = "gru"
