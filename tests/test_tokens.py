"""Texts larger than memory: the token cache and the memory-mapped corpus.

The memory-mapped path must give exactly the batches, the vocabulary and the digest of the
in-memory path; the cache must be reused while the files stay the same and never trusted after
they change or after a pass that was killed; an undecodable byte beyond the first chunk is
reported at its offset in its file.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from rnnlab.cli import main
from rnnlab.data import tokens
from rnnlab.data.streams import as_streams, chunk
from rnnlab.data.text import read_text
from rnnlab.data.tokens import encode_files
from rnnlab.data.vocab import UNKNOWN
from rnnlab.tasks.language import Corpus, Trainer, TrainSettings

TEXT = "Ünïcode — and ASCII: the quick brown fox, the lazy dog.\n" * 150 + "tail words end"


@pytest.fixture
def small_chunks(monkeypatch):
    """Read 100 bytes at a time, so that characters, words and files straddle chunks."""
    monkeypatch.setattr(tokens, "CHUNK", 100)


def settings(level: str, **changes) -> TrainSettings:
    base = {"level": level, "hidden_size": 16, "num_layers": 1, "batch_size": 5, "seq_len": 7}
    return TrainSettings(**(base | {"precision": "float32", "epochs": 1} | changes))


@pytest.mark.parametrize("level", ["char", "byte", "word"])
def test_the_memory_mapped_corpus_gives_the_in_memory_batches(level, tmp_path, small_chunks):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    s = settings(level)
    in_memory = Corpus.from_text(TEXT.encode() if level == "byte" else TEXT, s)
    mapped = Corpus.from_files([path], s)
    assert isinstance(mapped.train, np.memmap)
    assert mapped.vocab == in_memory.vocab and mapped.digest == in_memory.digest
    assert np.array_equal(np.asarray(mapped.val), in_memory.val.numpy())
    x, y = as_streams(in_memory.train, s.batch_size)
    trainer = Trainer(mapped, s, progress=False)
    for index in range(trainer.chunks_per_epoch):
        got = trainer.streams.chunk(index, s.seq_len)
        assert all(
            torch.equal(a, b) for a, b in zip(got, chunk(x, y, index, s.seq_len), strict=True)
        )
    # and training reads them: the same losses, step for step
    runs = [Trainer(c, s, progress=False, echo=lambda _: None).fit() for c in (in_memory, mapped)]
    assert runs[0].history == runs[1].history and runs[0].best_val == runs[1].best_val


def test_several_files_and_a_folder_are_one_corpus_in_order(tmp_path, small_chunks):
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    parts = {"a.txt": "first file, ", "dir/b.txt": "then a folder's ", "dir/sub/c.txt": "nested"}
    for name, text in parts.items():
        (tmp_path / name).write_text(text * 20)
    (tmp_path / "dir" / ".hidden").write_text("never read")
    encoded = encode_files([tmp_path / "a.txt", tmp_path / "dir"], "char")
    assert encoded.vocab.decode(np.asarray(encoded.ids)) == "".join(t * 20 for t in parts.values())
    assert [p.name for p in encoded.files] == ["a.txt", "b.txt", "c.txt"]


def test_the_word_vocabulary_is_bounded_by_max_vocab(tmp_path, small_chunks):
    path = tmp_path / "words.txt"
    path.write_text(TEXT)
    encoded = encode_files([path], "word", max_vocab=6)
    assert len(encoded.vocab) == 6 and encoded.vocab.symbols[0] == UNKNOWN
    in_memory = Corpus.from_text(TEXT, settings("word", max_vocab=6))
    assert encoded.vocab == in_memory.vocab
    assert np.array_equal(np.asarray(encoded.ids), torch.cat([in_memory.train, in_memory.val]))
    assert encoded.vocab.unknown_count(torch.from_numpy(encoded.ids.astype(np.int64))) > 0


def test_a_second_run_reuses_the_encoded_file(tmp_path, monkeypatch):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    first = encode_files([path], "char")
    monkeypatch.setattr(tokens, "_encode", lambda *a: pytest.fail("encoded a second time"))
    second = encode_files([path], "char")
    assert second.path == first.path and np.array_equal(second.ids, first.ids)


def test_the_cache_is_not_trusted_once_the_file_changes(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("abcabc" * 50)
    before = encode_files([path], "char")
    path.write_text("xyzxyz" * 50)  # same size: the modification time tells
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    after = encode_files([path], "char")
    assert after.path != before.path
    assert after.vocab.decode(np.asarray(after.ids)) == "xyzxyz" * 50
    assert after.digest == hashlib.sha256(b"xyzxyz" * 50).hexdigest()


def test_a_file_changed_with_its_size_and_time_put_back_is_encoded_again(tmp_path):
    """Issue 41, finding 5: the stale entry was served, the model learned text the file no
    longer held."""
    path = tmp_path / "text.txt"
    path.write_text("abcabc" * 50)
    stat = path.stat()
    before = encode_files([path], "char")
    path.write_text("cbacba" * 50)  # same size, same characters, other text
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_size == stat.st_size
    after = encode_files([path], "char")
    assert after.path == before.path  # the same key, encoded again
    assert after.vocab.decode(np.asarray(after.ids)) == "cbacba" * 50
    assert after.digest == hashlib.sha256(b"cbacba" * 50).hexdigest()


@pytest.mark.parametrize("overwrite", ["zeros", "random"])
def test_a_token_file_overwritten_is_encoded_again(tmp_path, overwrite):
    """Issue 41, finding 5: zeros trained on garbage ("best validation 0.0020 nats/char"),
    random bytes ended in an IndexError."""
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    first = encode_files([path], "char")
    size = first.path.stat().st_size
    noise = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    first.path.write_bytes(bytes(size) if overwrite == "zeros" else noise)
    again = encode_files([path], "char")
    assert again.vocab.decode(np.asarray(again.ids)) == TEXT


def test_an_undecodable_byte_after_the_first_chunk_is_reported_at_its_offset(
    tmp_path, small_chunks
):
    path = tmp_path / "bad.txt"
    data = bytearray(("a" + "é" * 200).encode())  # 401 bytes: five chunks
    data[300] = 0xFF  # the second byte of the character at 299, which straddles two chunks
    path.write_bytes(bytes(data))
    with pytest.raises(UnicodeDecodeError) as whole:
        bytes(data).decode("utf-8")
    assert whole.value.start == 299
    with pytest.raises(ValueError, match=rf"{path} is not valid utf-8 \(byte 299 cannot"):
        encode_files([path], "char")
    assert main(["train", "--text", str(path), "--out", str(tmp_path / "run")]) == 2


def test_a_killed_encoding_pass_leaves_nothing_a_later_run_trusts(tmp_path):
    path, cache = tmp_path / "text.txt", tmp_path / "cache"
    path.write_text(TEXT)
    child = textwrap.dedent(
        f"""
        import os, signal
        from rnnlab.data import tokens
        tokens.CHUNK = 100
        bar = tokens._bar
        def dying(reader, what, progress):
            made = bar(reader, what, progress)
            if what == "encoding":  # killed once the first chunk is written
                made.update = lambda size: os.kill(os.getpid(), signal.SIGKILL)
            return made
        tokens._bar = dying
        tokens.encode_files([{str(path)!r}], "char", cache={str(cache)!r})
        """
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL
    left = sorted(p.name for p in cache.iterdir())
    assert any(name.endswith(".tmp") for name in left)  # it died half way through
    assert not any(name.endswith((".json", ".ids")) for name in left)

    encoded = encode_files([path], "char", cache=cache)
    assert encoded.vocab.decode(np.asarray(encoded.ids)) == TEXT
    assert not any(p.name.endswith(".tmp") for p in cache.iterdir())


def test_train_on_several_files_records_them_and_resumes_from_them(tmp_path, capsys):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(TEXT[:4000])
    second.write_text(TEXT[4000:])
    out = tmp_path / "run"
    options = ["--hidden", "16", "--layers", "1", "--batch-size", "4", "--seq-len", "16"]
    command = ["train", "--text", str(first), str(second), "--out", str(out), *options]
    assert main([*command, "--epochs", "1", "--sample-length", "0"]) == 0
    printed = capsys.readouterr().out
    assert "batch: world size 1; 4 streams per rank, 4 in all" in printed
    config = (out / "config.json").read_text()
    assert str(first.resolve()) in config and str(second.resolve()) in config
    whole = tmp_path / "whole.txt"
    whole.write_text(TEXT)
    assert main(["evaluate", str(out), "--text", str(whole), "--limit", "1000"]) == 0
    assert "over 999 chars" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8"),  # a UTF-8 byte-order mark
        (TEXT.replace("—", "-").replace("Ü", "U").encode("latin-1"), "latin-1"),
        (TEXT.encode("utf-16"), "utf-8"),  # its byte-order mark says UTF-16
    ],
)
def test_encodings_and_byte_order_marks_read_as_in_memory(data, encoding, tmp_path, small_chunks):
    path = tmp_path / "text.txt"
    path.write_bytes(data)
    text = read_text(path, "char", encoding)
    encoded = encode_files([path], "char", encoding)
    assert encoded.vocab.decode(np.asarray(encoded.ids)) == text
    assert encoded.digest == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_vocabulary_over_256_symbols_is_stored_as_uint16(tmp_path, small_chunks):
    text = " ".join(f"w{i % 400}" for i in range(3000))
    path = tmp_path / "words.txt"
    path.write_text(text)
    encoded = encode_files([path], "word")
    assert encoded.ids.dtype == np.uint16 and len(encoded.vocab) == 402  # <unk>, " ", 400 words
    assert encoded.vocab.decode(np.asarray(encoded.ids)) == text
