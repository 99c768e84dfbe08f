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


def column(
    spec: str | None, header: list[str], default_name: str | None, default_index: int | None
) -> int | None:
    """The 0-based index of a table's column: ``spec`` by header name or 0-based index, else
    the column called ``default_name``, else ``default_index`` (None: no such column). A name
    not in ``header`` is a ValueError that shows the header."""
    if spec is None:
        return header.index(default_name) if default_name in header else default_index
    if spec.isdigit():
        return int(spec)
    if spec not in header:
        raise ValueError(
            f"the table has no column named {spec!r}; its first row is: "
            f"{', '.join(repr(h) for h in header[:8])}"
        )
    return header.index(spec)


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
