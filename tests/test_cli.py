"""The command line and the README's two commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.demo import echo_batch, run_demo

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_console_script_and_module_entry_points_run():
    script = Path(sys.executable).with_name("rnnlab")
    for command in ([str(script), "--help"], [sys.executable, "-m", "rnnlab", "--help"]):
        if command[0] == str(script) and not script.exists():
            continue  # the package was not installed with its console script
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "demo" in done.stdout


def test_echo_batch_targets_are_the_inputs_delayed():
    import torch

    x, y = echo_batch(4, 10, 5, 3, torch.Generator().manual_seed(0))
    assert torch.equal(y[:, 3:], x[:, :-3])
    assert torch.all(y[:, :3] == -100)


def test_demo_learns_the_echo_task():
    lines: list[str] = []
    result = run_demo(steps=80, seed=0, echo=lines.append, progress=False)
    assert result.steps == 80
    assert result.last_loss < 0.5 * result.first_loss
    assert result.accuracy > 3 * result.chance
    assert "echo accuracy" in lines[-1]


def test_demo_command_on_a_tiny_budget(capsys):
    assert main(["demo", "--steps", "20", "--budget", "30", "--cell", "gru"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"trained \d+ steps .* loss [\d.]+ -> [\d.]+", out)


def test_demo_bad_input_is_one_line_and_status_2(capsys):
    assert main(["demo", "--delay", "99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnlab: error: delay")
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--hidden", "0"])
    assert exit_info.value.code == 2


def test_readme_commands_are_the_makefile_targets_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make demo" in readme and "make test" in readme
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert re.search(r"^make test$", ci, re.M)
