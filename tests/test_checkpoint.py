"""Checkpoint files: atomic writes, locks, stale temporaries, and one clear error for anything
corrupt or missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


def test_a_write_flushes_the_directory_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os,
        "fsync",
        lambda fd: synced.append(os.path.isdir(f"/proc/self/fd/{fd}")) or real_fsync(fd),
    )
    atomic_write(tmp_path / "f.bin", b"data")
    assert synced == [False, True]  # the file, then its directory


def test_stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".model.safetensors.tmp-{dead.stdout.strip()}"
    live = tmp_path / f".config.json.tmp-{os.getpid()}"
    for path in (stale, live, tmp_path / "keep.txt"):
        path.write_bytes(b"x")
    assert checkpoint.remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "keep.txt"])


def test_a_locked_directory_refuses_a_second_lock_until_released(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_AND_WAIT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match="in use by another rnnlab run"):
            checkpoint.lock_directory(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    checkpoint.unlock_directory(checkpoint.lock_directory(tmp_path))  # the lock died with it


LOCK_AND_WAIT = """
import sys, time
from rnnlab.checkpoint import lock_directory
lock_directory(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


def test_json_that_is_too_deep_or_too_large_is_refused(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested"):
        read_json(tmp_path / "config.json")
    (tmp_path / "config.json").write_text(
        json.dumps({"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})
    )
    with pytest.raises(ValueError, match="nested over 32 levels"):
        read_json(tmp_path / "config.json")
    monkeypatch.setattr(checkpoint, "MAX_JSON_BYTES", 10)
    (tmp_path / "config.json").write_text(json.dumps({"a": "long enough"}))
    with pytest.raises(ValueError, match="too large"):
        read_json(tmp_path / "config.json")


def test_a_write_never_replaces_a_device_or_a_pipe(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(ValueError, match="not a regular file"):
        atomic_write(pipe, b"data")
    assert os.path.exists(pipe) and not os.path.isfile(pipe)
