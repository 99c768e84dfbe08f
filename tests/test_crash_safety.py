"""A training run killed (SIGKILL) at any moment leaves a directory that is usable afterwards.

Runs of ``rnnlab train`` are killed at seeded random moments (while Python starts, while the run
claims its directory, while it trains or writes), and inside chosen file writes for certain:
``killed_writer.py`` kills the run in its N-th write, between the complete temporary file and its
rename. After each kill the directory must hold a loadable checkpoint, a resumable run or no run
at all. ``--resume`` (where a trainer state was saved) or a fresh run into the same directory
must then finish, and it must leave no temporary files behind.
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

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "v0"
TRIALS = 12
#: the writes killed inside: the claim's config, the first trainer state, the first weights, the
#: config they update, a later trainer state and a later weights file
KILLED_WRITES = (1, 2, 3, 4, 8, 12)
RUN = ["--hidden", "8", "--embedding", "4", "--seq-len", "8", "--batch-size", "8", "--epochs", "1"]
RUN += ["--evals", "10", "--sample-length", "0"]
STARTING = 0.4  # a delay below this kills before the run prints its first line


def kill_in_write(text: Path, out: Path, write: int) -> set[str]:
    """Run ``rnnlab train`` until it is killed inside its ``write``-th file write; the file names
    in ``out`` then."""
    train = ["train", "--text", str(text), "--out", str(out), *RUN]
    done = subprocess.run(
        [sys.executable, str(HERE / "killed_writer.py"), str(write), *train],
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    return {p.name for p in out.iterdir()} if out.is_dir() else set()


def kill_run(text: Path, out: Path, delay: float) -> set[str]:
    """Start ``rnnlab train``, kill it ``delay`` seconds after its first line (or, for a delay
    under STARTING, that long after it starts), and return the file names in ``out`` then."""
    command = [sys.executable, "-m", "rnnlab", "train", "--text", str(text), "--out", str(out)]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
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


def quietly(args: list[str]) -> tuple[int, str]:
    """``main(args)``'s exit status and what it wrote to stderr."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        return main(args), err.getvalue()


def test_a_run_killed_at_any_moment_leaves_a_usable_directory(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text((FIXTURES / "text.txt").read_text() * 6)
    rng = random.Random(3)  # some of the moments fall before the run's first line
    delays = [rng.uniform(0.0, 2.6) for _ in range(TRIALS)]
    outs = [tmp_path / f"run{i}" for i in range(TRIALS)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        at_kill = list(pool.map(lambda job: kill_run(text, *job), zip(outs, delays, strict=True)))
    for out, names, delay in zip(outs, at_kill, delays, strict=True):
        usable_after(text, out, names, delay)


def test_a_run_killed_inside_a_write_leaves_a_usable_directory(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text((FIXTURES / "text.txt").read_text() * 6)
    outs = [tmp_path / f"write{n}" for n in KILLED_WRITES]
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = zip(outs, KILLED_WRITES, strict=True)
        at_kill = list(pool.map(lambda job: kill_in_write(text, *job), jobs))
    for out, names, write in zip(outs, at_kill, KILLED_WRITES, strict=True):
        assert any(TEMPORARY.fullmatch(name) for name in names), (write, names)  # inside it
        usable_after(text, out, names, write)


def usable_after(text: Path, out: Path, names: set[str], when) -> None:
    """What a killed run left in ``out`` (``names``) is usable: its checkpoint loads, its run
    resumes, or a fresh run takes the directory; afterwards no temporary file is left."""
    if WEIGHTS in names:  # a checkpoint was saved: it loads
        LanguageModel.from_pretrained(out)
    if TRAINER_STATE in names:  # a run can continue: it does (or it had finished: it says so)
        status, err = quietly(["train", "--resume", str(out)])
        assert status == 0 or (status == 2 and "is finished" in err), (when, names, err)
    else:  # no run at all (at most a config): a fresh one takes the directory
        assert not names & {WEIGHTS}, (when, names)
        fresh = ["train", "--text", str(text), "--out", str(out), *RUN]
        assert quietly(fresh)[0] == 0, (when, names)
    after = {p.name for p in out.iterdir()}
    assert after == {CONFIG, WEIGHTS, TRAINER_STATE}, (when, names, after)
    LanguageModel.from_pretrained(out)
