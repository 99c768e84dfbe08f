"""The transformer language model: causal, scored by a sliding window that keeps half its
context, generated through a key/value cache that follows the same windows, saved and loaded
like the recurrent model, trained by the same commands; and ``rnnlab compare``."""

from __future__ import annotations

import functools
import json

import pytest
import torch
import torch.nn.functional as F

from conftest import one_error_line, png_size
from rnnlab.cli import main
from rnnlab.data.vocab import Vocabulary
from rnnlab.tasks.language import Corpus, TrainSettings, TransformerLM, evaluate, load_model
from rnnlab.tasks.language.transformer import kept, window_starts
from rnnlab.training.setup import autocast

TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\n" * 4
POSITIONS = ("learned", "rotary")


def model(positions: str, context: int = 12, dropout: float = 0.0) -> TransformerLM:
    torch.manual_seed(0)
    vocab = Vocabulary.build("char", TEXT)
    return TransformerLM(
        vocab,
        hidden_size=16,
        num_layers=2,
        heads=2,
        context=context,
        dropout=dropout,
        positions=positions,
    ).eval()


@pytest.mark.parametrize("positions", POSITIONS)
def test_a_later_symbol_never_changes_an_earlier_output(positions):
    m = model(positions)
    ids = m.vocab.encode(TEXT)[: m.context].unsqueeze(0)
    before, _ = m(ids)
    for t in (3, 7, m.context - 1):
        changed = ids.clone()
        changed[0, t:] = (changed[0, t:] + 1) % len(m.vocab)
        after, _ = m(changed)
        torch.testing.assert_close(after[0, :t], before[0, :t], rtol=0, atol=0)
        assert not torch.allclose(after[0, t], before[0, t])  # and the changed one does change


