"""``rnnlab tune``: a search for a language model's settings on the user's own text (Optuna).

    study: TPE sampler (seeded), median pruner over each trial's validations
    first trial: the built-in sizing for the trial budget, so the search ends no worse than it
    while the trials' seconds so far + one trial's budget <= the total:
        settings = sized for the trial budget | the options given | suggested from the space
        train them: a normal budgeted run into DIR/trials/N; report each validation loss (by
        its number, 1..evals, the same points of every trial's budget); stop it when the pruner
        says it is behind the median of earlier trials at that point
    the best completed trial: its settings printed as the ``rnnlab train`` command line that
    reproduces them, and written to DIR/recipe.yaml (``rnnlab train --recipe`` reads it)

The study is Optuna's journal file DIR/study.journal (JSON lines); the same command continues it:
the seconds already spent count against the total, and a trial that Ctrl-C (or a crash) cut
short is run again. Only the best trial's checkpoint is kept.

A search space maps settings to their candidates: a list of choices, or a range
``{low: L, high: H}`` (``log: true`` for a log scale) for a number (an integer setting draws
integers). Every candidate passes the setting's own check before the search starts.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import optuna
import yaml

from rnnlab.checkpoint import atomic_write
from rnnlab.settings import read_recipe, read_yaml
from rnnlab.tasks.language.settings import TrainSettings, recommended_settings, sized_for_budget
from rnnlab.tasks.language.training import Trainer, read_corpus
from rnnlab.training.loop import Diverged
from rnnlab.training.run import stopping_on_signals

STUDY, RECIPE, TRIALS = "study.journal", "recipe.yaml", "trials"
TRIAL_BUDGET = 300.0  # seconds: what rnnlab tune trains each trial for by default

#: the settings searched when no space is given, per architecture
DEFAULT_SPACE: dict[str, dict] = {
    "recurrent": {
        "hidden_size": [256, 384, 512, 768],
        "num_layers": [1, 2, 3],
        "dropout": {"low": 0.0, "high": 0.5},
        "locked_dropout": [False, True],
        "input_dropout": {"low": 0.0, "high": 0.3},
        "lr": {"low": 1e-3, "high": 1e-2, "log": True},
        "weight_decay": {"low": 0.01, "high": 0.3, "log": True},
        "seq_len": [32, 64, 128],
        "batch_size": [16, 32, 64],
        "ema": [0.0, 0.999],
    },
    "transformer": {
        "hidden_size": [96, 128, 192, 256],
        "num_layers": [2, 4, 6],
        "dropout": {"low": 0.0, "high": 0.2},
        "lr": {"low": 5e-4, "high": 5e-3, "log": True},
        "weight_decay": {"low": 0.01, "high": 0.3, "log": True},
        "context": [64, 128, 256],
        "batch_size": [8, 12, 24],
        "ema": [0.0, 0.999],
    },
}


@dataclass(frozen=True)
class Dimension:
    """One searched setting: ``choices``, or a range ``low``..``high`` (``log`` scale) of
    integers (``integer``) or numbers (rounded to three significant digits)."""

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    def suggest(self, trial: optuna.Trial):
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        value = trial.suggest_float(self.name, self.low, self.high, log=self.log)
        return float(f"{value:.3g}")  # three digits: a setting one can read and type

    def holds(self, value) -> bool:
        """Whether ``value`` is one of this dimension's candidates."""
        if self.choices is not None:
            return value in self.choices
        return self.low <= value <= self.high


def search_space(values, fixed: dict, where: str = "the search space") -> list[Dimension]:
    """The dimensions of a search space (see the module docstring), the settings in ``fixed``
    left out; ValueError, naming ``where``, for anything a search could not use."""
    if not isinstance(values, dict) or not values:
        raise ValueError(f"{where}: expected a mapping of settings to candidates, got {values!r}")
    dimensions = []
    for key, spec in values.items():
        item = TrainSettings.field_named(key, where)
        name, check = item.name, item.metadata["check"]
        if name in ("budget", "epochs"):
            raise ValueError(f"{where}: {key} is the search's own (--trial-budget)")
        if name in fixed:
            continue
        here = f"{where}: {key}"
        if isinstance(spec, list):
            if not spec:
                raise ValueError(f"{here}: no choices")
            for choice in spec:
                TrainSettings.recipe({key: choice}, where)
            dimensions.append(Dimension(name, choices=tuple(spec)))
            continue
        if not isinstance(spec, dict) or set(spec) - {"low", "high", "log"} or len(spec) < 2:
            raise ValueError(
                f"{here}: expected a list of choices or {{low: L, high: H[, log: true]}}, "
                f"got {spec!r}"
            )
        if check.parse not in (int, float) or check.choices is not None:
            raise ValueError(f"{here}: not a number; list its choices instead")
        low, high, log = spec.get("low"), spec.get("high"), spec.get("log", False)
        TrainSettings.recipe({key: low}, where)
        TrainSettings.recipe({key: high}, where)
        if not low < high:
            raise ValueError(f"{here}: low must be below high, got {low!r} and {high!r}")
        if not isinstance(log, bool) or (log and low <= 0):
            raise ValueError(f"{here}: log must be true or false, and a log range above 0")
        dimensions.append(Dimension(name, None, low, high, log, check.parse is int))
    if not dimensions:
        raise ValueError(f"{where}: every setting it names is fixed; there is nothing to search")
    return dimensions


