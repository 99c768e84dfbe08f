"""Reading text files: encodings and byte-order marks, and tables recognised by their shape."""

from __future__ import annotations

import codecs

import pytest

from rnnlab.data import read_text
from rnnlab.data.labelled import read_labelled

TEXT = "héllo wörld, ünïcode\n" * 20


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-16"), "utf-16"),  # BOM and the encoding named
        (TEXT.encode("utf-16"), "utf-8"),  # the BOM alone selects UTF-16
        (TEXT.encode("utf-16-be"), "utf-16-be"),  # no BOM: NUL bytes, but decoded as named
        (codecs.BOM_UTF8 + TEXT.encode(), "utf-8"),  # the UTF-8 BOM is dropped
        (TEXT.encode("utf-32"), "utf-8"),
    ],
)
def test_utf16_and_byte_order_marks_decode_to_the_text(tmp_path, data, encoding):
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    assert read_text(path, "char", encoding) == TEXT


def test_nul_bytes_in_utf8_are_binary_and_a_device_is_not_a_text_file(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"abc\x00def")
    with pytest.raises(ValueError, match="looks binary"):
        read_text(tmp_path / "b.txt")
    with pytest.raises(ValueError, match="not a regular file"):
        read_text("/dev/zero")


def test_a_utf8_bom_does_not_become_part_of_the_first_column_name(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"text,label\nabc,x\ndef,y\nghi,x\n")
    data = read_labelled(path, text_column="text")
    assert data.texts == ["abc", "def", "ghi"] and data.labels == ["x", "y", "x"]


def test_a_txt_file_of_text_tab_label_lines_is_read_as_a_table(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("".join(f"review number {i}\t{'pos' if i % 3 else 'neg'}\n" for i in range(30)))
    data = read_labelled(path)
    assert data.classes == ["neg", "pos"] and data.texts[1] == "review number 1"
    assert "as a table" in data.note
    many = tmp_path / "many.txt"  # a label per line: not a table, one class file
    many.write_text("".join(f"line {i}\tvalue {i}\n" for i in range(30)))
    plain = read_labelled(many)
    assert plain.classes == ["many"] and not plain.note
