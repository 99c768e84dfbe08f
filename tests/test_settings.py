"""The settings spine: one declaration per setting (check, flag, help), the same checks in Python
and on the command line, model arguments by the model's names, the recurrent description stored
once in config.json, and checkpoints written before that change still loading."""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import one_error_line
from rnnlab import ConditionalGenerator, Forecaster, LanguageModel, Seq2Seq, SequenceClassifier
from rnnlab.checkpoint import TRAINER_STATE, read_tensors, write_tensors
from rnnlab.cli import main
from rnnlab.cli.options import add_settings, given
from rnnlab.settings import RecurrentSettings, RunSettings, task_settings
from rnnlab.tasks.classify import ClassifierSettings
from rnnlab.tasks.conditional import ConditionalSettings
from rnnlab.tasks.forecast import ForecastSettings
from rnnlab.tasks.language import TrainSettings
from rnnlab.tasks.translate import Seq2SeqSettings

#: Checkpoints written by rnnlab before the settings were stored once (commit f4d244f), one per
#: task: their config.json keeps the recurrent settings twice, under old names in "training".
OLD = Path(__file__).parent / "fixtures" / "v0"
TASKS = [
    ("language", LanguageModel, TrainSettings),
    ("classify", SequenceClassifier, ClassifierSettings),
    ("translate", Seq2Seq, Seq2SeqSettings),
    ("conditional", ConditionalGenerator, ConditionalSettings),
    ("forecast", Forecaster, ForecastSettings),
]


@pytest.mark.parametrize(("task", "model_class", "settings_class"), TASKS)
def test_a_checkpoint_of_the_old_shape_loads_with_its_settings(task, model_class, settings_class):
    config = json.loads((OLD / task / "config.json").read_text())
    assert "hidden" in config["training"]  # the old shape, under the old name
    model = model_class.from_pretrained(OLD / task)
    settings = settings_class.from_config(config)
    assert settings.hidden_size == config["training"]["hidden"] == model.settings["hidden_size"]
    assert settings.num_layers == config["training"]["layers"] == 1
    if "embedding" in config["training"]:
        assert settings.embedding_size == config["training"]["embedding"] == 4


def test_an_old_language_model_run_is_read_for_resuming(tmp_path, capsys):
    run = tmp_path / "language"
    shutil.copytree(OLD / "language", run)
    # settings, text and trainer state all read: the run is recognised as finished at step 34
    assert main(["train", "--resume", str(run), "--text", str(OLD / "text.txt")]) == 2
    one_error_line(capsys, r"is finished \(34 steps\); there is nothing to resume")
    tensors, meta = read_tensors(run / TRAINER_STATE)
    write_tensors(run / TRAINER_STATE, tensors, meta | {"step": 30})  # 4 steps to go
    assert main(["train", "--resume", str(run), "--text", str(OLD / "text.txt")]) == 0
    out = capsys.readouterr().out
    assert f"resuming {run} at step 30" in out and "trained 34 steps" in out


@pytest.mark.parametrize(("task", "model_class", "settings_class"), TASKS)
def test_a_new_config_stores_the_recurrent_description_once(task, model_class, settings_class):
    settings = settings_class(hidden_size=12, num_layers=2, dropout=0.1)
    stored = settings.to_config()
    recurrent = {"cell", "hidden_size", "num_layers", "bidirectional", "dropout", "init"}
    assert not recurrent & set(stored) and "forget_bias" not in stored
    model_part = {"hidden_size": 12, "num_layers": 2, "dropout": 0.1, "cell": "lstm"}
    back = settings_class.from_config({"training": stored, "model": model_part})
    assert (back.hidden_size, back.num_layers, back.dropout) == (12, 2, 0.1)


def test_a_model_is_built_from_the_settings_by_its_own_argument_names():
    settings = ClassifierSettings(hidden_size=6, num_layers=2, pool="mean", embedding_size=None)
    args = settings.arguments(SequenceClassifier)
    assert args["hidden_size"] == 6 and args["num_layers"] == 2 and args["embedding_size"] is None
    assert "batch_size" not in args and "balance" not in args  # the run is not the model's
    assert "bidirectional" not in TrainSettings().arguments(LanguageModel)


@pytest.mark.parametrize(
    ("settings_class", "given_values", "message"),
    [
        (TrainSettings, {"hidden_size": 0}, "hidden_size must be an integer in 1..1048576, got 0"),
        (ClassifierSettings, {"cell": "tree"}, "cell must be one of"),
        (Seq2SeqSettings, {"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        (ForecastSettings, {"budget": float("inf")}, "budget must be a positive number"),
        (
            ConditionalSettings,
            {"lr": "abc"},
            r"lr must be a positive number \(float32\), got 'abc'",
        ),
        (TrainSettings, {"bidirectional": True}, "bidirectional does not apply"),
    ],
)
def test_a_bad_setting_is_refused_by_name(settings_class, given_values, message):
    with pytest.raises(ValueError, match=message):
        settings_class(**given_values)


def parser_for(settings_class) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_settings(parser, settings_class)
    return parser


def test_the_options_come_from_the_fields_and_apply_the_same_checks():
    parser = parser_for(TrainSettings)
    args = parser.parse_args(["--hidden", "32", "--one-hot", "--budget", "5"])
    assert given(args, TrainSettings) == {"hidden_size": 32, "embedding_size": None, "budget": 5.0}
    with pytest.raises(argparse.ArgumentError, match=r"must be an integer in 1\.\.1048576, got 0"):
        parser.parse_args(["--hidden", "0"])
    with pytest.raises(
        argparse.ArgumentError, match=r"must be a positive number \(float32\), got inf"
    ):
        parser.parse_args(["--budget", "inf"])
    classifier = parser_for(ClassifierSettings)
    assert given(classifier.parse_args(["--no-bidirectional"]), ClassifierSettings) == {
        "bidirectional": False
    }
    with pytest.raises(SystemExit):  # a language model has no --bidirectional
        parser.parse_args(["--bidirectional"])


def test_task_settings_change_defaults_but_keep_the_one_declaration():
    @task_settings(hidden_size=7, lr=0.5)
    class Small(RunSettings, RecurrentSettings):
        pass

    assert Small().hidden_size == 7 and Small().lr == 0.5 and Small().num_layers == 1
    assert Small.flag("hidden_size") == "--hidden"
    with pytest.raises(ValueError, match=r"hidden_size must be an integer in 1\.\.1048576"):
        Small(hidden_size=-1)
    with pytest.raises(TypeError, match="no inherited setting 'width'"):
        task_settings(width=3)(type("Bad", (RecurrentSettings,), {}))


def test_a_resumed_run_names_the_changed_option_by_its_flag(tmp_path, capsys):
    run = tmp_path / "language"
    shutil.copytree(OLD / "language", run)
    text = str(OLD / "text.txt")
    assert main(["train", "--resume", str(run), "--text", text, "--hidden", "9"]) == 2
    assert "--hidden differs from the run" in capsys.readouterr().err


def test_the_config_schema_does_not_depend_on_the_order_tasks_are_imported():
    """Two tasks declare embedding_size with the same check, one optional (a classifier reads
    one-hot inputs with None) and one not: both rules are kept whichever task is imported
    first. Before, importing the conditional generator first made every classifier config
    with None refused as malformed."""
    code = (
        "import rnnlab.tasks.conditional, rnnlab.tasks.classify\n"
        "from rnnlab.settings import check_section\n"
        "check_section({'embedding_size': None}, 'classifier')\n"
        "try:\n"
        "    check_section({'embedding_size': 0}, 'x')\n"
        "except ValueError:\n"
        "    print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "refused"