@torch.no_grad()
def brute_force(m: TransformerLM, ids: torch.Tensor) -> float:
    """Summed -log p of ids[1:], each predicted alone from the window the rule gives it: the
    first ``context`` from the text's start, every later one from the last window start at or
    before its position minus ``kept`` (so from at least ``kept`` symbols)."""
    stride = m.context - kept(m.context)
    nats = 0.0
    for target in range(1, len(ids)):
        start = 0 if target <= m.context else stride * ((target - kept(m.context) - 1) // stride)
        logits, _ = m(ids[start:target].unsqueeze(0))
        nats -= float(F.log_softmax(logits[0, -1].double(), -1)[ids[target]])
        assert target - start >= (kept(m.context) if start else 1)
    return nats


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("length", [2, 12, 13, 50, 100])
def test_sliding_window_evaluation_is_the_brute_force_per_position_loss(positions, length):
    m = model(positions)
    ids = m.vocab.encode(TEXT)[:length]
    report = evaluate(m, ids)
    assert report.tokens == length - 1
    assert report.nats == pytest.approx(brute_force(m, ids), rel=1e-5)
    # shared between ranks, the parts add up to the whole
    parts = [evaluate(m, ids, part=(r, 3)).nats for r in range(3)]
    assert sum(parts) == pytest.approx(report.nats, rel=1e-5)


def test_windows_cover_every_prediction_once():
    for length in range(2, 60):
        for context in (2, 3, 8, 9):
            covered = []
            for index, start in enumerate(window_starts(length, context)):
                first = 0 if index == 0 else kept(context)
                covered += [start + j + 1 for j in range(first, context) if start + j + 1 < length]
            assert covered == list(range(1, length)), (length, context)


@pytest.mark.parametrize("positions", POSITIONS)
def test_kv_cache_generation_equals_the_full_forward_pass(positions):
    m = model(positions)
    ids = m.vocab.encode(TEXT)[:80]
    step = m.step_function(precision="float32")
    # within the context: one symbol at a time, and the prime in one call, are the forward pass
    full, _ = m(ids[: m.context].unsqueeze(0))
    logits, state = step(ids[:1].unsqueeze(0))
    stepped = [logits]
    for t in range(1, m.context):
        logits, state = step(ids[t : t + 1].unsqueeze(0), state)
        stepped.append(logits)
    torch.testing.assert_close(torch.cat(stepped, 1), full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(step(ids[: m.context].unsqueeze(0))[0], full, rtol=1e-5, atol=1e-5)
    # beyond it, the cache slides like the evaluation's window: the same total loss
    for t in range(m.context, len(ids) - 1):
        logits, state = step(ids[t : t + 1].unsqueeze(0), state)
        stepped.append(logits)
    nats = F.cross_entropy(torch.cat(stepped, 1)[0].double(), ids[1:], reduction="sum")
    assert float(nats) == pytest.approx(evaluate(m, ids).nats, rel=1e-5)
    assert float(nats) == pytest.approx(brute_force(m, ids), rel=1e-5)


def test_generation_costs_the_same_per_symbol_however_long_it_runs(monkeypatch):
    """Linear in the length: the cache slides, so each generated symbol costs at most two
    positions through the blocks (itself, and its share of re-reading the kept half when
    the window slides), and no key/value cache outgrows the context."""
    m = model("learned")
    positions, longest = [], []
    run = TransformerLM.run

    def counted(self, ids, cache=None):
        logits, new = run(self, ids, cache)
        positions.append(ids.shape[1])
        longest.append(new[0][0].shape[2])
        return logits, new

    monkeypatch.setattr(TransformerLM, "run", counted)
    for length in (100, 1000):
        positions.clear()
        m.generate("the", length, seed=0)
        assert sum(positions) <= 3 + 2 * length
        assert max(longest) == m.context


def test_generation_runs_in_float32_on_a_cpu_whatever_it_has_natively():
    """bfloat16 autocast doubled the step's time at these widths (the bench CPU)."""
    assert model("learned").step_function(precision="auto").precision == "float32"


def test_the_context_is_a_limit_of_the_forward_pass():
    m = model("learned")
    with pytest.raises(ValueError, match="exceed the context of 12"):
        m(torch.zeros(1, 13, dtype=torch.int64))


@pytest.mark.parametrize("positions", POSITIONS)
def test_checkpoints_round_trip(tmp_path, positions):
    m = model(positions, dropout=0.1)
    m.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, TransformerLM) and not loaded.training
    assert loaded.settings == m.settings and loaded.vocab.symbols == m.vocab.symbols
    ids = m.vocab.encode(TEXT)[:12].unsqueeze(0)
    torch.testing.assert_close(loaded(ids)[0], m(ids)[0], rtol=0, atol=0)
    # the embedding is the output layer (tied): one tensor in the file, not two
    assert "embedding.weight" in loaded.state_dict()
    assert not any(k.startswith("head") for k in loaded.state_dict())
    assert loaded.generate("the ", 40, seed=3) == m.generate("the ", 40, seed=3)


def test_train_generate_and_evaluate_through_the_cli(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(TEXT * 8)
    run = tmp_path / "run"
    small = "--arch transformer --hidden 16 --layers 2 --heads 2 --context 16 --batch-size 4"
    argv = f"train --text {text} --out {run} {small} --epochs 2 --sample-length 20".split()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "transformer 2 x 16, 2 heads, learned positions" in out
    assert "4 streams x 16 steps per update" in out
    config = json.loads((run / "config.json").read_text())
    assert config["format"] == "rnnlab.transformer_lm" and config["model"]["context"] == 16
    assert main(["generate", str(run), "--length", "30", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out) >= 30
    assert main(["evaluate", str(run), "--text", str(text)]) == 0
    assert "nats/char" in capsys.readouterr().out


def test_compare_writes_its_table_plot_and_samples(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(TEXT * 20)
    out = tmp_path / "cmp"
    argv = f"compare --text {text} --budget 2 --archs gru,transformer --out {out}".split()
    assert main([*argv, "--sample-length", "25"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "compare.json").read_text())
    assert [r["name"] for r in results["contenders"]] == ["gru", "transformer"]
    for row in results["contenders"]:
        assert row["steps"] > 0 and row["parameters"] > 0 and row["chars_per_s"] > 0
        assert len(row["sample"]) >= 25
        # the best validation is the kept model's loss on the held-out tail, evaluated again
        # in the run's own precision (bfloat16 against float32 differs by about 1e-4)
        model = load_model(out / row["name"])
        settings = TrainSettings.from_config(model.checkpoint_config)
        held_out = Corpus.from_text(TEXT * 20, settings).val
        precision = row["settings"].rsplit(", ", 1)[1]
        assert precision in ("float32", "bfloat16")
        context = functools.partial(autocast, precision, torch.device("cpu"))
        again = evaluate(model, held_out, autocast=context)
        assert again.per_unit == pytest.approx(row["best_val"], rel=1e-5)
        assert row["best_val"] == min(row["curve_val"]) and len(row["curve_s"]) >= 1
        assert f"| {row['name']} | {row['parameters']:,} |" in printed
        assert (out / row["name"] / "model.safetensors").is_file()
        data = json.loads((out / row["name"] / "config.json").read_text())["data"]
        assert data["source"] == str(text.resolve())  # serve and inspect find the text
    for key in ("peaks_start", "peaks_end"):
        assert results[key]["bfloat16_gflops"] > 0
    assert png_size(out / "compare.png")[0] > 300
    assert "sliding window" in printed
    # a second comparison into the same directory is refused before anything runs
    assert main(argv) == 2
    one_error_line(capsys, "cmp is not empty; choose another --out")
