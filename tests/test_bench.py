"""The benchmark's arithmetic and plumbing (its timings are recorded in benchmarks/, not tested)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnlab import LanguageModel
from rnnlab.bench import format_tables
from rnnlab.bench import suite as bench
from rnnlab.bench.baselines import PlainCharModel, plain_sample_speed, plain_train_speed
from rnnlab.cli import main
from rnnlab.data import Vocabulary
from rnnlab.fused import compiler_found
from rnnlab.kernels import resolve_precision

TEXT = "the quick brown fox jumps over the lazy dog\n" * 200


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_multiply_weights_counts_every_matrix_the_model_multiplies_by(cell, layers):
    vocab = Vocabulary.build("char", TEXT)
    model = LanguageModel(vocab, cell, 32, layers, embedding_size=16)
    matrices = sum(
        p.numel()
        for n, p in model.named_parameters()
        if n.startswith(("rnn.weight", "head.weight"))
    )
    assert bench.multiply_weights(cell, 32, layers, 16, len(vocab)) == matrices


class Ticks:
    """A clock that moves ``step`` seconds at every reading: timings become counts (a power of
    two, so that the sums are exact)."""

    def __init__(self, step: float = 1 / 64) -> None:
        self.step, self.now = step, 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_plain_baselines_train_and_sample():
    ids = Vocabulary.build("char", TEXT).encode(TEXT)
    result = plain_train_speed(
        ids, 30, "gru", 16, batch_size=4, seq_len=8, seconds=4 / 64, clock=Ticks()
    )
    # started after the warm-up, read after each step until 4/64 s had passed (4 steps), then
    # read once more for the elapsed time: 4 steps of 4 x 8 characters in 5/64 s
    assert result["steps"] == 4
    assert result["chars_per_s"] == pytest.approx(4 * 4 * 8 / (5 / 64))
    assert result["loss"] < math.log(30)  # it learned: below the loss of a uniform guess
    for cells in (False, True):  # 2 x 5 characters between two readings 1/64 s apart
        speed = plain_sample_speed(30, 16, streams=2, length=5, cells=cells, clock=Ticks())
        assert speed == pytest.approx(2 * 5 * 64)
    model = PlainCharModel(30, "lstm", 16, 2, 8)
    assert model(torch.zeros(2, 3, dtype=torch.long))[0].shape == (2, 3, 30)


def test_sections_run_on_a_small_text_and_write_json(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    peaks = {"float32_gflops": 100.0, "bfloat16_gflops": 200.0, "read_gbps": 10.0}
    train = bench.train_rows(
        TEXT, peaks, 16 / 64, lambda line: None, models=(("lstm", 16),), clock=Ticks()
    )
    (row,) = train
    assert row["model"] == "lstm 2x16"
    # the plain loop reads the clock once per step: 16 steps in 17 readings of 1/64 s
    tokens = row["batch_size"] * row["seq_len"]
    assert row["plain_float32_chars_per_s"] == pytest.approx(16 * tokens / (17 / 64))
    peak = peaks[f"{row['rnnlab_precision']}_gflops"]
    assert row["rnnlab_mfu"] == pytest.approx(
        row["flops_per_char"] * row["rnnlab_chars_per_s"] / 1e9 / peak
    )
    assert row["speedup_vs_plain_float32"] == pytest.approx(
        row["rnnlab_chars_per_s"] / row["plain_float32_chars_per_s"]
    )
    generate = bench.generate_rows(Vocabulary.build("char", TEXT), peaks, 16, print, hidden=16)
    # each precision the machine has (auto's first), eager and compiled, then the transformer
    precisions = list(dict.fromkeys((resolve_precision("auto", torch.device("cpu")), "float32")))
    lstm = generate[:-1]
    assert [(r["streams"], r["rnnlab_precision"]) for r in lstm] == [
        (streams, p) for streams in (1, 64) for p in precisions
    ]
    kernel = "inductor-fused" if compiler_found() else "eager (compiling failed)"
    assert all(r["rnnlab_kernel"] == kernel and r["fused_compile_s"] > 0 for r in lstm)
    assert all(r["rnnlab_eager_chars_per_s"] > 0 for r in lstm)
    assert generate[-1]["model"] == "transformer 4x128 (context 64)"
    assert generate[-1]["rnnlab_precision"] == "float32"  # on a CPU, whatever it has natively
    assert generate[0]["bandwidth_bound_chars_per_s"] == pytest.approx(
        10e9 / generate[0]["weight_bytes_per_char"]
    )
    results = bench.run(sections=("machine",), quick=True, json_path=tmp_path / "r.json")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["peaks"]["float32_gflops"] > 0 and saved["machine"]["torch"] == torch.__version__
    results.update(train=train, generate=generate)
    table = format_tables(results)
    assert "| lstm 2x16 |" in table and "| lstm 2x16 | 64 |" in table
    assert "| transformer 4x128 (context 64) | 1 |" in table and "| - | - |" in table


def test_bench_cli_refuses_an_unknown_section_and_a_missing_text(tmp_path, capsys):
    assert main(["bench", "--sections", "machine,speed"]) == 2
    assert "unknown section(s) speed" in capsys.readouterr().err
    missing = str(tmp_path / "none.txt")
    assert main(["bench", "--sections", "train", "--text", missing]) == 2
    assert "is missing" in capsys.readouterr().err
