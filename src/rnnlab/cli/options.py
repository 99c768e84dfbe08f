"""What every command module shares, below all of them: the parser with the project's error
format, argument types, the options built from a settings class, and a task's ``train`` action
(its options and its run, :func:`rnnlab.training.run.run_training`).

Options for settings are not written per command: :func:`add_settings` reads the fields of a
settings class (:mod:`rnnlab.settings`), each declared once with its check, flag and help, and
adds one option per field, in the field's group, its type being the field's own check. Every
such option defaults to SUPPRESS, so the namespace holds only what was given (:func:`given`): the
settings class supplies the rest, and a resumed run can tell what was asked of it.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable, Iterable
from dataclasses import Field

from rnnlab.data.labelled import LABELLED_OPTIONS, LabelledData, read_labelled_options
from rnnlab.data.series import BUILTINS
from rnnlab.data.text import read_text
from rnnlab.outputs import output_dir, output_file
from rnnlab.settings import (
    DECODED,
    DEPTH,
    FINITE,
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    SEED,
    SWITCH,
    UNIT_INTERVAL,
    WIDTH,
    Check,
    Settings,
    flag_of,
    read_recipe,
)
from rnnlab.training.run import TrainingTask, run_training


class Parser(argparse.ArgumentParser):
    """argparse with the project's error format: one line, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"rnnlab: error: {message} (see {self.prog} --help)\n")


def argument_type(check: Check):
    """An argparse type that parses text and applies ``check``: a bad value is one line."""

    def parse(text: str):
        try:
            value = check.parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {check.want}, got {text}") from None
        if check.problem(value):
            raise argparse.ArgumentTypeError(f"must be {check.want}, got {text}")
        return value

    return parse


def path_type(check):
    """An argparse type that keeps the text after ``check(text)`` (one of
    :mod:`rnnlab.outputs`' checks) passes; its ValueError is the option's one-line error."""

    def parse(text: str) -> str:
        try:
            check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    return parse


#: where an output option may write (see :mod:`rnnlab.outputs`)
out_file = path_type(output_file)
out_dir = path_type(output_dir)
report_dir = path_type(lambda text: output_dir(text, reports=True))

positive_int = argument_type(POSITIVE_INT)
non_negative_int = argument_type(NON_NEGATIVE_INT)
random_seed = argument_type(SEED)
width = argument_type(WIDTH)  # hidden or embedding units (see rnnlab.limits)
depth = argument_type(DEPTH)  # stacked layers
decoded = argument_type(DECODED)  # tokens a decoder writes for one sequence
positive_float = argument_type(POSITIVE)
finite_float = argument_type(FINITE)
non_negative_float = argument_type(NON_NEGATIVE)
fraction = argument_type(FRACTION)
unit_interval = argument_type(UNIT_INTERVAL)


def defaults_of(function: Callable) -> dict:
    """The defaults of ``function``'s arguments, by name: a command whose options are a library
    function's arguments takes its defaults from there (declared once)."""
    parameters = inspect.signature(function).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def add_settings(
    parser: argparse.ArgumentParser,
    settings: type[Settings],
    only: Iterable[str] | None = None,
    defaults: dict | None = None,
    exclude: Iterable[str] = (),
) -> None:
    """Add an option for each field of ``settings``, in an argument group per the field's
    group; or, for the fields named in ``only``, into ``parser`` itself. ``defaults`` replaces
    the default shown in the help (for a command whose default differs from the class's).
    The fields named in ``exclude`` get no option.

    A bool field is ``--name``/``--no-name``; an optional ``embedding_size`` also gets
    ``--one-hot`` (no embedding), the two exclusive."""
    defaults = defaults or {}
    groups: dict[str, object] = {}
    for item in settings.options():
        if (only is not None and item.name not in only) or item.name in exclude:
            continue
        target = parser
        if only is None:
            group = item.metadata["group"]
            if group not in groups:
                groups[group] = parser.add_argument_group(group)
            target = groups[group]
        _add_option(target, settings, item, defaults.get(item.name, item.default))


def _add_option(target, settings: type[Settings], item: Field, default) -> None:
    meta, check = item.metadata, item.metadata["check"]
    help_text = settings.HELP.get(item.name, meta["help"])
    shown = meta["shown"] if meta["shown"] is not None and default == item.default else default
    if item.name == "epochs" and default is None:
        shown = f"{settings.DEFAULT_EPOCHS} without --budget"
    help_text += f" ({shown})" if shown != "" else ""
    options = {"dest": item.name, "default": argparse.SUPPRESS, "help": help_text}
    if check is SWITCH:
        target.add_argument(flag_of(item), action=argparse.BooleanOptionalAction, **options)
        return
    if check.choices is not None:
        options["choices"] = list(check.choices)
    else:
        options["type"] = argument_type(check)
        options["metavar"] = meta["metavar"] or flag_of(item)[2:].upper().replace("-", "_")
    if item.name == "embedding_size" and meta["optional"]:
        inputs = target.add_mutually_exclusive_group()
        inputs.add_argument(flag_of(item), **options)
        inputs.add_argument(
            "--one-hot",
            dest=item.name,
            action="store_const",
            const=None,
            default=argparse.SUPPRESS,
            help="feed one-hot vectors instead of an embedding",
        )
        return
    target.add_argument(flag_of(item), **options)


