"""Texts of any size: encoded once, in chunks, into a token file that training reads through a
memory map.

    files   = the given files and folders (a folder: its files, recursively, in path order,
              hidden names skipped), concatenated as they are
    pass 1  : read CHUNK bytes at a time, decode incrementally, count the symbols
              -> the vocabulary (char: every character seen; word: the ``max_vocab`` - 1 most
              frequent tokens and ``<unk>``; byte: all 256)
    pass 2  : decode again, ids = table[symbol], append to ``KEY.ids.PID.tmp`` as the smallest
              of uint8 / uint16 / uint32 that holds the vocabulary; SHA-256 of the text
    entry   : rename to ``KEY.ids``, then write ``KEY.json`` (the vocabulary, the count, the
              text's digest, the SHA-256 of the files' bytes and of the token file) atomically.
              An entry is trusted only when its file stats and count match and both digests
              are those of the files and the token file now (one read of each, at about
              1.7 GB/s), so a pass that is killed, a file edited with its size and time put
              back, or a token file overwritten leaves nothing a later run reads.
    KEY     = sha256(format, level, encoding, max_vocab or the given vocabulary,
                     [(path, size, mtime_ns) per file])

The cache directory is ``$RNNLAB_CACHE``, else ``$XDG_CACHE_HOME/rnnlab``, else
``~/.cache/rnnlab``, under ``tokens/``. Memory stays bounded by a few chunks whatever the size
of the text (a word-level count holds one entry per distinct word). A file that changes is a new
key; a file that changes while it is read is refused. An undecodable byte is reported with its
byte offset in its file. Concurrent runs on one text (the ranks of a ``torchrun`` job) encode it
once: an exclusive lock per key, and whoever comes second finds the entry.
"""

from __future__ import annotations

import codecs
import fcntl
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rnnlab.checkpoint import parse_json, write_json
from rnnlab.data.text import (
    binary_error,
    bom_encoding,
    file_digest,
    sources_digest,
    undecodable_error,
)
from rnnlab.data.vocab import Vocabulary, check_level, tokenize_words

FORMAT = 1  # of the cache entries; a new format is a new key
CHUNK = 16 * 2**20  # bytes read at a time
CODE_POINTS = 0x110000


def cache_dir() -> Path:
    """Where encoded texts are kept (see the module docstring)."""
    if os.environ.get("RNNLAB_CACHE"):
        return Path(os.environ["RNNLAB_CACHE"]) / "tokens"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rnnlab" / "tokens"


def text_files(sources: Sequence[str | Path]) -> list[Path]:
    """The files ``sources`` name, in order: a file as given, a folder as its files (recursively,
    in path order, hidden names skipped). One line naming the problem for a missing path, a
    folder without files, or a text that is empty."""
    if not sources:
        raise ValueError("give at least one text file")
    files: list[Path] = []
    for source in map(Path, sources):
        if not source.exists():
            raise ValueError(f"text file not found: {source}")
        if source.is_dir():
            found = sorted(p for p in source.rglob("*") if p.is_file() and not _hidden(p, source))
            if not found:
                raise ValueError(f"{source} holds no files")
            files.extend(found)
        elif source.is_file():
            files.append(source)
        else:
            raise ValueError(f"{source} is not a regular file; give a text file")
    for path in files:
        try:
            open(path, "rb").close()
        except OSError as error:
            raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    if sum(f.stat().st_size for f in files) == 0:
        shown = files[0] if len(files) == 1 else f"{len(files)} files"
        raise ValueError(f"{shown} is empty; give a file with some text in it")
    return files


