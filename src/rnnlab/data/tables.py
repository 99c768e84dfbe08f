"""Reading CSV/TSV rows: the one reader of the labelled tables, the dialogue tables and the
speech manifests.

A row that the csv module cannot read (a field over its limit of ``FIELD_LIMIT`` characters, a
quote left open) is one ``ValueError`` naming the file and the line, never a traceback; the
limit is csv's own, stated here so that writers can keep under it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

#: the most characters one field may hold (the csv module's default limit)
FIELD_LIMIT = csv.field_size_limit()


def rows(lines: Iterable[str], where: str | Path, delimiter: str = ",") -> Iterator[list[str]]:
    """The rows of the CSV text ``lines`` (a file opened with ``newline=""``, or a
    ``StringIO``); an unreadable row is a ValueError naming ``where`` and its line."""
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ValueError(f"{where}, line {reader.line_num}: {error}") from None
        yield row