def read_space(path: str | Path | None, fixed: dict) -> list[Dimension]:
    """The search space of YAML file ``path``, or the default one for ``fixed``'s architecture."""
    if path is None:
        return search_space(DEFAULT_SPACE[fixed.get("arch", "recurrent")], fixed)
    values = read_yaml(path, "search space")
    return search_space(values, fixed, f"search space {path}")


def spent(study: optuna.Study) -> float:
    """The seconds the study's finished trials took."""
    return sum(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in study.trials
        if t.datetime_complete is not None and t.datetime_start is not None
    )


def command_line(text: list[str], settings: dict) -> str:
    """The ``rnnlab train`` command that trains with ``settings``."""
    words = ["rnnlab", "train", "--text", *text]
    for name, value in settings.items():
        flag = TrainSettings.flag(name)
        if isinstance(value, bool):
            words.append(flag if value else f"--no-{flag[2:]}")
        elif value is None and name == "embedding_size":
            words.append("--one-hot")
        else:
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return " ".join([*words, "--out", "MODEL"])


@dataclass
class TuneResult:
    """What a call to :func:`tune` did: the trials it ran, whether Ctrl-C stopped it, and the
    study's best trial so far (its settings, validation loss and checkpoint)."""

    trials: int
    stopped: bool
    best: dict | None
    best_val: float | None
    checkpoint: Path | None
    command: str | None


def tune(
    text: list[str],
    total: float,
    trial_budget: float,
    out: Path,
    *,
    fixed: dict | None = None,
    space: str | Path | None = None,
    seed: int = 0,
    trials: int | None = None,
    echo: Callable[[str], object] = print,
) -> TuneResult:
    """Search for ``total`` seconds, trials of ``trial_budget`` seconds each (at most ``trials``
    of them in this call), in study ``out`` (created, or continued); see the module
    docstring."""
    fixed = dict(fixed or {})
    if trial_budget > total:
        raise ValueError(f"a trial ({trial_budget:g} s) does not fit in the total ({total:g} s)")
    dimensions = read_space(space, fixed)
    base = recommended_settings(trial_budget, **fixed, seed=seed)  # checks the fixed settings
    corpus, source = read_corpus(text, base)
    if corpus.val is None:
        raise ValueError("the text leaves no validation part to tune on (--val-fraction)")
    out.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / STUDY))
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="rnnlab",
        storage=storage,
        load_if_exists=True,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
    )
    _check_same_search(study, text, trial_budget, fixed, seed, dimensions)
    _rerun_unfinished(study, echo)
    if not study.trials:  # the built-in sizing first, where the space holds it
        sized = sized_for_budget(trial_budget, fixed.get("arch", "recurrent"))
        defaults = {f.name: f.default for f in fields(TrainSettings)}
        first = {d.name: sized.get(d.name, defaults[d.name]) for d in dimensions}
        study.enqueue_trial({k: v for k, v in first.items() if _holds(dimensions, k, v)})
    ran, stopped = 0, False
    while spent(study) + trial_budget <= total and not stopped and ran != trials:
        trial = study.ask()
        chosen = fixed | {d.name: d.suggest(trial) for d in dimensions}
        settings = recommended_settings(trial_budget, **chosen, seed=seed)
        trial.set_user_attr("settings", _recipe(settings, chosen))
        state, value, line = _run_trial(trial, corpus, source, settings, out)
        stopped = state is None
        if stopped:  # Ctrl-C: failed, and its settings are the next run's first trial
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            study.enqueue_trial(trial.params)
        else:
            study.tell(trial, value, state=state)
        ran += 1
        echo(f"trial {trial.number}: {line}; {_short(chosen, fixed)}")
        _keep_best(study, out)
    if stopped:
        echo(f"stopped; run the same command again to continue the study in {out}")
    return _result(study, text, out, ran, stopped, echo)


