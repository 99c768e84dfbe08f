"""Generation's one-symbol step compiled into one program (``torch.compile``, inductor's C++).

The eager step (:mod:`rnnlab.stepper`) is a few matrix products and, per layer, about ten
elementwise operations (gates, nonlinearities, state update, conversions), each a separate call
into PyTorch. For one stream those calls cost more than the products. :class:`Fused` compiles
the same Python code (each cell's own ``update``/``activate``, nothing written twice) with
inductor: the weights frozen into the program as constants, which it lays out for oneDNN as
:class:`~rnnlab.kernels.PreparedLinear` does (for one row the products are dot products it
fuses instead, see there); the elementwise operations of a layer fused into one C++ loop; the
wrapper that calls them in C++ too (``cpp_wrapper``). A step is then the products and one pass
over the states. :class:`Sampled` adds the choice of the next symbol to the same program.

- **When.** Compiling costs seconds (inductor keeps its C++ kernels in its on-disk cache, so a
  later process pays less); the compiled program lives as long as its :class:`Fused`. A
  ``Fused`` compiles at most twice: for one row, and for any number of rows from two up (the
  batch dimension symbolic), each on its first call.
- **Checked, not assumed.** The first result of each compiled program is compared with the
  eager program on the same input; a difference beyond the precision's rounding, or any error
  while compiling (no C++ compiler, an operation inductor cannot lower), makes the step eager
  for good, with one line on stderr saying so.
- Frozen weights are the weights as they were at the first call: build another step function
  after changing them, as for the eager one.
- A server cannot stop for the compiling: :class:`Warming` steps eagerly while it compiles in
  a thread, then takes the compiled step (the states of both are the same).
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnlab.generation import Sampling, choose

#: steps from which generation compiles its step when not told (:func:`worth_fusing`)
FUSED_FROM = 50_000
#: the ``--fused`` choices of the command line, as :func:`worth_fusing` takes them
FUSED_CHOICES = {"auto": None, "on": True, "off": False}

#: largest |compiled - eager| / (1 + |eager|) accepted on the first call, by compute precision
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-2}


def worth_fusing(fused: bool | None, steps: int) -> bool:
    """``fused``, or when None whether ``steps`` steps repay the compiling: from
    :data:`FUSED_FROM`. On the bench machine compiling took 3.6-7 s and saved 180 µs a step
    of one stream and 370 µs of 64 (a 2 x 512 LSTM), paying from about 20,000 steps; the
    margin is for a cold compiler cache (benchmarks/RESULTS.md)."""
    return steps >= FUSED_FROM if fused is None else fused


def compiler_found() -> bool:
    """Whether inductor finds a working C++ compiler (without one, :class:`Fused` stays
    eager)."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception:
        return False
    return True


def _call(program: nn.Module, *inputs):
    return program(*inputs)


def _own_call() -> Callable:
    """A copy of :func:`_call` with a code object of its own. Dynamo keeps compiled programs
    per code object, at most ``recompile_limit`` of them, and a program with frozen weights
    is valid only for those weights: each compiled program gets its own code, which dies with
    it."""
    code = _call.__code__.replace()
    return types.FunctionType(code, _call.__globals__, "fused_step")


def tensors(tree) -> list[Tensor]:
    """The tensors in nested lists and tuples (a step function's state), in order; None (a
    greedy choice's draws) holds none."""
    if tree is None:
        return []
    if torch.is_tensor(tree):
        return [tree]
    return [t for part in tree for t in tensors(part)]


class Fused:
    """``program(ids (B,), state, *more) -> (out, state)`` compiled; called like the program.

    ``program`` is a module whose products are unpacked (``prepack=False``), so that the
    compiler packs them, and which computes the same thing at every call (a model in training
    mode, its dropout drawing, fails the check and stays eager); ``dtype`` is the precision its
    products compute in; ``eager`` makes the module that runs instead if compiling fails (the
    same step with prepared products; default: ``program`` itself).
    """

    def __init__(
        self,
        program: nn.Module,
        dtype: torch.dtype = torch.float32,
        eager: Callable[[], nn.Module] | None = None,
    ) -> None:
        self.program, self.dtype, self.eager = program, dtype, eager
        self.compiled: dict[bool, Callable] = {}
        self.failed: str | None = None

    @property
    def kernel(self) -> str:
        return "eager (compiling failed)" if self.failed else "inductor-fused"

    @torch.no_grad()
    def __call__(self, *inputs):
        if self.failed is not None:
            return self.program(*inputs)
        one = inputs[0].shape[0] == 1
        run = self.compiled.get(one)
        if run is None:
            return self._compile(one, inputs)
        return run(self.program, *inputs)

    def _compile(self, one: bool, inputs: tuple):
        from torch._inductor import config

        run = torch.compile(_own_call(), fullgraph=True, dynamic=False)
        if not one:  # one program for every batch of two rows or more
            for tensor in tensors(inputs):
                torch._dynamo.mark_dynamic(tensor, 0)
        expected = self.program(*inputs)
        try:
            with config.patch(freezing=True, cpp_wrapper=True):
                got = run(self.program, *inputs)
            error = max(
                float(((g.float() - e.float()).abs() / (1 + e.float().abs())).max())
                for g, e in zip(tensors(got), tensors(expected), strict=True)
            )
            if not error <= TOLERANCE[self.dtype]:
                raise RuntimeError(f"its result differs from the eager step's by {error:.2g}")
        except Exception as failure:  # any failure to compile leaves the eager step working
            reason = str(failure).strip().splitlines()
            self.failed = f"{type(failure).__name__}: {reason[0] if reason else ''}"[:300]
            print(
                f"rnnlab: compiling the generation step failed ({self.failed}); "
                "generating with the eager step",
                file=sys.stderr,
            )
            if self.eager is not None:
                self.program = self.eager()
            return expected
        self.compiled[one] = run
        return got


class Sampled(nn.Module):
    """A step program followed by :func:`~rnnlab.generation.sample_next`'s choice, so that
    sampling stays in the compiled program: ``(ids (B,), state, u (B, 1)) -> (the next ids
    (B,), state)``, u the uniform draws sample_next would make (ignored when greedy)."""

    def __init__(self, program: nn.Module, sampling: Sampling) -> None:
        super().__init__()
        self.program, self.sampling = program, sampling

    def forward(self, ids: Tensor, state, u: Tensor):
        logits, state = self.program(ids, state)
        return choose(logits, self.sampling, u), state


class Warming:
    """A step function that is ``eager`` until ``fused`` (the same model's compiled step
    function) has compiled its programs for one row and for two or more, in a thread started
    here, and ``fused`` from then on. The two keep the same state, so a running batch changes
    over between two steps."""

    def __init__(self, eager: Callable, fused: Callable) -> None:
        self.eager, self.fused, self.ready = eager, fused, threading.Event()
        self.precision = eager.precision
        self.thread = threading.Thread(target=self._compile, name="rnnlab-compile", daemon=True)
        self.thread.start()

    def _compile(self) -> None:
        for rows in (1, 2):
            self.fused(torch.zeros(rows, 1, dtype=torch.long))
        if not self.fused.run.failed:
            self.ready.set()

    @property
    def kernel(self) -> str:
        return self.fused.kernel if self.ready.is_set() else self.eager.kernel

    def __call__(self, ids: Tensor, state=None):
        return (self.fused if self.ready.is_set() else self.eager)(ids, state)
