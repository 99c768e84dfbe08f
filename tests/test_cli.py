"""The command line: train, generate, evaluate, demo, each bad input, and the README's commands."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import one_error_line
from rnnlab import LanguageModel
from rnnlab.checkpoint import TRAINER_STATE, read_tensors
from rnnlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
TEXT = "".join(f"{i} little pigs went to market, said the wolf.\n" for i in range(300))
MODEL = ["--hidden", "16", "--layers", "1", "--embedding", "8", "--seq-len", "16"]
SMALL = [*MODEL, "--batch-size", "4", "--epochs", "1", "--evals", "2", "--sample-length", "20"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small trained checkpoint in ``ck``, and what training printed in ``train.out``."""
    root = tmp_path_factory.mktemp("cli")
    (root / "text.txt").write_text(TEXT)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["train", "--text", str(root / "text.txt"), "--out", str(root / "ck"), *SMALL])
    assert code == 0
    (root / "train.out").write_text(printed.getvalue())
    return root


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("demo", "train", "generate", "evaluate"))


def test_console_script_and_module_entry_points_run():
    script = Path(sys.executable).with_name("rnnlab")
    for command in ([str(script), "--help"], [sys.executable, "-m", "rnnlab", "--help"]):
        if command[0] == str(script) and not script.exists():
            continue  # the package was not installed with its console script
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "generate" in done.stdout


def test_train_writes_a_checkpoint_and_prints_a_sample(trained, capsys):
    files = {p.name for p in (trained / "ck").iterdir()}
    assert {"config.json", "model.safetensors", "trainer_state.safetensors"} <= files
    assert not any(name.startswith(".") for name in files)  # no temporaries left
    printed = (trained / "train.out").read_text()
    sample = printed.split("--- sample (temperature 0.8) ---\n", 1)[1]
    assert sample.startswith("\n")  # the default prime, a newline
    generated = sample[1:].removesuffix("\n")
    assert len(generated) == 20 and set(generated) <= set(TEXT)  # --sample-length 20


