"""The language model: given the symbols so far, a distribution over the next one.

    x_t = E[s_t]  (learned embedding)   or   x_t = onehot(s_t)  (one-hot, V inputs)
    h_t = RNN(dropout_in(x_t), h_{t-1}) (any rnnlab cell, stacked, with dropout between layers)
    p(s_{t+1} | s_<=t) = softmax(W_hy dropout(h_t) + b_y)

or, with ``block="residual"``, the stack of
:class:`~rnnlab.tasks.language.blocks.ResidualBlock` that minGRU/minLSTM language models
use: x_t projected to the hidden size if needed, then per block x = x + RNN(LayerNorm(x)),
x = x + FFN(LayerNorm(x)), and p = softmax(W_hy LayerNorm(x)).

In training, as AWD-LSTM regularises (:mod:`rnnlab.dropout`): whole symbols dropped from the
inputs (``embedding_dropout``), dropout on the inputs (``input_dropout``), and with
``locked_dropout`` every dropout mask shared by the steps of a chunk.

Trained by cross-entropy on the next symbol; saved as a checkpoint directory (``config.json``
with the architecture and vocabulary, ``model.safetensors`` with the weights). Checkpoints and
generation are :class:`~rnnlab.tasks.language.next_symbol.NextSymbolModel`'s.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.checks import check_choice
from rnnlab.data.vocab import Vocabulary
from rnnlab.dropout import SequenceDropout, symbol_dropout
from rnnlab.fused import Fused, Sampled
from rnnlab.generation import Sampling, Step
from rnnlab.kernels import PreparedLinear, resolve_precision
from rnnlab.recurrent import Recurrent
from rnnlab.stepper import Stepper
from rnnlab.tasks.language.blocks import BLOCKS, ResidualBlock
from rnnlab.tasks.language.next_symbol import NextSymbolModel

FORMAT = "rnnlab.language_model"


class LanguageModel(NextSymbolModel):
    """A recurrent next-symbol model over a :class:`~rnnlab.data.Vocabulary`.

    Args:
        vocab: the symbols the model reads and predicts.
        cell, hidden_size, num_layers, dropout, init, forget_bias: of the recurrent layers
            (see :class:`rnnlab.Recurrent`); ``dropout`` also acts before the output layer.
        embedding_size: size of the learned embedding, or None to feed one-hot vectors.
        block: ``plain`` (stacked layers) or ``residual`` (pre-norm residual blocks with a
            feed-forward layer, one recurrent layer each; ``dropout`` on both branches).
        weight_drop: DropConnect on the stacked layers' W_hh in training (see
            :class:`rnnlab.Recurrent`); the plain stack only.
        locked_dropout: every dropout (inputs, between layers, outputs, the blocks' branches)
            keeps one mask per stream for all the steps of a forward pass.
        input_dropout: dropout on the (embedded) inputs.
        embedding_dropout: the fraction of the vocabulary dropped as whole symbols in each
            forward pass (:func:`rnnlab.dropout.symbol_dropout`).
    """

    FORMAT = FORMAT
    KIND = "recurrent language model"
    DATA = ("vocab",)

    def __init__(
        self,
        vocab: Vocabulary,
        cell: str = "lstm",
        hidden_size: int = 384,
        num_layers: int = 2,
        embedding_size: int | None = 64,
        dropout: float = 0.2,
        init: str = "default",
        forget_bias: float | None = None,
        block: str = "plain",
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        input_dropout: float = 0.0,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= embedding_dropout < 1.0:
            raise ValueError(f"embedding_dropout must be in [0, 1), got {embedding_dropout!r}")
        if embedding_size is not None and embedding_size < 1:
            raise ValueError(f"embedding_size must be positive or None, got {embedding_size}")
        check_choice("block", block, BLOCKS)
        self.vocab = vocab
        self.settings = self.constructor_arguments(locals())
        size = len(vocab)
        self.embedding = nn.Embedding(size, embedding_size) if embedding_size else None
        self.head = nn.Linear(hidden_size, size)
        self.embedding_dropout = float(embedding_dropout)
        self.drop_input = SequenceDropout(input_dropout, locked_dropout)
        self.drop = SequenceDropout(dropout, locked_dropout)
        if block == "residual":
            inputs = embedding_size or size
            self.project = nn.Linear(inputs, hidden_size) if inputs != hidden_size else None
            self.blocks = nn.ModuleList(
                ResidualBlock(
                    cell,
                    hidden_size,
                    dropout,
                    init=init,
                    forget_bias=forget_bias,
                    locked_dropout=locked_dropout,
                )
                for _ in range(num_layers)
            )
            self.norm = nn.LayerNorm(hidden_size)
            self.rnn = None
            return
        self.blocks = None
        self.rnn = Recurrent(
            cell,
            embedding_size or size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            init=init,
            forget_bias=forget_bias,
            weight_drop=weight_drop,
            locked_dropout=locked_dropout,
        )

    @property
    def cell(self):
        """The recurrent cell (the equation) of every layer."""
        return (self.rnn or self.blocks[0].rnn).cell

    def forward(self, ids: Tensor, state=None) -> tuple[Tensor, object]:
        """ids (B, T) -> logits (B, T, V) and the final state (torch's form, h or (h, c), each
        (L, B, H) with one row per layer or block)."""
        if self.embedding is not None:
            x = self.embedding(ids)
        else:
            x = F.one_hot(ids, len(self.vocab)).to(self.head.weight.dtype)
        x = symbol_dropout(x, ids, len(self.vocab), self.embedding_dropout, self.training)
        x = self.drop_input(x)
        if self.blocks is None:
            output, state = self.rnn(x, state)
            return self.head(self.drop(output)), state
        if self.project is not None:
            x = self.project(x)
        finals = []
        for layer, block in enumerate(self.blocks):
            x, final = block(x, None if state is None else _rows(state, layer))
            finals.append(final)
        if torch.is_tensor(finals[0]):
            return self.head(self.norm(x)), torch.cat(finals)
        return self.head(self.norm(x)), tuple(
            torch.cat(parts) for parts in zip(*finals, strict=True)
        )

    # -- generation ---------------------------------------------------------------------------

    def step_function(
        self, batch_size: int = 1, precision: str = "auto", fused: bool = False
    ) -> Step:
        """``step(ids (B, T), state) -> (logits (B, T, V), state)`` for generation.

        The same function as :meth:`forward` in eval mode, computed one symbol at a time by a
        :class:`~rnnlab.stepper.Stepper` with the weights prepared once; the first layer's
        input projection becomes a table lookup, ``W_ih x(s) + b_ih`` for each symbol s. Its
        state is the stepper's (per-layer tuples), not ``forward``'s. ``fused``: each symbol's
        step compiled into one program (:class:`~rnnlab.fused.Fused`; seconds to compile on
        the first call, then fewer calls per symbol). Built from the weights as they are now:
        build another after changing them.
        """
        precision = resolve_precision(precision, self.head.weight.device)
        with torch.no_grad():
            program = self._step_program(batch_size, precision, prepack=not fused)

        @functools.cache
        def eager() -> nn.Module:  # what a failure to compile leaves: the eager step
            return self._step_program(batch_size, precision, prepack=True)

        run = Fused(program, program.dtype, eager) if fused else program

        @torch.no_grad()
        def step(ids: Tensor, state=None):
            if state is None:
                state = program.zero_state(ids.shape[0], ids.device)
            logits = []
            for t in range(ids.shape[1]):
                out, state = run(ids[:, t].contiguous(), state)
                logits.append(out)
            if len(logits) == 1:
                return logits[0].unsqueeze(1), state
            return torch.stack(logits, dim=1), state

        step.precision = precision
        step.kernel = run.kernel if fused else program.kernel  # as built (``run.kernel``: now)
        step.run = run
        if fused:
            picks: dict[Sampling, Fused] = {}

            def sampled(sampling: Sampling) -> Fused:
                """The step and the choice of the next symbol compiled together."""
                if sampling not in picks:
                    picks[sampling] = Fused(
                        Sampled(program, sampling),
                        program.dtype,
                        lambda: Sampled(eager(), sampling),
                    )
                return picks[sampling]

            step.sampled = sampled
        return step

    def _input_vectors(self) -> Tensor:
        """(V, I): the input vector x(s) of every symbol s, its embedding or its one-hot row."""
        if self.embedding is not None:
            return self.embedding.weight
        return torch.eye(len(self.vocab), device=self.head.weight.device)

    def _step_program(self, batch_size: int, precision: str, prepack: bool) -> nn.Module:
        """The module that computes one symbol's step (:class:`StackStep` or
        :class:`BlocksStep`), its products prepacked or left for a compiler to pack."""

        def stepper(rnn):
            return Stepper(rnn, batch_size=batch_size, precision=precision, prepack=prepack)

        if self.blocks is None:
            stack = stepper(self.rnn)
            head = PreparedLinear(
                self.head.weight,
                self.head.bias,
                batch_size=batch_size,
                dtype=stack.dtype,
                prepack=prepack,
            )
            return StackStep(stack.input_projection(self._input_vectors()), stack, head)
        table = self._input_vectors()
        if self.project is not None:
            table = self.project(table)
        return BlocksStep(table, [stepper(b.rnn) for b in self.blocks], self)


class StackStep(nn.Module):
    """One symbol through the plain stack: ids (B,) and the stepper's state -> logits (B, V)
    in float32 and the new state. ``table`` holds the first layer's input projection of every
    symbol."""

    def __init__(self, table: Tensor, stepper: Stepper, head: PreparedLinear) -> None:
        super().__init__()
        self.register_buffer("table", table.detach())
        self.stepper, self.head = stepper, head
        self.dtype, self.kernel = stepper.dtype, stepper.kernel

    def zero_state(self, rows: int, device) -> list:
        return self.stepper.zero_state(rows, device)

    def forward(self, ids: Tensor, state: list) -> tuple[Tensor, list]:
        top, state = self.stepper(self.table.index_select(0, ids), state)
        return self.head(top).float(), state


class BlocksStep(nn.Module):
    """:class:`StackStep` for residual blocks: each block's recurrent layer by its own
    stepper; the norms, feed-forward layers and output layer (the model's own) in float32. Its
    state is a list of the steppers' states, one per block."""

    def __init__(self, table: Tensor, steppers: list[Stepper], model: LanguageModel) -> None:
        super().__init__()
        self.register_buffer("table", table.detach().float())
        self.steppers = nn.ModuleList(steppers)
        self.blocks, self.norm, self.head = model.blocks, model.norm, model.head
        self.dtype, self.kernel = steppers[0].dtype, steppers[0].kernel

    def zero_state(self, rows: int, device) -> list:
        return [s.zero_state(rows, device) for s in self.steppers]

    def forward(self, ids: Tensor, state: list) -> tuple[Tensor, list]:
        x, new = self.table.index_select(0, ids), []
        for block, stepper, old in zip(self.blocks, self.steppers, state, strict=True):
            top, old = stepper(stepper.input_projection(block.norm_rnn(x)), old)
            x = block.feed_forward(x + top.float())
            new.append(old)
        return self.head(self.norm(x)).float(), new


def _rows(state, layer: int):
    """Layer ``layer`` of a torch-form state (h or (h, c), each (L, B, H)), as (1, B, H)."""
    if torch.is_tensor(state):
        return state[layer : layer + 1]
    return tuple(part[layer : layer + 1] for part in state)