def _holds(dimensions: list[Dimension], name: str, value) -> bool:
    return any(d.name == name and d.holds(value) for d in dimensions)


def _check_same_search(study, text, trial_budget, fixed, seed, dimensions) -> None:
    """Record the search in a new study; refuse to continue a study with another one (other
    text, trial budget, fixed settings, seed or space; the total may grow)."""
    search = {
        "text": [str(Path(p).resolve()) for p in text],
        "trial_budget": trial_budget,
        "fixed": fixed,
        "seed": seed,
        "space": [asdict(d) for d in dimensions],
    }
    search = json.loads(json.dumps(search))  # as the journal gives it back
    recorded = study.user_attrs.get("search")
    if recorded is None:
        study.set_user_attr("search", search)
    elif recorded != search:
        changed = ", ".join(k for k in search if recorded.get(k) != search[k])
        raise ValueError(
            f"the study in {STUDY} searched with another {changed}; continue it with the same "
            "options (only --budget may change) or choose another --out"
        )


def _rerun_unfinished(study: optuna.Study, echo) -> None:
    """Mark a trial left running by a process that ended without finishing it (killed, or a
    crash) failed, and ask for its settings again."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params)
        echo(f"trial {trial.number} did not finish; its settings are tried again")


def _run_trial(trial, corpus, source, settings: TrainSettings, out: Path):
    """Train one trial, reporting its validations; (its state, its value, a line on it). The
    state is None when Ctrl-C stopped it; a trial whose training diverged has failed."""
    reported, pruned = 0, False

    def on_step(loop: Trainer, step: int, loss: float) -> None:
        nonlocal reported, pruned
        if len(loop.records) > reported and "loss" in loop.records[-1]:
            reported = len(loop.records)
            trial.report(loop.records[-1]["loss"], reported)
            if trial.should_prune():
                pruned = True
                loop.request_stop()

    directory = out / TRIALS / str(trial.number)
    shutil.rmtree(directory, ignore_errors=True)  # a trial run again starts afresh
    trainer = Trainer(
        corpus,
        settings,
        directory,
        progress=False,
        echo=lambda _: None,
        on_step=on_step,
        source=source,
    )
    try:
        with stopping_on_signals(trainer):
            result = trainer.fit()
    except Diverged as error:
        return optuna.trial.TrialState.FAIL, None, f"failed: {error}"
    best = trainer.best
    if pruned:
        return optuna.trial.TrialState.PRUNED, None, f"pruned at validation {reported} ({best:.4f})"
    if result.stopped:
        return None, None, "stopped"
    return optuna.trial.TrialState.COMPLETE, best, f"best validation {best:.4f}"


def _recipe(settings: TrainSettings, chosen: dict) -> dict:
    """What reproduces a trial: the budget, the seed, the sized settings and the chosen ones."""
    sized = sized_for_budget(settings.budget, settings.arch)
    names = ["budget", "seed", *sized, *chosen]
    return {name: getattr(settings, name) for name in dict.fromkeys(names)}


def _short(chosen: dict, fixed: dict) -> str:
    return ", ".join(
        f"{TrainSettings.flag(k)[2:]} {v:.3g}"
        if isinstance(v, float)
        else f"{TrainSettings.flag(k)[2:]} {v}"
        for k, v in chosen.items()
        if k not in fixed
    )


def _keep_best(study: optuna.Study, out: Path) -> None:
    """Remove the checkpoints of every trial but the best completed one."""
    best = _best(study)
    for directory in (out / TRIALS).glob("*"):
        if best is None or directory.name != str(best.number):
            shutil.rmtree(directory, ignore_errors=True)


def _best(study: optuna.Study):
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return min(complete, key=lambda t: t.value) if complete else None


def _result(study, text, out: Path, ran: int, stopped: bool, echo) -> TuneResult:
    best = _best(study)
    if best is None:
        return TuneResult(ran, stopped, None, None, None, None)
    settings = dict(best.user_attrs["settings"])
    command = command_line(text, settings)
    lines = [
        f"# rnnlab tune: trial {best.number} of {len(study.trials)}, best validation "
        f"{best.value:.4f} nats/char",
        f"# {command}",
        yaml.safe_dump(settings, sort_keys=False),
    ]
    atomic_write(out / RECIPE, "\n".join(lines).encode())
    read_recipe(out / RECIPE, TrainSettings)  # what was written reads back
    echo(
        f"best: trial {best.number}, validation {best.value:.4f}; its checkpoint: "
        f"{out / TRIALS / str(best.number)}"
    )
    echo(f"recipe: {out / RECIPE}")
    echo(command)
    return TuneResult(ran, stopped, settings, best.value, out / TRIALS / str(best.number), command)