def test_generate_streams_the_prime_and_the_continuation(trained, capsys):
    args = ["generate", str(trained / "ck"), "--prime", "3 little", "--length", "30"]
    assert main([*args, "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("3 little") and len(first) == len("3 little") + 30 + 1
    assert main([*args, "--seed", "1"]) == 0
    assert capsys.readouterr().out == first
    assert main([*args, "--top-k", "3", "--top-p", "0.9", "--temperature", "0.5"]) == 0
    capsys.readouterr()
    greedy = []
    for seed in ("1", "2"):
        assert main([*args, "--greedy", "--seed", seed]) == 0
        greedy.append(capsys.readouterr().out)
    assert greedy[0] == greedy[1] and greedy[0].startswith("3 little")  # no draw involved
    assert main([*args, "--streams", "3", "--seed", "1", "--precision", "float32"]) == 0
    out = capsys.readouterr().out
    samples = out.split("--- sample ")[1:]
    assert len(samples) == 3 and all(s.split("\n", 1)[1].startswith("3 little") for s in samples)


def test_train_prints_its_speed_settings_and_sizes_a_budgeted_model(tmp_path, capsys):
    (tmp_path / "t.txt").write_text(TEXT)
    args = ["train", "--text", str(tmp_path / "t.txt"), "--layers", "1", "--batch-size", "4"]
    args += ["--seq-len", "8", "--evals", "1", "--sample-length", "0", "--precision", "float32"]
    assert main([*args, "--out", str(tmp_path / "a"), "--budget", "1", "--dropout", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "speed: cpu" in out and "float32" in out and "fused lstm kernel" in out
    assert (
        "sized for a 1 s budget: hidden 256, lr 0.008, ema 0.999 (--hidden, --lr, --ema to " in out
    )
    config = LanguageModel.from_pretrained(tmp_path / "a").config()
    assert config["model"]["hidden_size"] == 256 and config["model"]["dropout"] == 0.1
    assert main([*args, "--out", str(tmp_path / "b"), "--epochs", "1", "--hidden", "8"]) == 0
    assert "sized for" not in capsys.readouterr().out


def test_evaluate_prints_nats_and_bits_per_char(trained, capsys):
    assert main(["evaluate", str(trained / "ck"), "--text", str(trained / "text.txt")]) == 0
    out = capsys.readouterr().out
    nats, bits = map(float, re.search(r"([\d.]+) nats/char, ([\d.]+) bits/char", out).groups())
    assert bits == pytest.approx(nats / 0.693147, rel=1e-3)


def test_refusing_a_finished_run_removes_what_its_dead_writer_left(trained, tmp_path, capsys):
    """A finished run killed inside its last write (between the temporary file and its rename)
    leaves that file; the refused resume removes it, and a live writer's file stays."""
    ck = tmp_path / "ck"
    shutil.copytree(trained / "ck", ck)
    code = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    stale = ck / f".config.json.tmp-{int(dead.stdout)}"  # a writer that is gone
    live = ck / f".config.json.tmp-{os.getpid()}"  # this process: alive
    stale.write_text("{}")
    live.write_text("{}")
    assert main(["train", "--resume", str(ck), "--sample-length", "0"]) == 2
    one_error_line(capsys, "is finished")
    assert not stale.exists() and live.exists()


def test_resume_refuses_a_finished_run_and_changed_settings(trained, capsys):
    ck = trained / "ck"
    steps = read_tensors(ck / TRAINER_STATE)[1]["step"]
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    assert main(["train", "--resume", str(ck), "--sample-length", "0"]) == 2
    one_error_line(capsys, f"is finished \\({steps} steps\\); there is nothing to resume")
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before
    assert main(["train", "--resume", str(ck), "--hidden", "32"]) == 2
    one_error_line(capsys, "--hidden differs")
    other = trained / "other.txt"
    other.write_text(TEXT.upper())
    assert main(["train", "--resume", str(ck), "--text", str(other)]) == 2
    one_error_line(capsys, "differs from the one")


def test_byte_and_word_levels_train_and_generate(tmp_path, capsys):
    (tmp_path / "t.txt").write_text(TEXT)
    for level in ("byte", "word"):
        out = tmp_path / level
        args = ["train", "--text", str(tmp_path / "t.txt"), "--out", str(out), "--level", level]
        assert main([*args, *SMALL]) == 0
        assert LanguageModel.from_pretrained(out).vocab.level == level
        assert main(["generate", str(out), "--prime", "7 little", "--length", "5"]) == 0
    assert main(["evaluate", str(tmp_path / "word"), "--text", str(tmp_path / "t.txt")]) == 0
    assert "nats/word" in capsys.readouterr().out


def test_demo_on_a_text_file_prints_samples_before_and_after(tmp_path, capsys):
    (tmp_path / "t.txt").write_text(TEXT * 3)
    assert main(["demo", "--text", str(tmp_path / "t.txt"), "--budget", "3"]) == 0
    out = capsys.readouterr().out
    assert "sample before training" in out and "sample after training" in out
    assert re.search(r"validation loss [\d.]+ nats/char .* unigram entropy [\d.]+", out)


def test_readme_commands_are_the_makefile_targets_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make demo" in readme and "make test" in readme
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert re.search(r"^make test$", ci, re.M)


def test_ctrl_c_saves_and_resume_finishes_the_run(tmp_path, capsys):
    (tmp_path / "t.txt").write_text(TEXT)
    out = tmp_path / "ck"
    args = [*MODEL, "--batch-size", "4", "--epochs", "20", "--evals", "20", "--sample-length", "0"]
    command = [sys.executable, "-m", "rnnlab", "train", "--text", str(tmp_path / "t.txt")]
    process = subprocess.Popen(
        [*command, "--out", str(out), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    while "nats/char" not in (line := process.stdout.readline()):  # a validation is done
        assert line, process.stderr.read()
    process.send_signal(signal.SIGINT)
    out_text, err_text = process.communicate(timeout=120)
    assert process.returncode == 130, err_text
    assert f"continue with: rnnlab train --resume {out}" in out_text
    assert main(["train", "--resume", str(out), "--sample-length", "0"]) == 0
    resumed = capsys.readouterr().out
    assert re.search(r"resuming .* at step [1-9]", resumed)
    assert "(20.00 epochs)" in resumed