def add_training(parser: argparse.ArgumentParser, task: TrainingTask) -> None:
    """What every training command takes: ``--out``, ``--resume``, ``--tensorboard`` and the
    task's settings as options (all SUPPRESS, see :func:`given`); the run is
    :func:`run_train`'s. The caller adds the data options (not required: a resumed run reads
    its own)."""
    parser.add_argument("--out", type=out_dir, metavar="DIR", help="checkpoint directory to write")
    parser.add_argument(
        "--resume", metavar="DIR", help="continue the run saved in DIR (after Ctrl-C)"
    )
    parser.add_argument(
        "--tensorboard", type=report_dir, metavar="DIR", help="write TensorBoard logs here"
    )
    parser.add_argument(
        "--recipe",
        metavar="FILE",
        help="settings from this YAML file (as rnnlab tune writes it); options given override it",
    )
    add_settings(parser, task.settings)
    parser.set_defaults(run=lambda args: run_train(args, task)[1])


def add_train_action(which, task: TrainingTask, help: str, description: str):
    """The ``train`` action of a task's command (see :func:`add_training`)."""
    train = which.add_parser(
        "train",
        help=help,
        description=f"{description} Ctrl-C stops after the current step and saves; --resume "
        "DIR continues.",
        argument_default=argparse.SUPPRESS,
    )
    add_training(train, task)
    return train


def run_train(args: argparse.Namespace, task: TrainingTask) -> tuple[object, int]:
    """Run ``task``'s training from the parsed ``args``; the trainer and the exit status (130
    for a run that Ctrl-C stopped)."""
    options = {k: getattr(args, k) for k in task.data_options if getattr(args, k, None) is not None}
    recipe = getattr(args, "recipe", None)
    chosen = read_recipe(recipe, task.settings) if recipe is not None else {}
    trainer, result = run_training(
        task,
        chosen | given(args, task.settings),
        options,
        getattr(args, "out", None),
        getattr(args, "resume", None),
        tensorboard=getattr(args, "tensorboard", None),
        echo=lambda line: print(line, flush=True),
        progress=sys.stderr.isatty(),
    )
    return trainer, 130 if result.stopped else 0


def given(args: argparse.Namespace, settings: type[Settings]) -> dict:
    """The fields of ``settings`` that were given on the command line."""
    return {f.name: getattr(args, f.name) for f in settings.options() if hasattr(args, f.name)}


def add_labelled_data(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """--data and the table options of labelled texts (:data:`LABELLED_OPTIONS`), which the
    classifier and the conditional generator read; not ``required`` for training (a resumed
    run reads its own)."""
    parser.add_argument(
        "--data",
        nargs="+",
        required=required,
        metavar="PATH",
        help="class files (one class per file, one example per line) or a folder of them; or "
        "one CSV/TSV file with a text and a label column; classify also reads numeric series "
        "from one .ts, .npz or long CSV file (--id-column)",
    )
    parser.add_argument(
        "--text-column", metavar="COL", help="table column of the texts: name or 0-based index"
    )
    parser.add_argument(
        "--label-column", metavar="COL", help="table column of the labels: name or 0-based index"
    )
    parser.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        help="whether the table's first row is a header (default: detected)",
    )
    parser.add_argument("--encoding", help="of the data files (utf-8)")


def add_series_data(parser: argparse.ArgumentParser, data: bool = False) -> None:
    """The options of numeric series beside :func:`add_labelled_data`'s ``--data``
    (:data:`~rnnlab.data.series.SERIES_OPTIONS`): a built-in set, and a long table's columns;
    with ``data``, ``--data`` and ``--label-column`` too, for a command without the text
    options."""
    if data:
        parser.add_argument(
            "--data", nargs=1, metavar="PATH", help="series: a .ts, .npz or long CSV file"
        )
        parser.add_argument(
            "--label-column", metavar="COL", help="the long table's label column, if any"
        )
    parser.add_argument(
        "--builtin",
        metavar="NAME",
        help=f"a built-in series data set: {', '.join(BUILTINS)} (official split)",
    )
    parser.add_argument(
        "--id-column",
        metavar="COL",
        help="read --data as a long table of series, one row per step: the column naming "
        "each series (the label column, --time-column, and every other column a channel)",
    )
    parser.add_argument(
        "--time-column", metavar="COL", help="the long table's column ordering the steps"
    )


def read_labelled_args(args: argparse.Namespace) -> LabelledData:
    """The labelled texts :func:`add_labelled_data`'s options name; says how many were empty."""
    options = {k: getattr(args, k, None) for k in LABELLED_OPTIONS}
    return read_labelled_options(options, lambda line: print(line, flush=True))


def add_texts(parser: argparse.ArgumentParser, what: str) -> None:
    """Texts as arguments and ``--file FILE`` (one per line), for a command that reads texts."""
    parser.add_argument("texts", nargs="*", metavar="TEXT")
    parser.add_argument("--file", metavar="FILE", help=f"also {what} each line of FILE")
    parser.add_argument("--encoding", default="utf-8", help="of --file (utf-8)")


def texts_given(args: argparse.Namespace, what: str) -> list[str]:
    """The texts :func:`add_texts`' arguments give: each argument, then each non-empty line of
    ``--file`` (the empty ones counted on stderr); none at all is an error."""
    texts = list(args.texts)
    if args.file is not None:
        lines = [line.strip() for line in read_text(args.file, "char", args.encoding).splitlines()]
        kept = [line for line in lines if line]
        if len(kept) < len(lines):
            print(f"skipped {len(lines) - len(kept)} empty line(s) of {args.file}", file=sys.stderr)
        texts.extend(kept)
    if not texts:
        raise ValueError(f"nothing to {what}: give texts or --file FILE")
    return texts
