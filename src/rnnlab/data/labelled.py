"""Labelled text for many-to-one tasks: reading, the stratified split, and padded batches.

:func:`read_labelled` reads two layouts:

- **class files**: one or more text files, or a folder of them, one class per file and one
  example per line (``names/Arabic.txt``, ...). The class is the file's name without its
  extension (``Arabic``); when all the files share one stem it is the extension instead
  (``rt-polarity.pos`` -> ``pos``).
- **a table**: one ``.csv`` / ``.tsv`` file (or any file when a column option is given; the
  delimiter is then sniffed) with a text column and a label column. A single file of another
  name whose every line is ``text<TAB>label``, with few distinct labels, is read as a table
  too, and :attr:`LabelledData.note` says so. A column is named by its
  header or by a 0-based index; by default the column called ``text`` (else the first) and the
  one called ``label`` (else the last). Unless ``header`` says, the first row is taken for a
  header when it holds a named column, or when its label occurs nowhere else in the label
  column.

Examples that are empty after stripping surrounding whitespace (and table rows with an empty
label) are skipped and counted in :attr:`LabelledData.skipped`; a class file with no examples at
all is an error, as is a table without the named columns.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnlab.data.tables import column
from rnnlab.data.tables import rows as table_rows
from rnnlab.data.text import read_text
from rnnlab.data.vocab import tokenize_words

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
MAX_GUESSED_LABELS = 100  # labels a file of text<TAB>label lines may have to be read as a table


@dataclass
class LabelledData:
    """Texts and their labels, in file order, with where they came from."""

    texts: list[str]
    labels: list[str]
    sources: list[str] = field(default_factory=list)  # absolute paths read
    skipped: int = 0  # empty examples left out
    note: str = ""  # how the data was read, when that was guessed

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> list[str]:
        """The distinct labels, sorted."""
        return sorted(set(self.labels))

    def counts(self) -> Counter:
        return Counter(self.labels)

    def subset(self, indices: Sequence[int]) -> LabelledData:
        return LabelledData(
            [self.texts[i] for i in indices], [self.labels[i] for i in indices], self.sources
        )

    def deduplicated(self) -> tuple[LabelledData, int]:
        """The data with repeated (text, label) pairs dropped (first kept), and how many went."""
        seen: set[tuple[str, str]] = set()
        keep = []
        for i, pair in enumerate(zip(self.texts, self.labels, strict=True)):
            if pair not in seen:
                seen.add(pair)
                keep.append(i)
        kept = self.subset(keep)
        kept.skipped = self.skipped
        return kept, len(self) - len(keep)


#: the options that say which labelled texts to read and how (:func:`read_labelled_options`)
LABELLED_OPTIONS = ("data", "text_column", "label_column", "encoding", "header")


def read_labelled_options(options: dict, echo: Callable[[str], object] = print) -> LabelledData:
    """The labelled texts that ``options`` (:data:`LABELLED_OPTIONS`, by name) describe; how they
    were read and how many examples were empty go to ``echo``."""
    if not options.get("data"):
        raise ValueError("no data given: --data PATH (class files, a folder or a table)")
    data = read_labelled(
        options["data"],
        options.get("text_column"),
        options.get("label_column"),
        options.get("encoding") or "utf-8",
        options.get("header"),
    )
    if data.note:
        echo(data.note)
    if data.skipped:
        echo(f"skipped {data.skipped} empty example(s)")
    return data


def read_labelled(
    paths: str | Path | Sequence[str | Path],
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
    header: bool | None = None,
) -> LabelledData:
    """The examples in ``paths`` (see the module docstring for the layouts)."""
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not paths:
        raise ValueError("no data given")
    for path in paths:
        if not path.exists():
            raise ValueError(f"data not found: {path}")
    table = text_column is not None or label_column is not None
    if table or (len(paths) == 1 and paths[0].suffix.lower() in TABLE_SUFFIXES):
        if len(paths) != 1 or paths[0].is_dir():
            raise ValueError("a table (CSV/TSV) is one file; give exactly one")
        content = read_text(paths[0], "char", encoding)
        return _read_table(paths[0], content, text_column, label_column, header)
    if len(paths) == 1 and paths[0].is_file():
        content = read_text(paths[0], "char", encoding)
        if _tab_separated(content):
            data = _read_table(paths[0], content, None, None, header, delimiter="\t")
            data.note = f"read {paths[0]} as a table: every line is text<TAB>label"
            return data
    files = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not inside:
                raise ValueError(f"{path} holds no files; give one file per class")
            files.extend(inside)
        else:
            files.append(path)
    return _read_class_files(files, encoding)


def _tab_separated(content: str) -> bool:
    """Whether every non-empty line of ``content`` has one tab, and its last fields (the labels)
    take few distinct values: at most MAX_GUESSED_LABELS, and fewer than half the lines."""
    lines = [line for line in content.splitlines() if line.strip()]
    if len(lines) < 2 or not all(line.count("\t") == 1 for line in lines):
        return False
    labels = {line.rsplit("\t", 1)[1].strip() for line in lines}
    return len(labels) <= min(MAX_GUESSED_LABELS, len(lines) / 2)


def _class_names(files: list[Path]) -> list[str]:
    stems = [f.stem for f in files]
    names = stems if len(set(stems)) == len(stems) else [f.suffix.lstrip(".") for f in files]
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(
            "cannot tell the classes apart by file name: give files with distinct names "
            f"({', '.join(f.name for f in files[:4])} ...)"
        )
    return names


def _read_class_files(files: list[Path], encoding: str) -> LabelledData:
    data = LabelledData([], [], [str(f.resolve()) for f in files])
    for path, label in zip(files, _class_names(files), strict=True):
        lines = read_text(path, "char", encoding).splitlines()
        examples = [line.strip() for line in lines]
        kept = [text for text in examples if text]
        if not kept:
            raise ValueError(
                f"{path} has no examples (only empty lines); remove it or add examples of "
                f"class {label!r}, one per line"
            )
        data.skipped += len(examples) - len(kept)
        data.texts.extend(kept)
        data.labels.extend([label] * len(kept))
    return data


def _read_table(
    path: Path,
    content: str,
    text_column: str | None,
    label_column: str | None,
    has_header: bool | None,
    delimiter: str | None = None,
) -> LabelledData:
    """The examples in ``content``, the text of the table file ``path``."""
    delimiter = delimiter or TABLE_SUFFIXES.get(path.suffix.lower())
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(content[:65536], delimiters=",\t;|").delimiter
        except csv.Error:
            raise ValueError(f"cannot tell the delimiter of {path}; name it .csv or .tsv") from None
    rows = list(enumerate(table_rows(io.StringIO(content), path, delimiter), 1))
    blank = sum(1 for _, row in rows if not any(cell.strip() for cell in row))
    rows = [(n, row) for n, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"{path} has no rows")
    header = [cell.strip() for cell in rows[0][1]]
    text = column(text_column, header, "text", 0)
    label = column(label_column, header, "label", len(header) - 1)
    if text == label:
        raise ValueError("the text and label columns must differ")
    needed = max(text, label) + 1
    if needed > len(header):
        raise ValueError(
            f"{path} has {len(header)} column(s), too few for text column {text} and label "
            f"column {label} (0-based); choose them with --text-column and --label-column"
        )
    if has_header is None:
        by_name = [spec for spec in (text_column, label_column) if spec and not spec.isdigit()]
        by_name += [
            name
            for spec, name in ((text_column, "text"), (label_column, "label"))
            if spec is None and name in header
        ]
        later = {row[label].strip() for _, row in rows[1:] if len(row) > label}
        has_header = bool(by_name) or (len(rows) > 2 and header[label] not in later)
    if has_header:
        for spec, index in ((text_column, text), (label_column, label)):
            twice = [i for i, name in enumerate(header) if name == header[index]]
            if len(twice) > 1 and (spec is None or not spec.isdigit()):
                raise ValueError(
                    f"{path} names columns {twice[0]} and {twice[1]} both {header[index]!r}; "
                    "choose by 0-based index with --text-column and --label-column"
                )
    data = LabelledData([], [], [str(path.resolve())], blank)
    for number, row in rows[1:] if has_header else rows:
        if len(row) < needed:
            raise ValueError(
                f"{path}, row {number}: {len(row)} field(s), but the text and label columns "
                f"need {needed}"
            )
        value, tag = row[text].strip(), row[label].strip()
        if not value or not tag:
            data.skipped += 1
            continue
        data.texts.append(value)
        data.labels.append(tag)
    if not data.texts:
        raise ValueError(f"{path} has no examples with both a text and a label")
    return data


def tokens(text: str, level: str) -> list[str]:
    """A text as a classifier reads it: its characters, or its words and punctuation marks
    (:func:`~rnnlab.data.vocab.tokenize_words` without the whitespace)."""
    if level == "char":
        return list(text)
    if level == "word":
        return [t for t in tokenize_words(text) if not t.isspace()]
    raise ValueError(f"a classifier reads char or word level, got {level!r}")


def stratified_split(
    labels: Sequence[str], fraction: float, seed: int = 0
) -> tuple[list[int], list[int]]:
    """(train, held-out) indices: within each class a seeded shuffle, and round(n * fraction)
    examples held out (at least 1 of a class with 2 or more, and never all of them)."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    train, held = [], []
    for label in sorted(by_class):
        members = by_class[label]
        order = [members[j] for j in rng.permutation(len(members))]
        n = round(len(members) * fraction)
        if fraction > 0 and len(members) >= 2:
            n = min(max(n, 1), len(members) - 1)
        held.extend(order[:n])
        train.extend(order[n:])
    return sorted(train), sorted(held)
