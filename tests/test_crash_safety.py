"""A training run killed (SIGKILL) at any moment leaves a directory that is usable afterwards.

Twenty runs of ``rnnlab train`` are killed at seeded random moments: while Python starts, while
the run claims its directory, while it trains, and while it writes checkpoint files (every write
pauses between the temporary file and its rename, ``RNNLAB_WRITE_PAUSE``, so that kills land
inside writes). After each kill the directory must hold a loadable checkpoint, a resumable run
or no run at all. ``--resume`` (where a trainer state was saved) or a fresh run into the same
directory must then finish, and it must leave no temporary files behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rnnlab import LanguageModel
from rnnlab.checkpoint import CONFIG, TEMPORARY, TRAINER_STATE, WEIGHTS
from rnnlab.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v0"
TRIALS = 20
RUN = ["--hidden", "8", "--embedding", "4", "--seq-len", "8", "--batch-size", "8", "--epochs", "1"]
RUN += ["--evals", "10", "--sample-length", "0"]
PAUSE = 0.05  # seconds inside each write, between the temporary file and the rename
STARTING = 0.4  # a delay below this kills before the run prints its first line


def kill_run(text: Path, out: Path, delay: float) -> set[str]:
    """Start ``rnnlab train``, kill it ``delay`` seconds after its first line (or, for a delay
    under STARTING, that long after it starts), and return the file names in ``out`` then."""
    command = [sys.executable, "-m", "rnnlab", "train", "--text", str(text), "--out", str(out)]
    env = os.environ | {"RNNLAB_WRITE_PAUSE": str(PAUSE), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*command, *RUN], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        if delay < STARTING:
            time.sleep(delay)
        else:
            process.stdout.readline()
            time.sleep(delay - STARTING)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
        process.stdout.close()
    return {p.name for p in out.iterdir()} if out.is_dir() else set()


def quietly(args: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(args)


def test_a_run_killed_at_any_moment_leaves_a_usable_directory(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text((FIXTURES / "text.txt").read_text() * 6)
    rng = random.Random(3)  # 3 of the 20 moments fall before the run's first line
    delays = [rng.uniform(0.0, 2.6) for _ in range(TRIALS)]
    outs = [tmp_path / f"run{i}" for i in range(TRIALS)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        at_kill = list(pool.map(lambda job: kill_run(text, *job), zip(outs, delays, strict=True)))
    inside_writes = 0
    for out, names, delay in zip(outs, at_kill, delays, strict=True):
        inside_writes += any(TEMPORARY.fullmatch(name) for name in names)
        if WEIGHTS in names:  # a checkpoint was saved: it loads
            LanguageModel.from_pretrained(out)
        if TRAINER_STATE in names:  # a run can continue: it does
            assert quietly(["train", "--resume", str(out)]) == 0, (delay, names)
        else:  # no run at all (at most a config): a fresh one takes the directory
            assert not names & {WEIGHTS}, (delay, names)
            assert quietly(["train", "--text", str(text), "--out", str(out), *RUN]) == 0, (
                delay,
                names,
            )
        after = {p.name for p in out.iterdir()}
        assert after == {CONFIG, WEIGHTS, TRAINER_STATE}, (delay, names, after)
        LanguageModel.from_pretrained(out)
    assert inside_writes >= 1  # the test did kill runs in the middle of a write
