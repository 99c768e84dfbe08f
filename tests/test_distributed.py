"""Training across processes: two local ranks (torchrun, gloo, loopback) against one process.

The language model's ranks must hold identical parameters after every step and follow the
one-process loss curve over the same global streams; a budget that runs out on one rank, or a
stop asked for by one rank, must end both at the same step; a run saved by two ranks must resume
in one; a classifier trained on two ranks must land in the accuracy band of one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distributed_worker import SETTINGS, TEXT, settings, trainer
from rnnlab.tasks.language import Trainer

HERE = Path(__file__).parent


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node 2 ARGS``, one thread per rank, loopback only."""
    env = os.environ | {
        "OMP_NUM_THREADS": "1",
        "MASTER_ADDR": "127.0.0.1",
        "GLOO_SOCKET_IFNAME": "lo",
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return subprocess.run(
        [*command, "--nproc_per_node", "2", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("ranks")
    done = torchrun(str(HERE / "distributed_worker.py"), str(out), cwd=out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_two_ranks_hold_identical_parameters_after_every_step(ranks):
    _, (first, second) = ranks
    assert first["world"] == second["world"] == 2
    assert len(first["steps"]) == len(second["steps"]) == 6
    assert [d for _, d in first["steps"]] == [d for _, d in second["steps"]]
    assert len({d for _, d in first["steps"]}) == 6  # and they changed at every step


def test_two_ranks_follow_the_one_process_loss_curve(ranks):
    _, (first, second) = ranks
    run = trainer(settings(epochs=1))
    run.total_steps = 6
    alone = run.fit().history
    assert [loss for loss, _ in first["steps"]] == [loss for loss, _ in second["steps"]]
    assert [loss for loss, _ in first["steps"]] == pytest.approx(alone, rel=1e-5)


def test_a_budget_that_runs_out_on_one_rank_stops_both_at_the_same_step(ranks):
    _, (first, second) = ranks
    assert first["budget"] == second["budget"]
    assert 0 < first["budget"] < 2000  # rank 0's own clock had 29 of its 30 s left


def test_a_stop_asked_by_one_rank_stops_both_and_resumes_in_one_process(ranks):
    out, (first, second) = ranks
    assert first["stop"] == second["stop"] == [4, True]  # asked after step 3, agreed at 4

    whole = trainer(settings(epochs=2)).fit().history
    resumed = trainer(settings(epochs=2), out / "stopped")
    resumed.load_state(out / "stopped")
    assert resumed.step == 4 and resumed.state is not None
    assert resumed.state[0].shape[1] == SETTINGS["batch_size"]  # both ranks' rows
    assert resumed.fit().history == pytest.approx(whole, rel=1e-4)


def test_a_one_process_checkpoint_resumes_on_two_ranks(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    run = trainer(settings(epochs=2), tmp_path / "run", on_step=_stop_at(3), source=str(text))
    assert run.fit().stopped
    done = torchrun(
        "-m",
        "rnnlab",
        "train",
        "--resume",
        str(tmp_path / "run"),
        "--sample-length",
        "0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "resuming" in done.stdout
        and "world size 2 (gloo); 4 streams per rank, 8 in all" in done.stdout
    )
    assert done.stdout.count("trained ") == 1  # rank 1 prints nothing
    state = json.loads((tmp_path / "run" / "config.json").read_text())
    assert state["training"]["batch_size"] == 8


def _stop_at(step: int):
    def stop(t: Trainer, at: int, loss: float) -> None:
        if at == step:
            t.request_stop()

    return stop


def test_a_classifier_on_two_ranks_reaches_the_accuracy_of_one(tmp_path):
    generator = torch.Generator().manual_seed(0)
    folder = tmp_path / "data"
    folder.mkdir()
    for label, letter in (("more_a", "a"), ("more_b", "b")):
        lines = []
        for _ in range(150):
            n = int(torch.randint(6, 16, (1,), generator=generator))
            letters = ["c"] * n
            for i in torch.randperm(n, generator=generator)[: n // 2 + 2].tolist():
                letters[i] = letter
            other = "b" if letter == "a" else "a"
            for i in range(n):
                if letters[i] == "c" and torch.rand(1, generator=generator) < 0.3:
                    letters[i] = other
            lines.append("".join(letters))
        (folder / f"{label}.txt").write_text("\n".join(lines) + "\n")
    options = ["--hidden", "24", "--embedding", "8", "--epochs", "8", "--batch-size", "16"]
    accuracy = {}
    for ranks in (1, 2):
        out = tmp_path / f"ranks{ranks}"
        command = ["classify", "train", "--data", str(folder), "--out", str(out), *options]
        if ranks == 1:
            done = subprocess.run(
                [sys.executable, "-m", "rnnlab", *command],
                capture_output=True,
                text=True,
                timeout=300,
            )
        else:
            done = torchrun("-m", "rnnlab", *command, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        accuracy[ranks] = json.loads((out / "report.json").read_text())["final"]["accuracy"]
    assert accuracy[1] > 0.85 and accuracy[2] > 0.85, accuracy
    assert abs(accuracy[1] - accuracy[2]) < 0.08, accuracy
