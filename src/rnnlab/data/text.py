"""Reading training text: a file (with clear errors for the ways a file can be wrong), or the
built-in default corpus, which every Python install has.
"""

from __future__ import annotations

import codecs
import hashlib
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CORPUS_CHARS = 2_000_000
DEFAULT_SOURCE = "python-stdlib"  # how a checkpoint's config names the built-in corpus

#: The project's shared data sets (tiny Shakespeare, names, rt-polarity, eng-fra): the folder
#: ``shared/data`` beside the project's checkout, which the tests, the benchmarks and ``rnnlab
#: bench`` read; never copied into the project. Tests that need it skip when it is absent.
SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def read_source(
    source: str | Path | None, level: str = "char", encoding: str = "utf-8"
) -> tuple[str | bytes, str]:
    """The text of a training source and the name a checkpoint records for it: the built-in
    corpus for None or ``DEFAULT_SOURCE``, else the file (recorded by its absolute path)."""
    if source is None or str(source) == DEFAULT_SOURCE:
        return python_sources(), DEFAULT_SOURCE
    return read_text(source, level, encoding), str(Path(source).resolve())


def read_text(path: str | Path, level: str = "char", encoding: str = "utf-8") -> str | bytes:
    """The contents of ``path``: bytes at the byte level, else text decoded with ``encoding``.

    Raises ValueError with one line saying what is wrong and what to do for a missing,
    unreadable, empty, binary or wrongly encoded file.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"text file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a text file")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file; give a text file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    if not data:
        raise ValueError(f"{path} is empty; give a file with some text in it")
    if level == "byte":
        return data
    encoding = bom_encoding(data) or encoding
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and b"\x00" in data[:65536]:
        raise binary_error(path)
    try:
        text = data.decode(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as error:
        raise undecodable_error(path, encoding, error.start) from None
    if "\x00" in text[:65536]:
        raise binary_error(path)
    return text


#: byte-order marks, longest first, and the codecs that decode them (and drop the mark)
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(data: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``data`` announces, if there is one."""
    return next((codec for mark, codec in BOMS if data.startswith(mark)), None)


def binary_error(path: Path) -> ValueError:
    """The error for a text file that holds NUL bytes."""
    return ValueError(
        f"{path} looks binary (it contains NUL bytes); to model its raw bytes use --level byte"
    )


def undecodable_error(path: Path, encoding: str, offset: int) -> ValueError:
    """The error for a text file whose byte at ``offset`` does not decode in ``encoding``."""
    return ValueError(
        f"{path} is not valid {encoding} (byte {offset} cannot be decoded); "
        "pass its encoding with --encoding (for example --encoding latin-1), "
        "or model raw bytes with --level byte"
    )


def python_sources(limit: int = DEFAULT_CORPUS_CHARS) -> str:
    """The default corpus: the running interpreter's own standard-library modules.

    Top-level ``.py`` files of the standard library, in sorted file-name order, each preceded by
    a ``# file: NAME`` line, concatenated until at least ``limit`` characters (whole files only).
    The selection is fixed for a given Python version and needs no data files.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    size = 0
    for path in sorted(stdlib.glob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        part = f"# file: {path.name}\n{source.rstrip()}\n\n"
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
    if not parts:
        raise ValueError(
            f"no standard-library sources found under {stdlib} (Python {sys.version.split()[0]}); "
            "give a text file with --text"
        )
    return "".join(parts)


def sources_digest(sources: Sequence[str | Path]) -> str:
    """The SHA-256 of the sources in order: of each one that is a file, its size and the
    digest of its bytes (so that bytes moved from one file to the next change it); of each
    that is none (a built-in data set), its name. What a resumed run checks its data against,
    and what a token cache entry was encoded from; it reads each file once (1.7 GB/s here)."""
    digest = hashlib.sha256()
    for source in sources:
        path = Path(source)
        if path.is_file():
            digest.update(b"file" + path.stat().st_size.to_bytes(8, "little"))
            digest.update(file_digest(path).encode())
        else:
            digest.update(b"name" + str(source).encode() + b"\0")
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """The SHA-256 of one file's bytes, read 16 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(16 * 2**20):
            digest.update(block)
    return digest.hexdigest()
