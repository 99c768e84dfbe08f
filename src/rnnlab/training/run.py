"""One way to run a training command, for every task: new or resumed, stopped by Ctrl-C.

    a new run:     settings  <- task.recommended(given settings, data options)
    --resume DIR:  settings  <- the run's own (given settings may repeat them, not change them)
                   data      <- the run's own data options, any given ones replacing them; the
                                data read must be the data the run was trained on (its digest)
    trainer        <- task.trainer(settings, data options, out)     reads the data, prints
    resume         -> the trainer state restored (a finished run, another task's directory or a
                      state no run could have written are refused in one line)
    fit            under SIGINT/SIGTERM handlers that ask the loop to stop after the current
                   step and save (torchrun passes a Ctrl-C on as SIGTERM); a second Ctrl-C
                   interrupts at once
    print          the set-up lines; then the task's summary, or how to continue a stopped run

A task describes itself to the spine with a :class:`TrainingTask`; the command modules call
:func:`run_training` and print nothing of their own.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rnnlab.checkpoint import CONFIG, TRAINER_STATE, checkpoint_dir, read_json, tensor_shapes
from rnnlab.outputs import output_dir
from rnnlab.settings import Settings
from rnnlab.training.loop import Loop, RunResult


def _saved_options(record: dict) -> dict:
    options = record.get("options")
    return dict(options) if isinstance(options, dict) else {}


@dataclass(frozen=True)
class TrainingTask:
    """What the spine needs of a task to run its training command.

    Attributes:
        command: the words that run it (``classify train``), for the line that says how to
            continue a stopped run.
        settings: the task's settings class.
        trainer: ``trainer(settings, data_options, out, **loop_options)`` reads the data (its
            lines go to ``loop_options["echo"]``) and returns the task's :class:`Loop`.
        models: the model classes it trains (:class:`~rnnlab.pretrained.Pretrained`): a run
            of another task is refused, and a config that does not fit its trainer state.
        data_options: the names of the options that say which data to read and how.
        recommended: ``recommended(given, data_options)``, the settings of a new run (default:
            the settings class with ``given``).
        saved_options: the data options a checkpoint's ``data`` record holds.
    """

    command: str
    settings: type[Settings]
    trainer: Callable[..., Loop]
    models: tuple[type, ...]
    data_options: tuple[str, ...] = ()
    recommended: Callable[[dict, dict], Settings] | None = None
    saved_options: Callable[[dict], dict] = field(default=_saved_options)


def run_training(
    task: TrainingTask,
    given: dict,
    options: dict,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    *,
    tensorboard: str | Path | None = None,
    echo: Callable[[str], object] = print,
    progress: bool = False,
) -> tuple[Loop, RunResult]:
    """Run ``task``'s training as its command does (see the module docstring): ``given`` are
    the settings given by name, ``options`` the data options given. Returns the trainer and
    what the run did (``stopped`` when Ctrl-C stopped it; it can be resumed)."""
    record: dict = {}
    if resume is None:
        if out is None:
            raise ValueError(f"{task.command} needs --out DIR (or --resume DIR)")
        settings = task.recommended(given, options) if task.recommended else task.settings(**given)
    else:
        settings, record = _resumed(task, resume, given)
        options = task.saved_options(record) | options
        out = output_dir(out if out is not None else resume)  # before the data is read
    loop_options = {"echo": echo, "progress": progress, "tensorboard": tensorboard}
    trainer = task.trainer(settings, options, Path(out), **loop_options)
    trainer.data["options"] = {k: _absolute(v) for k, v in options.items()}  # for --resume
    if resume is not None:
        if trainer.data.get("sha256") != record.get("sha256"):
            raise ValueError(f"the data differs from the one the run in {resume} was trained on")
        trainer.load_state(resume)
        echo(f"resuming {resume} at step {trainer.step}")
    for line in trainer.setup_lines():
        echo(line)
    with stopping_on_signals(trainer):
        result = trainer.fit()
    if result.stopped:
        echo(f"stopped at step {result.steps}; continue with: rnnlab {task.command} --resume {out}")
    else:
        for line in trainer.summary_lines(result):
            echo(line)
    return trainer, result


def _resumed(task: TrainingTask, resume: str | Path, given: dict) -> tuple[Settings, dict]:
    """The settings and the data record of the run saved in ``resume``, checked to be a run of
    ``task`` that saved a trainer state, and not asked to change."""
    directory = checkpoint_dir(resume)
    config = read_json(directory / CONFIG)
    models = {model.FORMAT: model for model in task.models}
    kind = config.get("format")
    if not isinstance(kind, str) or kind not in models:
        raise ValueError(
            f"{resume} holds a {kind} checkpoint, not a run of rnnlab {task.command}; resume it "
            "with its own command"
        )
    state = directory / TRAINER_STATE
    if not state.is_file():
        raise ValueError(f"{resume} holds no {TRAINER_STATE}: there is no run to resume")
    if "training" not in config:
        raise ValueError(f"{resume} holds a model but no training settings; it cannot resume")
    # the model the config describes must be the one the state holds, before it is built
    saved = {k[6:]: v for k, v in tensor_shapes(state).items() if k.startswith("model.")}
    models[kind].check_fits(config, saved, state)
    settings = task.settings.from_config(config)
    changed = [k for k, v in given.items() if getattr(settings, k) != v]
    if changed:
        raise ValueError(
            f"{task.settings.flag(changed[0])} differs from the run in {resume}; a resumed run "
            "keeps its settings"
        )
    record = config.get("data", {})
    if not isinstance(record, dict):
        raise ValueError(f"{directory / CONFIG} is corrupt: its data record is not an object")
    return settings, record


def _absolute(value):
    """``value`` with the paths in it that exist made absolute (a run resumes from anywhere)."""
    if isinstance(value, list):
        return [_absolute(v) for v in value]
    if isinstance(value, str) and Path(value).exists():
        return str(Path(value).resolve())
    return value


class stopping_on_signals:
    """Ctrl-C (SIGINT), or SIGTERM (torchrun passing a Ctrl-C on to every rank), asks
    ``trainer`` to stop after the current step and save; a second one interrupts at once.
    Outside the main thread (where Python takes no signals) it does nothing."""

    def __init__(self, trainer: Loop) -> None:
        self.trainer = trainer
        self.previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self._stop)
        return self

    def _stop(self, signum, frame) -> None:
        self._restore()
        if self.trainer.main:
            print("\nstopping after this step and saving ...", file=sys.stderr, flush=True)
        self.trainer.request_stop()

    def _restore(self) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous = {}

    def __exit__(self, *exc) -> None:
        self._restore()
