"""Every training command is a first-class run: SIGINT mid-run saves, ``--resume`` continues, and
the resumed run ends with the weights an uninterrupted run with the same seed ends with, bit for
bit (on the CPU). Also the refusals of ``--resume``: a finished run, another task's directory, a
tampered trainer state."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import one_error_line
from rnnlab.checkpoint import TRAINER_STATE, WEIGHTS, read_tensors, write_tensors
from rnnlab.cli import main
from rnnlab.training.loop import Loop

FIXTURES = Path(__file__).parent / "fixtures" / "v0"
STOP_AT = 7  # the step after which SIGINT arrives: in the middle of the second pass or later
TALK = "".join(
    f"A: hello number {i}\nB: hi there {i}\nA: how are you {i % 3}\nB: fine thanks {i % 2}\n\n"
    for i in range(12)
)


def _speech_data(root: Path) -> Path:
    from rnnlab.tasks.speech import write_wav

    rows = ["path,transcript,voice"]
    for i, text in enumerate(["abc", "ab", "ba", "cab", "ca", "bc", "ac", "cb"] * 2):
        samples = (np.sin(np.arange(6000) / (2 + i % 5)) * 0.4).astype(np.float32)
        write_wav(root / f"u{i}.wav", samples, 16000)
        rows.append(f"{root / f'u{i}.wav'},{text},v{i % 4}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def _text(root: Path) -> Path:
    (root / "text.txt").write_text((FIXTURES / "text.txt").read_text() * 6)
    return root / "text.txt"


def _talk(root: Path) -> Path:
    (root / "talk.txt").write_text(TALK)
    return root / "talk.txt"


def _series(root: Path) -> Path:
    """Twelve series of 2 channels, 4 to 9 steps, one row per step (a long CSV)."""
    rng = np.random.default_rng(0)
    rows = ["id,x,y,label"]
    for k in range(12):
        for t in range(4 + k % 6):
            rows.append(f"s{k},{rng.normal(k % 2, 1):.5f},{t * (1 if k % 2 else -1)},{'ab'[k % 2]}")
    (root / "series.csv").write_text("\n".join(rows) + "\n")
    return root / "series.csv"


#: task -> (the train command's words, its data options, small settings)
TASKS = {
    "language": (
        ["train"],
        lambda root: ["--text", str(_text(root))],
        "--hidden 12 --embedding 6 --seq-len 8 --batch-size 4 --epochs 2 --evals 3 "
        "--dropout 0.2 --sample-length 0",
    ),
    "language-regularised": (  # its masks and its average continue exactly
        ["train"],
        lambda root: ["--text", str(_text(root))],
        "--hidden 12 --embedding 6 --seq-len 8 --batch-size 4 --epochs 2 --evals 3 "
        "--layers 2 --dropout 0.2 --locked-dropout --input-dropout 0.1 --embedding-dropout 0.1 "
        "--weight-drop 0.1 --ema 0.9 --sample-length 0",
    ),
    "classify": (
        ["classify", "train"],
        lambda root: ["--data", str(FIXTURES / "names.csv")],
        "--hidden 8 --embedding 6 --batch-size 4 --epochs 3",
    ),
    "classify-series": (  # augmented: the draws must be the same again after a resume
        ["classify", "train"],
        lambda root: ["--data", str(_series(root)), "--id-column", "id"],
        "--hidden 8 --batch-size 2 --epochs 3 --augment-jitter 0.1 --augment-warp 0.3 "
        "--augment-slice 0.8",
    ),
    "translate": (
        ["translate", "train"],
        lambda root: ["--pairs", str(FIXTURES / "pairs.tsv")],
        "--hidden 8 --embedding 6 --batch-size 4 --epochs 3 --beam 2 --teacher-forcing 0.7",
    ),
    "chat": (
        ["chat", "train"],
        lambda root: ["--dialogues", str(_talk(root))],
        "--hidden 8 --embedding 6 --batch-size 4 --epochs 2 --unconditional 0.3",
    ),
    "speech": (
        ["speech", "train"],
        lambda root: ["--data", str(_speech_data(root))],
        "--hidden 8 --layers 1 --n-mels 8 --batch-size 3 --epochs 3",
    ),
    "conditional": (
        ["generate-from-label", "train"],
        lambda root: ["--data", str(FIXTURES / "names.csv")],
        "--hidden 8 --embedding 6 --batch-size 4 --epochs 3 --samples 3",
    ),
    "forecast": (
        ["forecast", "train"],
        lambda root: ["--csv", str(FIXTURES / "series.csv"), "--target", "y"],
        "--hidden 8 --batch-size 8 --epochs 6 --horizon 4 --window 8 --dropout 0.2",
    ),
    "forecast-averaged": (  # the average and the best weights kept in memory (RESTORE_BEST)
        ["forecast", "train"],
        lambda root: ["--csv", str(FIXTURES / "series.csv"), "--target", "y"],
        "--hidden 8 --batch-size 8 --epochs 6 --horizon 4 --window 8 --ema 0.8",
    ),
}


def _interrupt_after(monkeypatch, step: int) -> None:
    """SIGINT to this process right after training step ``step``, as a Ctrl-C would land."""
    original = Loop._train_step

    def train_step(self, batch, start):
        value = original(self, batch, start)
        if self.step == step:
            os.kill(os.getpid(), signal.SIGINT)
        return value

    monkeypatch.setattr(Loop, "_train_step", train_step)


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return read_tensors(directory / WEIGHTS)[0]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.mark.parametrize("task", list(TASKS))
def test_sigint_then_resume_ends_with_the_uninterrupted_weights(
    task, data_root, tmp_path, monkeypatch, capsys
):
    words, data, small = TASKS[task]
    root = data_root / task
    root.mkdir(exist_ok=True)
    command = [*words, *data(root), *small.split()]
    assert main([*command, "--out", str(tmp_path / "full")]) == 0
    full_state = read_tensors(tmp_path / "full" / TRAINER_STATE)[1]
    assert full_state["step"] > STOP_AT + 1  # the interruption lands mid-run

    with monkeypatch.context() as patch:
        _interrupt_after(patch, STOP_AT)
        assert main([*command, "--out", str(tmp_path / "split")]) == 130
    out = capsys.readouterr().out
    assert f"stopped at step {STOP_AT}; continue with: rnnlab {' '.join(words)} --resume" in out
    assert read_tensors(tmp_path / "split" / TRAINER_STATE)[1]["step"] == STOP_AT

    resume = [*words, "--resume", str(tmp_path / "split")]
    if task.startswith("language"):
        resume += ["--sample-length", "0"]
    assert main(resume) == 0
    assert f"resuming {tmp_path / 'split'} at step {STOP_AT}" in capsys.readouterr().out
    split_state = read_tensors(tmp_path / "split" / TRAINER_STATE)[1]
    assert split_state["step"] == full_state["step"]
    assert split_state["history"] == full_state["history"]  # every step's loss, exactly
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "split")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed run's weights differ"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished classifier run."""
    root = tmp_path_factory.mktemp("finished")
    words, data, small = TASKS["classify"]
    assert main([*words, *data(root), *small.split(), "--out", str(root / "clf")]) == 0
    return root / "clf"


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_resume_of_a_finished_run_is_refused_untouched(finished, capsys):
    before = _files(finished)
    assert main(["classify", "train", "--resume", str(finished)]) == 2
    one_error_line(capsys, "is finished .* nothing to resume")
    assert _files(finished) == before


