"""Checkpoint files: atomic writes, and one clear error for anything corrupt or missing."""

from __future__ import annotations

import os

import pytest
import torch

from rnnlab import checkpoint
from rnnlab.checkpoint import atomic_write, read_json, read_tensors, write_json, write_tensors


def test_tensors_and_metadata_round_trip(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5)}
    write_tensors(tmp_path / "t.safetensors", tensors, {"step": 7, "history": [1.5, 2.5]})
    back, meta = read_tensors(tmp_path / "t.safetensors")
    assert meta == {"step": 7, "history": [1.5, 2.5]}
    assert all(torch.equal(back[k], v) for k, v in tensors.items())


def test_a_save_that_fails_half_way_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "file.bin"
    atomic_write(path, b"old contents")

    class Dying:
        def __init__(self, real):
            self.real = real

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.real.close()

        def write(self, data):
            self.real.write(data[: len(data) // 2])
            raise OSError("disk full")

    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: Dying(real_open(*a, **k)))
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, b"new contents, longer")
    monkeypatch.undo()
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["file.bin"]  # no temporary left behind


def test_a_save_killed_before_the_rename_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    write_json(path, {"v": 1})

    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_json(path, {"v": 2})
    monkeypatch.undo()
    assert read_json(path) == {"v": 1}


def test_corrupt_and_missing_files_are_one_line_value_errors(tmp_path):
    with pytest.raises(ValueError, match=r"no model\.safetensors"):
        read_tensors(tmp_path / "model.safetensors")
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="corrupt"):
        read_tensors(tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(ValueError, match=r"config\.json is corrupt"):
        read_json(tmp_path / "config.json")
