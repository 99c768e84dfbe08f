"""Generation's compiled step (rnnlab.fused) against the eager step it compiles, the oracle."""

from __future__ import annotations

import pytest
import torch

from conftest import batched_ids
from rnnlab import LanguageModel, fused
from rnnlab.data import Vocabulary

TEXT = "the quick brown fox jumps over the lazy dog\n" * 3

#: what asserts that a step was compiled; without a compiler the step stays eager, as the
#: fallback tests below check everywhere
needs_compiler = pytest.mark.skipif(
    not fused.compiler_found(), reason="no C++ compiler for inductor: steps stay eager"
)


def model_for(cell="lstm", layers=2, block="plain", seed=0, embedding=8) -> LanguageModel:
    torch.manual_seed(seed)
    vocab = Vocabulary.build("char", TEXT)
    return LanguageModel(vocab, cell, 24, layers, embedding, block=block).eval()


def ids_for(model, rows: int, length: int = 12) -> torch.Tensor:
    generator = torch.Generator().manual_seed(rows)
    return torch.randint(len(model.vocab), (rows, length), generator=generator)


@needs_compiler
@pytest.mark.parametrize("cell", ["rnn", "rnn-relu", "lstm", "gru", "mingru", "minlstm"])
@pytest.mark.parametrize(("block", "layers"), [("plain", 3), ("residual", 2)])
def test_fused_step_equals_the_eager_step_for_every_cell(cell, block, layers):
    model = model_for(cell, layers, block, embedding=None if cell == "gru" else 8)
    eager = model.step_function(batch_size=5, precision="float32")
    step = model.step_function(batch_size=5, precision="float32", fused=True)
    for rows in (1, 5, 64, 2):  # one program for a row, one for any number from two
        ids = ids_for(model, rows)
        got, state = step(ids[:, :7])
        more, state = step(ids[:, 7:], state)  # the state carries across calls
        expected, expected_state = eager(ids)
        assert torch.allclose(torch.cat([got, more], 1), expected, atol=1e-5)
        for a, b in zip(fused.tensors(state), fused.tensors(expected_state), strict=True):
            assert torch.allclose(a, b, atol=1e-5)
    assert step.kernel == "inductor-fused" and sorted(step.run.compiled) == [False, True]


def test_one_layer_and_bfloat16_steps_match_the_eager_ones():
    model = model_for("lstm", layers=1)
    ids = ids_for(model, 3)
    expected, _ = model.step_function(3, "float32")(ids)
    got, _ = model.step_function(3, "float32", fused=True)(ids)
    assert torch.allclose(got, expected, atol=1e-5)
    expected, _ = model.step_function(3, "bfloat16")(ids)
    got, _ = model.step_function(3, "bfloat16", fused=True)(ids)
    assert (got - expected).abs().max() < 2e-2 * expected.abs().max()


@needs_compiler
def test_each_compiled_step_keeps_its_own_weights():
    # Same shapes, different weights: a program compiled for one model must not serve another
    # (a compiled program holds its weights as constants).
    ids = ids_for(model_for(), 2)
    for seed in range(3):
        model = model_for(seed=seed)
        expected, _ = model.step_function(2, "float32")(ids)
        got, _ = model.step_function(2, "float32", fused=True)(ids)
        assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("streams", "choice"),
    [(1, {"temperature": 0.9, "top_k": 20}), (6, {"top_p": 0.8}), (3, {"greedy": True})],
)
def test_seeded_generation_is_the_same_on_both_paths(streams, choice):
    model = model_for("gru")
    options = {"seed": 4, "precision": "float32", **choice}
    if streams == 1:
        eager = model.generate("the ", 200, fused=False, **options)
        assert model.generate("the ", 200, fused=True, **options) == eager
    else:
        eager = model.generate_batch(streams, "the ", 100, fused=False, **options)
        assert model.generate_batch(streams, "the ", 100, fused=True, **options) == eager


def test_without_a_compiler_the_step_stays_eager_and_says_so_once(capfd):
    from torch._inductor import config

    model = model_for("lstm")
    ids = ids_for(model, 2)
    expected, _ = model.step_function(2, "float32")(ids)
    with config.patch({"cpp.cxx": ("/nonexistent/c++",), "force_disable_caches": True}):
        step = model.step_function(2, "float32", fused=True)
        got, _ = step(ids)
    assert torch.allclose(got, expected, atol=1e-6)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("rnnlab:")]
    assert len(lines) == 1 and "compiling the generation step failed" in lines[0]
    assert step.run.failed and step.run.kernel.startswith("eager")
    assert "generating with the eager step" in lines[0]
    # from then on it is the eager step itself, its products prepared as without fused
    assert step.run.program.kernel == model.step_function(2, "float32").kernel


@needs_compiler
def test_a_result_that_differs_from_the_eager_step_is_refused(monkeypatch, capfd):
    monkeypatch.setattr(fused, "TOLERANCE", {torch.float32: -1.0, torch.bfloat16: -1.0})
    model = model_for("lstm")
    ids = ids_for(model, 2)
    expected, _ = model.step_function(2, "float32")(ids)
    step = model.step_function(2, "float32", fused=True)
    assert torch.allclose(step(ids)[0], expected, atol=1e-6)
    assert "differs from the eager step" in capfd.readouterr().err
    assert step.run.failed


def test_generation_compiles_only_when_it_pays(monkeypatch):
    made = []
    real = LanguageModel.step_function

    def spy(self, batch_size=1, precision="auto", fused=False):
        made.append(fused)
        return real(self, batch_size, precision, False)

    monkeypatch.setattr(LanguageModel, "step_function", spy)
    monkeypatch.setattr(fused, "FUSED_FROM", 10)
    model = model_for()
    model.generate("the ", 9)
    model.generate_batch(2, "the ", 10)  # a run this long pays for compiling
    model.generate("the ", 5, fused=True)
    assert made == [False, True, True]
    assert fused.worth_fusing(None, 9) is False
    assert fused.worth_fusing(False, 10**9) is False


@needs_compiler
def test_a_warming_step_changes_over_to_the_compiled_one_mid_sequence():
    model = model_for("lstm")
    ids = ids_for(model, 3, 16)
    expected, _ = model.step_function(3, "float32")(ids)
    eager = model.step_function(3, "float32")
    warming = fused.Warming(eager, model.step_function(3, "float32", fused=True))
    first, state = warming(ids[:, :8])  # eager, or compiled if it was quick
    warming.thread.join()
    assert warming.ready.is_set() and warming.kernel == "inductor-fused"
    rest, _ = warming(ids[:, 8:], state)  # compiled, from the state the other left
    assert torch.allclose(torch.cat([first, rest], 1), expected, atol=1e-5)


@needs_compiler
def test_the_server_s_batch_steps_compiled_and_samples_what_the_library_does():
    from rnnlab.api.batcher import GenerationBatcher, Stream, seeded
    from rnnlab.generation import Sampling

    model = model_for("gru")
    batcher = GenerationBatcher(model, rows=8, precision="float32", fused=True)
    batcher.step.thread.join()
    assert batcher.step.kernel == "inductor-fused"
    prime = model.vocab.encode("the ")

    streams = [Stream(prime, 60, Sampling(0.8), seeded(50 + k), index=k) for k in range(6)]
    made = batched_ids(batcher, streams)
    assert batcher.widest == 6
    for k, ids in enumerate(made):
        text = model.generate("the ", 60, temperature=0.8, seed=50 + k, precision="float32")
        assert model.vocab.decode(torch.tensor(ids)) == text
