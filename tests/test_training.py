"""Training: the schedule, exact resumption, divergence, and learning on real text."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import SHARED_DATA
from rnnlab import LanguageModel
from rnnlab.checkpoint import TRAINER_STATE, lock_directory, unlock_directory
from rnnlab.tasks.language import Corpus, Trainer, TrainSettings, unigram_entropy
from rnnlab.training import learning_rate

SHAKESPEARE = SHARED_DATA / "tinyshakespeare.txt"
TEXT = "".join(f"line {i}: {'ab' * (i % 7)} the end\n" for i in range(400))


def tiny(**kw) -> TrainSettings:
    base = {"hidden_size": 24, "num_layers": 2, "embedding_size": 8, "seq_len": 16, "batch_size": 4}
    return TrainSettings(**(base | {"epochs": 2, "evals": 4} | kw))


def quiet(corpus, settings, out=None, **kw) -> Trainer:
    return Trainer(corpus, settings, out, progress=False, echo=lambda line: None, **kw)


def test_schedule_warms_up_then_decays_to_the_final_ratio():
    assert learning_rate(0, 0.0, 1.0, warmup=10) == pytest.approx(0.1)
    assert learning_rate(9, 0.0, 1.0, warmup=10) == pytest.approx(1.0)
    assert learning_rate(50, 0.5, 1.0, warmup=10) == pytest.approx(0.55)
    assert learning_rate(99, 1.0, 1.0, warmup=10) == pytest.approx(0.1)


def test_text_too_short_for_one_batch_says_what_to_lower():
    with pytest.raises(ValueError, match=r"too short: \d+ characters.*lower --batch-size"):
        Corpus.from_text("abc" * 10, tiny(batch_size=8))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_stopped_and_resumed_run_repeats_the_uninterrupted_losses(tmp_path, cell):
    settings = tiny(cell=cell, dropout=0.1)  # dropout: the random state must resume too
    corpus = Corpus.from_text(TEXT, settings)
    full = quiet(corpus, settings, tmp_path / "full").fit()

    def stop_at_7(trainer, step, loss):
        if step == 7:
            trainer.request_stop()

    first = quiet(corpus, settings, tmp_path / "split", on_step=stop_at_7).fit()
    assert first.stopped and first.steps == 7
    second = quiet(corpus, settings, tmp_path / "split")
    second.load_state(tmp_path / "split")
    result = second.fit()
    assert not result.stopped and result.steps == full.steps > 7
    assert result.history == pytest.approx(full.history, rel=1e-6, abs=1e-7)
    assert result.best_val == pytest.approx(full.best_val, rel=1e-6)
    a = LanguageModel.from_pretrained(tmp_path / "full").state_dict()
    b = LanguageModel.from_pretrained(tmp_path / "split").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    settings = tiny(epochs=4)
    corpus = Corpus.from_text(TEXT, settings)
    trainer = quiet(corpus, settings, tmp_path)
    forward = trainer.model.forward
    good_steps = 2 * trainer.chunks_per_epoch  # two evaluations happen first

    def poisoned(ids, state=None):
        logits, state = forward(ids, state)
        return logits * (math.nan if trainer.step >= good_steps else 1.0), state

    trainer.model.forward = poisoned
    with pytest.raises(ValueError, match=r"loss became nan .* last good checkpoint .* kept"):
        trainer.fit()
    model = LanguageModel.from_pretrained(tmp_path)
    assert model.checkpoint_meta["step"] <= good_steps
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert (tmp_path / TRAINER_STATE).is_file()


def test_without_validation_the_latest_model_is_kept(tmp_path):
    settings = tiny(val_fraction=0.0, epochs=1, evals=1)
    result = quiet(Corpus.from_text(TEXT, settings), settings, tmp_path).fit()
    assert result.best_val is None
    assert LanguageModel.from_pretrained(tmp_path).checkpoint_meta["step"] == result.steps


@pytest.mark.skipif(not SHAKESPEARE.is_file(), reason=f"shared data set not found: {SHAKESPEARE}")
@pytest.mark.parametrize(("cell", "block"), [("lstm", "plain"), ("mingru", "residual")])
def test_learns_tiny_shakespeare_and_generates_repeatably(tmp_path, cell, block):
    text = SHAKESPEARE.read_text(encoding="utf-8")[:120_000]
    settings = TrainSettings(
        cell=cell,
        block=block,
        hidden_size=128,
        num_layers=1,
        seq_len=64,
        batch_size=32,
        epochs=4,  # 212 steps: counted, not timed, so a busy machine cannot fail the test
        evals=2,
    )
    corpus = Corpus.from_text(text, settings)
    result = quiet(corpus, settings, tmp_path).fit()
    unigram = unigram_entropy(corpus.val, corpus.vocab)
    assert unigram > 3.0
    assert result.best_val < unigram - 1.0, (result.best_val, unigram)
    model = LanguageModel.from_pretrained(tmp_path)
    first = model.generate("ROMEO:", 80, seed=3)
    assert model.generate("ROMEO:", 80, seed=3) == first
    assert model.generate("ROMEO:", 80, seed=4) != first


def test_tensorboard_logs_training_and_validation(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    settings = tiny(epochs=1)
    quiet(Corpus.from_text(TEXT, settings), settings, tensorboard=tmp_path).fit()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "val/loss", "val/bits"} <= tags
    assert len(events.Scalars("val/loss")) == settings.evals


def test_a_directory_holding_another_run_is_refused_untouched(tmp_path):
    settings = tiny(epochs=1, evals=1)
    corpus = Corpus.from_text(TEXT, settings)
    quiet(corpus, settings, tmp_path).fit()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        quiet(corpus, tiny(epochs=1, evals=1, seed=1), tmp_path).fit()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bfloat16_autocast_matches_float32_to_bfloat16_precision(cell):
    torch.manual_seed(0)
    corpus = Corpus.from_text(TEXT, tiny())
    model = LanguageModel(corpus.vocab, cell, 64, 2, 16, dropout=0.0)
    x, y = corpus.train[:256].view(4, 64), corpus.train[1:257].view(4, 64)

    def loss_and_grads(autocast: bool):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits, _ = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        return loss.item(), logits, [p.grad.clone() for p in model.parameters()]

    loss32, logits32, grads32 = loss_and_grads(False)
    loss16, logits16, grads16 = loss_and_grads(True)
    assert logits16.dtype == torch.bfloat16 and logits32.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())  # float32 master weights
    assert abs(loss16 - loss32) < 1e-2 * loss32
    assert (logits16.float() - logits32).abs().max() < 2e-2 * logits32.abs().max()
    for g16, g32 in zip(grads16, grads32, strict=True):
        cosine = torch.nn.functional.cosine_similarity(g16.flatten(), g32.flatten(), dim=0)
        assert cosine > 0.99


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    from rnnlab.kernels import resolve_precision

    cpu = torch.device("cpu")
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: False, raising=False)
    assert resolve_precision("auto", cpu) == "float32"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert resolve_precision("auto", cpu) == "bfloat16"
    assert resolve_precision("float32", cpu) == "float32"
    settings = tiny(precision="float32")
    trainer = quiet(Corpus.from_text(TEXT, settings), settings)
    assert trainer.precision == "float32" and "float32" in trainer.speed_settings()


def test_a_directory_whose_run_died_before_its_first_save_is_taken_over(tmp_path):
    settings = tiny(epochs=1, evals=1)
    corpus = Corpus.from_text(TEXT, settings)
    (tmp_path / "config.json").write_text('{"format": "rnnlab.language_model"}')  # a config alone
    stale = tmp_path / ".model.safetensors.tmp-999999999"  # no such process
    stale.write_bytes(b"half a file")
    quiet(corpus, settings, tmp_path).fit()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json",
        "model.safetensors",
        "trainer_state.safetensors",
    ]
    assert LanguageModel.from_pretrained(tmp_path).checkpoint_config["training"]["evals"] == 1


def test_a_run_is_refused_while_another_holds_its_directory(tmp_path):
    settings = tiny(epochs=1, evals=1)
    corpus = Corpus.from_text(TEXT, settings)
    tmp_path.joinpath("out").mkdir()
    fd = lock_directory(tmp_path / "out")  # as a running run holds it
    try:
        with pytest.raises(ValueError, match="in use by another rnnlab run"):
            quiet(corpus, settings, tmp_path / "out").fit()
    finally:
        unlock_directory(fd)
    assert list((tmp_path / "out").iterdir()) == []
    quiet(corpus, settings, tmp_path / "out").fit()  # and taken once it is free
    assert (tmp_path / "out" / "model.safetensors").is_file()
