"""``rnnlab tune`` and ``rnnlab train --recipe``: a three-trial study on a tiny text whose recipe
reproduces its best trial, that continues after Ctrl-C and after a killed process, that prunes
when told to, and that refuses a bad search space or a changed search in one line; a recipe's
settings are checked like the options and the options override them."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import optuna
import pytest
import yaml

from conftest import one_error_line
from rnnlab.checkpoint import CONFIG
from rnnlab.cli import main
from rnnlab.tasks.language import TrainSettings
from rnnlab.tasks.language.tuning import RECIPE, STUDY, TRIALS, search_space
from rnnlab.training.loop import Diverged, Loop

FIXTURES = Path(__file__).parent / "fixtures" / "v0"
SMALL = ["--embedding", "6", "--batch-size", "4", "--evals", "3", "--warmup", "5"]
SPACE = {
    "hidden": [8, 12],
    "dropout": {"low": 0.0, "high": 0.3},
    "lr": {"low": 1e-3, "high": 1e-2, "log": True},
    "locked_dropout": [False, True],
    "seq_len": {"low": 4, "high": 8},
}


@pytest.fixture
def text(tmp_path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text((FIXTURES / "text.txt").read_text() * 4)
    return path


@pytest.fixture
def space(tmp_path) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    return path


def tune(text: Path, space: Path, out: Path, *extra: str) -> int:
    return main(
        ["tune", "--text", str(text), "--budget", "600", "--trial-budget", "1", "--space",
         str(space), "--out", str(out), *SMALL, *extra]
    )  # fmt: skip


def study(out: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / STUDY))
    )
    return optuna.load_study(study_name="rnnlab", storage=storage)


def test_a_three_trial_study_writes_a_recipe_that_reproduces_its_best_trial(
    text, space, tmp_path, capsys
):
    assert tune(text, space, tmp_path / "s", "--trials", "3") == 0
    out = capsys.readouterr().out
    trials = study(tmp_path / "s").trials
    assert len(trials) == 3
    first = trials[0].params  # the built-in sizing where the space holds it: its seq_len 64 not
    assert first["dropout"] == 0.0 and first["lr"] == 0.008 and first["locked_dropout"] is False
    assert "seq_len" not in first or 4 <= first["seq_len"] <= 8
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(complete, key=lambda t: t.value)
    recipe = yaml.safe_load((tmp_path / "s" / RECIPE).read_text())
    assert recipe == best.user_attrs["settings"]
    assert recipe["budget"] == 1.0 and recipe["embedding_size"] == 6
    assert recipe["hidden_size"] == best.params["hidden_size"]
    assert f"best: trial {best.number}, validation {best.value:.4f}" in out
    # only the best trial's checkpoint is kept
    assert [p.name for p in (tmp_path / "s" / TRIALS).iterdir()] == [str(best.number)]

    # the printed command line and the recipe both train with the best trial's settings
    command = next(line for line in out.splitlines() if line.startswith("rnnlab train"))
    words = command.split()[1:]
    assert words[words.index("--text") + 1] == str(text)
    words[words.index("--out") + 1] = str(tmp_path / "by-command")
    assert main([*words, "--sample-length", "0"]) == 0
    assert main(["train", "--text", str(text), "--recipe", str(tmp_path / "s" / RECIPE),
                 "--sample-length", "0", "--out", str(tmp_path / "by-recipe")]) == 0  # fmt: skip
    trained = json.loads((tmp_path / "s" / TRIALS / str(best.number) / CONFIG).read_text())
    for name in ("by-command", "by-recipe"):
        config = json.loads((tmp_path / name / CONFIG).read_text())
        assert config["training"] == trained["training"]
        assert config["model"] == trained["model"]


def test_a_study_continues_after_ctrl_c_with_the_interrupted_settings(
    text, space, tmp_path, monkeypatch, capsys
):
    original, calls = Loop._train_step, {"n": 0}

    def train_step(self, batch, start):
        value = original(self, batch, start)
        calls["n"] += 1
        if self.step == 3 and len(study(tmp_path / "s").trials) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # in the second trial
        return value

    with monkeypatch.context() as patch:
        patch.setattr(Loop, "_train_step", train_step)
        assert tune(text, space, tmp_path / "s", "--trials", "3") == 130
    assert "stopped; run the same command again" in capsys.readouterr().out
    trials = study(tmp_path / "s").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "WAITING"]
    interrupted = trials[1].params

    assert tune(text, space, tmp_path / "s", "--trials", "2") == 0
    trials = study(tmp_path / "s").trials
    assert len(trials) == 4 and trials[2].params == interrupted  # tried again, first
    assert trials[2].state.name in ("COMPLETE", "PRUNED")
    assert (tmp_path / "s" / RECIPE).is_file()


def test_a_trial_left_running_by_a_killed_process_is_run_again(text, space, tmp_path, capsys):
    assert tune(text, space, tmp_path / "s", "--trials", "1") == 0
    left = study(tmp_path / "s").ask()  # as a process killed inside its trial leaves it
    left.suggest_categorical("hidden_size", [8, 12])
    left.suggest_float("dropout", 0.0, 0.3)
    params = dict(left.params)
    capsys.readouterr()
    assert tune(text, space, tmp_path / "s", "--trials", "1") == 0
    assert f"trial {left.number} did not finish" in capsys.readouterr().out
    trials = study(tmp_path / "s").trials
    assert trials[left.number].state.name == "FAIL"
    assert {k: trials[-1].params[k] for k in params} == params


def test_a_trial_the_pruner_stops_ends_early_as_pruned(text, space, tmp_path, monkeypatch):
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: True)
    assert tune(text, space, tmp_path / "s", "--trials", "1") == 0
    (trial,) = study(tmp_path / "s").trials
    assert trial.state.name == "PRUNED"
    assert list(trial.intermediate_values) == [1]  # stopped at its first validation
    assert not (tmp_path / "s" / RECIPE).exists()  # nothing finished to recommend


@pytest.mark.parametrize(
    "values, message",
    [
        ({"hiden": [8]}, "unknown setting 'hiden'"),
        ({"hidden": []}, "hidden: no choices"),
        ({"hidden": [8, 0]}, "hidden must be an integer in 1"),
        ({"dropout": {"low": 0.3, "high": 0.1}}, "low must be below high"),
        ({"dropout": {"low": 0.0, "high": 1.5}}, "dropout must be in \\[0, 1\\)"),
        ({"lr": {"low": 0.001}}, "expected a list of choices or"),
        ({"lr": {"low": 0.001, "high": 0.01, "step": 2}}, "expected a list of choices or"),
        ({"lr": {"low": 0.001, "high": 0.01, "log": "yes"}}, "log must be true or false"),
        ({"cell": {"low": 1, "high": 2}}, "cell: not a number"),
        ({"locked_dropout": {"low": 0, "high": 1}}, "not a number"),
        ({"budget": [60, 300]}, "the search's own"),
        ([1, 2], "expected a mapping of settings"),
        ("lr: [", "is not YAML"),
    ],
)
def test_a_bad_search_space_is_refused_in_one_line(text, tmp_path, capsys, values, message):
    path = tmp_path / "space.yaml"
    path.write_text(values if isinstance(values, str) else yaml.safe_dump(values))
    assert tune(text, path, tmp_path / "s") == 2
    one_error_line(capsys, message)
    assert not (tmp_path / "s" / STUDY).exists()


def test_fixed_settings_leave_the_space_and_a_changed_search_is_refused(
    text, space, tmp_path, capsys
):
    names = [d.name for d in search_space(SPACE, {"dropout": 0.1})]
    assert names == ["hidden_size", "lr", "locked_dropout", "seq_len"]
    assert tune(text, space, tmp_path / "s", "--trials", "1", "--dropout", "0.1") == 0
    assert study(tmp_path / "s").trials[0].user_attrs["settings"]["dropout"] == 0.1
    capsys.readouterr()
    assert tune(text, space, tmp_path / "s", "--trials", "1", "--dropout", "0.2") == 2
    one_error_line(capsys, "searched with another fixed")


def _recipe(tmp_path, values) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(values if isinstance(values, str) else yaml.safe_dump(values))
    return path


def test_a_recipe_sets_what_the_options_do_not(text, tmp_path):
    recipe = _recipe(tmp_path, {"hidden": 10, "dropout": 0.1, "epochs": 1, "ema": 0.9})
    assert main(["train", "--text", str(text), "--recipe", str(recipe), "--dropout", "0.2",
                 *SMALL, "--sample-length", "0", "--out", str(tmp_path / "m")]) == 0  # fmt: skip
    config = json.loads((tmp_path / "m" / CONFIG).read_text())
    assert config["model"]["hidden_size"] == 10
    assert config["model"]["dropout"] == 0.2  # the option overrides the recipe
    assert config["training"]["ema"] == 0.9 and config["training"]["epochs"] == 1


@pytest.mark.parametrize(
    "values, message",
    [
        ({"hiden": 10}, "recipe .*: unknown setting 'hiden'"),
        ({"dropout": 1.5}, "dropout must be in \\[0, 1\\), got 1.5"),
        ({"hidden": "big"}, "hidden must be an integer in 1"),
        ({"hidden": 8, "hidden_size": 9}, "hidden_size is set twice"),
        ({"cell": "transistor"}, "cell must be one of"),
        ("- hidden", "a recipe maps settings to values"),
        ("hidden: [", "is not YAML"),
        ("!!python/object/apply:os.system ['echo hacked']", "is not YAML"),
    ],
)
def test_a_bad_recipe_is_refused_in_one_line(text, tmp_path, capsys, values, message):
    recipe = _recipe(tmp_path, values)
    assert main(["train", "--text", str(text), "--recipe", str(recipe),
                 "--out", str(tmp_path / "m")]) == 2  # fmt: skip
    one_error_line(capsys, message)
    assert not (tmp_path / "m").exists()


def test_a_missing_recipe_is_refused_in_one_line(text, tmp_path, capsys):
    assert main(["train", "--text", str(text), "--recipe", str(tmp_path / "none.yaml"),
                 "--out", str(tmp_path / "m")]) == 2  # fmt: skip
    one_error_line(capsys, "cannot read the recipe")


def test_recipe_names_are_the_fields_or_the_options():
    assert TrainSettings.recipe({"hidden": 8, "weight-drop": 0.1, "seq_len": 4}, "here") == {
        "hidden_size": 8,
        "weight_drop": 0.1,
        "seq_len": 4,
    }


def test_a_diverged_trial_fails_and_the_search_goes_on(text, space, tmp_path, monkeypatch, capsys):
    original = Loop._train_step

    def train_step(self, batch, start):
        if len(study(tmp_path / "s").trials) == 1:  # the first trial
            raise Diverged("loss is nan at step 1: training diverged", 1)
        return original(self, batch, start)

    monkeypatch.setattr(Loop, "_train_step", train_step)
    assert tune(text, space, tmp_path / "s", "--trials", "2") == 0
    assert "trial 0: failed: loss is nan" in capsys.readouterr().out
    assert [t.state.name for t in study(tmp_path / "s").trials] == ["FAIL", "COMPLETE"]


def test_a_text_without_a_validation_part_is_refused(text, space, tmp_path, capsys):
    assert tune(text, space, tmp_path / "s", "--val-fraction", "0") == 2
    one_error_line(capsys, "no validation part to tune on")
