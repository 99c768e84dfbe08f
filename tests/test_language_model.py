"""The language model: shapes, inputs, saving and loading, generation."""

from __future__ import annotations

import pytest
import torch

from rnnlab import LanguageModel
from rnnlab.data import Vocabulary

TEXT = "the quick brown fox jumps over the lazy dog\n" * 3


def small(level="char", **kw) -> LanguageModel:
    torch.manual_seed(0)
    settings = {"hidden_size": 16, "num_layers": 2, "embedding_size": 8, "dropout": 0.0} | kw
    return LanguageModel(Vocabulary.build(level, TEXT), **settings)


@pytest.mark.parametrize("cell", ["rnn", "rnn-relu", "lstm", "gru", "mingru", "minlstm"])
@pytest.mark.parametrize("embedding", [8, None])
@pytest.mark.parametrize("block", ["plain", "residual"])
def test_logits_cover_the_vocabulary_and_state_carries(cell, embedding, block):
    model = small(cell=cell, embedding_size=embedding, block=block)
    ids = model.vocab.encode(TEXT[:20]).view(2, 10)
    logits, _ = model(ids)
    assert logits.shape == (2, 10, len(model.vocab))
    # Reading in two chunks with the state carried equals reading at once.
    first, mid = model(ids[:, :4])
    second, _ = model(ids[:, 4:], mid)
    assert torch.allclose(torch.cat([first, second], 1), logits, atol=1e-6)


def test_residual_blocks_are_the_documented_function():
    model = small(cell="mingru", block="residual", embedding_size=16).eval()
    assert model.project is None and len(model.blocks) == 2
    ids = model.vocab.encode(TEXT[:12]).view(1, 12)
    x = model.embedding(ids)
    for block in model.blocks:
        y, _ = block.rnn(block.norm_rnn(x))
        x = x + y
        hidden = torch.nn.functional.gelu(block.ffn_in(block.norm_ffn(x)))
        x = x + block.ffn_out(hidden)
    torch.testing.assert_close(model(ids)[0], model.head(model.norm(x)))
    with pytest.raises(ValueError, match="block must be one of"):
        small(block="tower")


def test_one_hot_input_is_an_embedding_by_the_identity():
    model = small(embedding_size=None)
    assert model.embedding is None and model.rnn.input_size == len(model.vocab)


@pytest.mark.parametrize("block", ["plain", "residual"])
def test_save_and_load_give_the_same_model(tmp_path, block):
    model = small(cell="gru", level="word", block=block)
    model.save_pretrained(tmp_path, {"step": 3})
    again = LanguageModel.from_pretrained(tmp_path)
    assert again.config() == model.config() and again.checkpoint_meta == {"step": 3}
    ids = model.vocab.encode(TEXT).view(1, -1)
    assert torch.equal(again(ids)[0], model.eval()(ids)[0])


def test_generation_repeats_with_a_seed_and_streams_every_piece():
    model = small()
    pieces: list[str] = []
    first = model.generate("the ", 40, seed=1, stream=pieces.append)
    assert "".join(pieces) == first and len(first) == 40
    assert model.generate("the ", 40, seed=1) == first
    assert model.generate("the ", 40, seed=2) != first
    greedy = model.generate("the ", 10, greedy=True)
    assert greedy == model.generate("the ", 10, greedy=True, seed=5)


def test_generation_rejects_unseen_prime_characters_and_bad_temperature():
    model = small()
    with pytest.raises(ValueError, match="the prime has 1 character"):
        model.generate("thE", 5)
    with pytest.raises(ValueError, match="temperature"):
        model.generate("the", 5, temperature=0)


def test_loading_a_missing_or_mismatched_checkpoint_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        LanguageModel.from_pretrained(tmp_path / "nothing")
    small().save_pretrained(tmp_path)
    other = small(hidden_size=8)
    other.save_pretrained(tmp_path / "other")
    (tmp_path / "model.safetensors").write_bytes(
        (tmp_path / "other/model.safetensors").read_bytes()
    )
    with pytest.raises(ValueError, match="does not fit its config"):
        LanguageModel.from_pretrained(tmp_path)


def test_a_save_that_dies_keeps_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    model = small()
    model.save_pretrained(tmp_path, {"step": 1})
    changed = small()
    with torch.no_grad():
        for p in changed.parameters():
            p.add_(1.0)

    def dying_replace(src, dst):
        raise OSError("killed during save")

    monkeypatch.setattr("rnnlab.checkpoint.os.replace", dying_replace)
    with pytest.raises(OSError, match="killed"):
        changed.save_pretrained(tmp_path, {"step": 2})
    monkeypatch.undo()
    again = LanguageModel.from_pretrained(tmp_path)
    assert again.checkpoint_meta == {"step": 1}
    pairs = zip(again.parameters(), model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_weight_drop_is_a_setting_of_the_saved_model(tmp_path):
    from rnnlab.tasks.language import TrainSettings, load_model

    vocab = Vocabulary.build("char", "abcabc")
    model = TrainSettings(weight_drop=0.3, num_layers=1, dropout=0.0).build_model(vocab)
    assert model.rnn.weight_drop == 0.3
    model.save_pretrained(tmp_path / "m")
    assert load_model(tmp_path / "m").rnn.weight_drop == 0.3
