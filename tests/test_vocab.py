"""Vocabularies: exact round trips, the policy for unseen symbols, saving as JSON."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.data import UNKNOWN, Vocabulary, tokenize_words


@given(st.binary(min_size=1, max_size=300))
def test_byte_level_round_trips_any_bytes(data):
    vocab = Vocabulary.build("byte", data)
    ids = vocab.encode(data)
    assert len(vocab) == 256 and ids.tolist() == list(data)
    assert bytes(ids.tolist()) == data


@given(st.text(min_size=1, max_size=300))
def test_byte_and_word_levels_round_trip_text_exactly(text):
    for level in ("byte", "word", "char"):
        vocab = Vocabulary.build(level, text)
        assert vocab.decode(vocab.encode(text)) == text


@given(st.text(max_size=200))
def test_word_tokens_join_back_to_the_text(text):
    assert "".join(tokenize_words(text)) == text


def test_word_tokens_split_words_spaces_and_punctuation():
    assert tokenize_words("Hello,  world!\n") == ["Hello", ",", "  ", "world", "!", "\n"]


def test_char_vocabulary_is_sorted_and_unseen_characters_are_named():
    vocab = Vocabulary.build("char", "hello world")
    assert vocab.symbols == tuple(sorted(set("hello world")))
    with pytest.raises(ValueError, match=r"the prime has 2 character\(s\).*'z' \(U\+007A\)"):
        vocab.encode("hazel", what="the prime")


def test_unseen_words_become_the_unknown_token():
    vocab = Vocabulary.build("word", "the cat sat on the mat")
    ids = vocab.encode("the dog sat")
    assert vocab.unknown == UNKNOWN and vocab.unknown_count(ids) == 1
    assert vocab.decode(ids) == f"the {UNKNOWN} sat"
    assert vocab.symbols[1] in ("the", " ")  # most frequent first


def test_symbol_lengths_count_characters():
    vocab = Vocabulary.build("word", "abc de")
    lengths = vocab.lengths()
    for symbol, length in zip(vocab.symbols, lengths.tolist(), strict=True):
        assert length == len(symbol)


@pytest.mark.parametrize("level", ["char", "byte", "word"])
def test_json_round_trip(level):
    vocab = Vocabulary.build(level, "To be, or not to be: that is the question.\n")
    again = Vocabulary.from_json(vocab.to_json())
    assert again == vocab and again.unknown == vocab.unknown


def test_streaming_byte_decoder_waits_for_whole_characters():
    vocab = Vocabulary.build("byte", b"")
    decode = vocab.decoder()
    pieces = [decode(b) for b in "é!".encode()]
    assert pieces == ["", "é", "!"]


def test_bad_level_and_malformed_json_are_value_errors():
    with pytest.raises(ValueError, match="level"):
        Vocabulary.build("sentence", "x")
    with pytest.raises(ValueError, match="malformed vocabulary"):
        Vocabulary.from_json({"level": "char"})