def test_resume_of_another_tasks_directory_is_refused(finished, capsys):
    before = _files(finished)
    assert main(["translate", "train", "--resume", str(finished)]) == 2
    one_error_line(capsys, "holds a rnnlab.sequence_classifier checkpoint, not a run of")
    assert main(["train", "--resume", str(finished)]) == 2
    one_error_line(capsys, "not a run of rnnlab train")
    assert _files(finished) == before


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t, m: m.__setitem__("order", {"rng": "not a state", "taken": 0}), "corrupt"),
        (lambda t, m: m.__setitem__("step", -3), "step must be a count"),
        (lambda t, m: t.__setitem__("rng", torch.zeros(3, dtype=torch.uint8)), "corrupt"),
    ],
)
def test_resume_of_a_tampered_state_is_refused_untouched(finished, tmp_path, capsys, edit, message):
    import shutil

    copy = tmp_path / "clf"
    shutil.copytree(finished, copy)
    tensors, meta = read_tensors(copy / TRAINER_STATE)
    meta["step"] = 1  # an unfinished run, so that only the tampering stops it
    edit(tensors, meta)
    write_tensors(copy / TRAINER_STATE, tensors, meta)
    before = _files(copy)
    assert main(["classify", "train", "--resume", str(copy)]) == 2
    one_error_line(capsys, message)
    assert _files(copy) == before


def test_every_task_writes_tensorboard_logs(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    words, data, small = TASKS["conditional"]
    logs = tmp_path / "logs"
    argv = [*words, *data(tmp_path), *small.split(), "--out", str(tmp_path / "g")]
    assert main([*argv, "--tensorboard", str(logs)]) == 0
    events = EventAccumulator(str(logs))
    events.Reload()
    losses = [e.value for e in events.Scalars("val/loss")]
    records = read_tensors(tmp_path / "g" / TRAINER_STATE)[1]["records"]
    assert losses == pytest.approx([r["loss"] for r in records])  # one point per epoch