def _hidden(path: Path, folder: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


@dataclass(frozen=True)
class EncodedText:
    """A text as ids in a token file (``ids`` is a read-only memory map)."""

    vocab: Vocabulary
    ids: np.ndarray
    digest: str  # SHA-256 of the text (UTF-8; the raw bytes at the byte level)
    files: tuple[Path, ...]
    path: Path  # the token file


def id_dtype(size: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids 0..size-1."""
    return np.dtype(
        next(t for t in (np.uint8, np.uint16, np.uint32) if size <= np.iinfo(t).max + 1)
    )


def encode_files(
    sources: Sequence[str | Path],
    level: str = "char",
    encoding: str = "utf-8",
    *,
    max_vocab: int | None = None,
    vocab: Vocabulary | None = None,
    cache: str | Path | None = None,
    progress: bool = False,
) -> EncodedText:
    """The text of ``sources`` encoded at ``level`` (with ``vocab``, or the vocabulary counted
    from the text), from the cache when it holds it, else encoded into it."""
    check_level(level)
    files = text_files(sources)
    stats = [_stat(f) for f in files]
    described = vocab.to_json() if vocab is not None else {"max_vocab": max_vocab}
    key_fields = {"format": FORMAT, "level": level, "encoding": encoding, "vocab": described}
    key = hashlib.sha256(
        json.dumps({**key_fields, "files": stats}, sort_keys=True).encode()
    ).hexdigest()[:32]
    folder = Path(cache) if cache is not None else cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = os.open(folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ValueError(
            f"cannot write the token cache in {folder} ({error.strerror or error}); "
            "set RNNLAB_CACHE to a folder you can write"
        ) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # who comes second waits, then finds the entry
        entry, ids_path = folder / f"{key}.json", folder / f"{key}.ids"
        found = _trusted(entry, ids_path, stats, files)
        if found is not None:
            return found
        entry.unlink(missing_ok=True)  # an entry not trusted is never trusted again
        for stale in folder.glob(f"{key}.ids.*.tmp"):  # a pass that died: we hold the lock
            stale.unlink(missing_ok=True)
        reader = _Reader(files, level, encoding)
        counted = vocab is None
        if counted:
            vocab = _count(reader, level, max_vocab, progress)
        tmp = folder / f"{key}.ids.{os.getpid()}.tmp"
        try:
            count, digest, ids_digest = _encode(reader, vocab, tmp, progress, check=not counted)
            source = sources_digest(files)
            if [_stat(f) for f in files] != stats:
                raise ValueError("a text file changed while it was being encoded; run again")
            os.replace(tmp, ids_path)
        except OSError as error:  # a full cache: the line names the cache file
            tmp.unlink(missing_ok=True)
            if error.filename is not None or error.errno is None:
                raise
            raise OSError(error.errno, error.strerror, str(ids_path)) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        meta = {"vocabulary": vocab.to_json(), "dtype": id_dtype(len(vocab)).name}
        integrity = {"source_sha256": source, "ids_sha256": ids_digest}
        record = {**key_fields, "files": stats, **meta, "count": count, "sha256": digest}
        write_json(entry, record | integrity)
        found = _entry(entry, ids_path, stats)  # its digests were just taken from these bytes
        if found is None:
            raise ValueError(f"the token cache entry {entry} could not be read back")
        return found[0]
    finally:
        os.close(lock)  # closing releases the lock


def _stat(path: Path) -> dict:
    info = path.stat()
    return {"path": str(path.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _trusted(
    entry: Path, ids_path: Path, stats: list[dict], files: Sequence[Path]
) -> EncodedText | None:
    """The cache entry, if it is complete, describes these files and was checked for sure,
    not only by the files' sizes and times: the files' bytes and the token file's have the
    digests the entry recorded (a file edited with its size and time put back, or a token file
    overwritten, is encoded again); else None."""
    found = _entry(entry, ids_path, stats)
    if found is None:
        return None
    encoded, meta = found
    try:
        if sources_digest(files) != meta["source_sha256"]:
            return None
        if file_digest(ids_path) != meta["ids_sha256"]:
            return None
    except (KeyError, OSError):
        return None
    return encoded


def _entry(entry: Path, ids_path: Path, stats: list[dict]) -> tuple[EncodedText, dict] | None:
    """The cache entry read back and its JSON, if it is complete and describes these files
    (stats, count, size); its contents are checked by :func:`_trusted`."""
    if not entry.is_file() or not ids_path.is_file():
        return None
    try:
        meta = parse_json(entry.read_bytes(), str(entry))
        vocab = Vocabulary.from_json(meta["vocabulary"])
        dtype, count = np.dtype(meta["dtype"]), int(meta["count"])
        if meta["files"] != stats or dtype != id_dtype(len(vocab)) or count < 1:
            return None
        if ids_path.stat().st_size != count * dtype.itemsize:
            return None
        ids = np.memmap(ids_path, dtype=dtype, mode="r", shape=(count,))
        files = tuple(Path(s["path"]) for s in stats)
        return EncodedText(vocab, ids, str(meta["sha256"]), files, ids_path), meta
    except (ValueError, KeyError, TypeError, OSError):
        return None


class _Reader:
    """The files' text, chunk by chunk: ``chunks()`` yields (piece, the bytes read). A piece is
    a str, or bytes where the text is ASCII (its bytes are its code points, and its UTF-8) or the
    level is byte. ``utf8`` says whether the current file's bytes are its text's UTF-8 (UTF-8
    without a byte-order mark). Errors name the file and the byte offset."""

    def __init__(self, files: list[Path], level: str, encoding: str) -> None:
        self.files, self.level, self.encoding = files, level, encoding
        self.total = sum(f.stat().st_size for f in files)
        self.current = files[0]  # the file being read
        self.utf8 = True
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None

    def chunks(self) -> Iterator[tuple[str | bytes, bytes]]:
        for path in self.files:
            self.current = path
            yield from self._file_chunks(path)

    def _file_chunks(self, path: Path) -> Iterator[tuple[str | bytes, bytes]]:
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed below; a generator holds it
        except OSError as error:
            raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
        with file:
            data = file.read(CHUNK)
            if self.level == "byte":
                while data:
                    yield data, data
                    data = file.read(CHUNK)
                return
            encoding = bom_encoding(data) or self.encoding
            utf8 = self.utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
            if utf8 and b"\x00" in data[:65536]:
                raise binary_error(path)
            decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
            offset, first = 0, True
            while True:
                final = not data
                pending = len(decoder.getstate()[0])
                if utf8 and not pending and data.isascii():
                    piece = data  # the common case: ASCII needs no decoding
                else:
                    try:
                        piece = decoder.decode(data, final=final)
                    except UnicodeDecodeError as error:
                        at = offset - pending + error.start  # in the file, not the chunk
                        raise undecodable_error(path, encoding, at) from None
                if first and ("\x00" if isinstance(piece, str) else b"\x00") in piece[:65536]:
                    raise binary_error(path)
                first = False
                if piece or data:
                    yield piece, data
                if final:
                    return
                offset += len(data)
                data = file.read(CHUNK)


def code_points(piece: str | bytes) -> np.ndarray:
    """The code points of a piece: uint8 for ASCII (bytes or str), else uint32."""
    if isinstance(piece, str) and piece.isascii():
        piece = piece.encode("ascii")
    if isinstance(piece, bytes):
        return np.frombuffer(piece, dtype=np.uint8)
    return np.frombuffer(piece.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _ascii_seen(data: bytes, seen: bytearray) -> None:
    """Add the byte values of ``data`` to ``seen``: delete the known ones, take the first that
    remains, repeat (a C loop per distinct new byte, nothing per byte in Python)."""
    for part in (data[:65536], data):  # most of them from a short prefix, the rest from all
        rest = part.translate(None, bytes(seen))
        while rest:
            seen.append(rest[0])
            rest = rest.translate(None, rest[:1])


class _Words:
    """Word tokens of a text given in pieces: the last token of a piece may continue in the
    next, so it is held back until the next piece (or the end) arrives."""

    def __init__(self) -> None:
        self.carry = ""

    def tokens(self, piece: str | bytes, final: bool = False) -> list[str]:
        text = piece.decode("ascii") if isinstance(piece, bytes) else piece
        tokens = tokenize_words(self.carry + text)
        self.carry = "" if final or not tokens else tokens.pop()
        return tokens


def _bar(reader: _Reader, what: str, progress: bool) -> tqdm:
    return tqdm(
        total=reader.total,
        desc=what,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress,
        dynamic_ncols=True,
    )


def _count(reader: _Reader, level: str, max_vocab: int | None, progress: bool) -> Vocabulary:
    """Pass 1: the vocabulary of the text."""
    if level == "byte":
        return Vocabulary.build("byte", b"")
    seen_ascii, seen = bytearray(), np.zeros(CODE_POINTS, dtype=bool)
    words, counter = _Words(), Counter()
    with _bar(reader, "vocabulary", progress) as bar:
        for piece, data in reader.chunks():
            if level == "word":
                counter.update(words.tokens(piece))
            elif isinstance(piece, bytes):
                _ascii_seen(piece, seen_ascii)
            else:
                seen[code_points(piece)] = True
            bar.update(len(data))
    if level == "char":
        seen[list(seen_ascii)] = True
        return Vocabulary("char", tuple(chr(c) for c in np.flatnonzero(seen)))
    counter.update(words.tokens("", final=True))
    return Vocabulary.from_word_counts(counter, max_vocab)


def _encode(
    reader: _Reader, vocab: Vocabulary, path: Path, progress: bool, check: bool = True
) -> tuple[int, str, str]:
    """Pass 2: append the ids of the text to ``path``; returns their count, the text's SHA-256
    and the token file's. ``check``: refuse characters the vocabulary lacks (unneeded when it
    was counted from the same text)."""
    dtype, digest, count = id_dtype(len(vocab)), hashlib.sha256(), 0
    written = hashlib.sha256()
    index = {s: i for i, s in enumerate(vocab.symbols)}
    unk = index.get(vocab.unknown, -1)
    if vocab.level == "char":  # code point -> id (unk, or -1 where there is none)
        table = np.full(CODE_POINTS, unk, dtype=np.int32)
        for symbol, i in index.items():
            if len(symbol) == 1:
                table[ord(symbol)] = i
        known = bytes(b for b in range(128) if table[b] >= 0)
        ascii_table = table[:256].clip(0).astype(np.uint8).tobytes() if dtype == np.uint8 else b""
    words = _Words()
    with open(path, "wb") as out, _bar(reader, "encoding", progress) as bar:
        for piece, data in reader.chunks():
            utf8 = isinstance(piece, bytes) or reader.utf8
            digest.update(data if utf8 else piece.encode("utf-8"))
            if vocab.level == "byte":
                ids = piece
            elif vocab.level == "word":
                tokens = words.tokens(piece)
                ids = np.fromiter((index.get(t, unk) for t in tokens), np.int64, len(tokens))
            elif isinstance(piece, bytes) and ascii_table and not piece.translate(None, known):
                ids = piece.translate(ascii_table)  # all known: one C loop, byte -> id
            else:
                ids = table[code_points(piece)]
                if check and unk < 0 and (ids < 0).any():
                    text = piece.decode("ascii") if isinstance(piece, bytes) else piece
                    vocab.encode(text, what=str(reader.current))  # raises, naming them
            if not isinstance(ids, bytes):
                ids = ids.astype(dtype, copy=False).tobytes()
            out.write(ids)
            written.update(ids)
            count += len(ids) // dtype.itemsize
            bar.update(len(data))
        if vocab.level == "word":
            last = words.tokens("", final=True)
            tail = np.array([index.get(t, unk) for t in last], dtype=dtype).tobytes()
            out.write(tail)
            written.update(tail)
            count += len(last)
        out.flush()
        os.fsync(out.fileno())
    return count, digest.hexdigest(), written.hexdigest()
