"""Settings: one description of a recurrent network, one of a training run, and the way every
task composes them with its own few fields.

A setting is declared once, as a dataclass field made by :func:`setting`: its default, its check
(:class:`Check`: the type it parses to and the values it allows) and its command-line option (the
flag, when it is not ``--`` + the field name with dashes, and the help text). From that one
declaration

- ``Settings.__post_init__`` validates every field, so settings built in Python, read from a
  checkpoint or parsed from the command line pass the same checks and fail with the same words;
- :func:`rnnlab.cli.options.add_settings` builds the command-line options, their help and their
  argument types (the same checks, run by argparse on the text);
- :meth:`Settings.arguments` hands a model constructor the fields it takes, by the constructor's
  own argument names (``hidden_size``, ``num_layers``, ``embedding_size``), so no task translates
  its settings into a model by hand;
- :meth:`Settings.to_config` stores the run in ``config.json`` under ``training`` without the
  recurrent description, which the model stores under ``model``, and
  :meth:`Settings.from_config` reads the two back (and the older shape, which kept both).

A task's settings class inherits :class:`RecurrentSettings` and :class:`RunSettings`, adds its own
fields and changes defaults with :func:`task_settings` (a field's check and help stay those of its
one declaration).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml

from rnnlab.cells import CELLS
from rnnlab.init import SCHEMES
from rnnlab.kernels import PRECISIONS
from rnnlab.limits import MAX_DECODED, MAX_LAYERS, MAX_WIDTH


@dataclass(frozen=True)
class Check:
    """What a setting accepts: text parses with ``parse``; a value passes when ``test(value)``
    is true. ``want`` says what passes, for messages; ``choices`` lists the values, if few."""

    parse: Callable[[str], Any]
    test: Callable[[Any], bool]
    want: str
    choices: tuple[str, ...] | None = None

    def problem(self, value) -> str | None:
        """Why ``value`` does not pass (``must be ..., got ...``), or None when it does."""
        try:
            if self.test(value):
                return None
        except TypeError:
            pass
        return f"must be {self.want}, got {value!r}"


#: the largest magnitude a numeric setting may have: it must fit a float32 tensor (AdamW's step,
#: an initial bias), where 1e308 is infinite
FLOAT32_MAX = 3.4028234663852886e38


def _number(value) -> bool:
    """A number (not a bool) that is finite in float32."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= FLOAT32_MAX
    )


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def one_of(choices: Iterable[str]) -> Check:
    names = tuple(choices)
    return Check(str, lambda v: v in names, f"one of {', '.join(names)}", names)


POSITIVE_INT = Check(int, lambda v: _integer(v) and v >= 1, "a positive integer")
INTEGER = Check(int, _integer, "an integer")
SEED = Check(int, lambda v: _integer(v) and 0 <= v < 2**63, "an integer in [0, 2**63)")
NON_NEGATIVE_INT = Check(int, lambda v: _integer(v) and v >= 0, "an integer >= 0")
WIDTH = Check(int, lambda v: _integer(v) and 1 <= v <= MAX_WIDTH, f"an integer in 1..{MAX_WIDTH}")
DEPTH = Check(int, lambda v: _integer(v) and 1 <= v <= MAX_LAYERS, f"an integer in 1..{MAX_LAYERS}")
DECODED = Check(
    int, lambda v: _integer(v) and 1 <= v <= MAX_DECODED, f"an integer in 1..{MAX_DECODED}"
)
AT_LEAST_2 = Check(int, lambda v: _integer(v) and v >= 2, "an integer >= 2")
POSITIVE = Check(float, lambda v: _number(v) and v > 0, "a positive number (float32)")
NON_NEGATIVE = Check(float, lambda v: _number(v) and v >= 0, ">= 0 (float32)")
FINITE = Check(float, _number, "a finite number (float32)")
FRACTION = Check(float, lambda v: _number(v) and 0 <= v < 1, "in [0, 1)")
PROBABILITY = Check(float, lambda v: _number(v) and 0 <= v <= 1, "in [0, 1]")
OPEN_UNIT = Check(float, lambda v: _number(v) and 0 < v < 1, "in (0, 1)")
UNIT_INTERVAL = Check(float, lambda v: _number(v) and 0 < v <= 1, "in (0, 1]")
SWITCH = Check(bool, lambda v: isinstance(v, bool), "true or false")
TEXT = Check(str, lambda v: isinstance(v, str), "text")


def setting(
    default,
    help: str,
    check: Check,
    *,
    flag: str | None = None,
    group: str = "training",
    shown: str | None = None,
    metavar: str | None = None,
    optional: bool | None = None,
) -> Field:
    """A settings field: ``default``, ``help`` (the option's help text; the default is shown
    after it, or ``shown`` instead), ``check``, ``flag`` (``--name`` by default), the option
    ``group`` of ``--help`` and the option's ``metavar``. None is a valid value when
    ``optional`` (by default: when the default is None)."""
    meta = {
        "optional": default is None if optional is None else optional,
        "help": help,
        "check": check,
        "flag": flag,
        "group": group,
        "shown": shown,
        "metavar": metavar,
    }
    return field(default=default, metadata=meta)


def embedding_setting(default: int, help: str, one_hot: bool = False) -> Field:
    """The ``embedding_size`` setting of a task that embeds its symbols (``--embedding SIZE``);
    with ``one_hot``, None is allowed too (``--one-hot``: one-hot vectors instead)."""
    return setting(
        default,
        help,
        WIDTH,
        flag="--embedding",
        group="model",
        metavar="SIZE",
        optional=one_hot,
    )


def flag_of(item: Field) -> str:
    """The command-line flag of a settings field: ``--hidden`` for ``hidden_size``."""
    return item.metadata.get("flag") or "--" + item.name.replace("_", "-")


@dataclass
class Settings:
    """Validation, model arguments and config round trip for any settings dataclass."""

    #: fields of a base class that do not apply to this task: kept at their default, no option
    OMIT: ClassVar[tuple[str, ...]] = ()
    #: per-class help texts that replace a field's own (a task's words for a shared option)
    HELP: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for item in fields(self):
            check = item.metadata.get("check")
            value = getattr(self, item.name)
            if item.name in self.OMIT:
                if value != item.default:
                    raise ValueError(f"{item.name} does not apply here (it must be {item.default})")
                continue
            if check is None:
                continue
            setattr(self, item.name, _checked(item, value, item.name))

    @classmethod
    def options(cls) -> list[Field]:
        """The fields that are command-line options, in declaration order."""
        return [f for f in fields(cls) if "check" in f.metadata and f.name not in cls.OMIT]

    @classmethod
    def flag(cls, name: str) -> str:
        return flag_of(next(f for f in fields(cls) if f.name == name))

    @classmethod
    def field_named(cls, name, where: str) -> Field:
        """The setting called ``name`` in a recipe: its field name (``hidden_size``) or its
        option without the dashes (``hidden``, ``weight-drop``); ValueError naming ``where``."""
        for item in cls.options():
            flag = flag_of(item)[2:]
            if name in (item.name, flag, flag.replace("-", "_")):
                return item
        known = sorted(item.name for item in cls.options())
        raise ValueError(
            f"{where}: unknown setting {name!r}; the settings are the command's options, by "
            f"field name ({', '.join(known[:4])}, ...) or by option"
        )

    @classmethod
    def recipe(cls, values, where: str) -> dict[str, Any]:
        """A recipe's settings by field name, checked as the options are: ``values`` maps
        settings (see :meth:`field_named`) to values. ValueError, naming ``where``, for anything
        else."""
        if not isinstance(values, dict):
            raise ValueError(f"{where}: a recipe maps settings to values, got {values!r}")
        chosen: dict[str, Any] = {}
        for name, value in values.items():
            item = cls.field_named(name, where)
            if item.name in chosen:
                raise ValueError(f"{where}: {item.name} is set twice")
            chosen[item.name] = _checked(item, value, f"{where}: {name}")
        return chosen

    def arguments(self, target: Callable) -> dict[str, Any]:
        """The fields that ``target`` (a model class or function) takes as keyword arguments."""
        parameters = inspect.signature(target).parameters
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in parameters}

    def to_config(self) -> dict[str, Any]:
        """The run as ``config.json`` stores it under ``training``: every field but the
        recurrent description, which the model stores under ``model``."""
        kept = {f.name for f in fields(RecurrentSettings)}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in kept}

    @classmethod
    def from_config(cls, config: dict) -> Self:
        """The settings of the run whose ``config.json`` is ``config``: ``training`` for the run,
        ``model`` for the recurrent description. A config written before the description was
        stored once (``training`` held ``hidden``, ``layers``, ``embedding``) reads the same."""
        training = config.get("training")
        model = config.get("model", {})
        if not isinstance(training, dict) or not isinstance(model, dict):
            raise ValueError("the checkpoint's config holds no training settings")
        training = {RENAMED.get(k, k): v for k, v in training.items()}
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in training.items() if k in known}
        given |= {k: v for k, v in model.items() if k in known}
        try:
            return cls(**given)
        except TypeError as error:
            raise ValueError(f"malformed training settings in the config: {error}") from None


def read_yaml(path: str | Path, what: str):
    """The value YAML (or JSON) file ``path`` holds, read safely (no code runs); ValueError,
    naming ``what`` the file is, when it cannot be read or parsed."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read the {what} {path}: {error.strerror or error}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise ValueError(f"the {what} {path} is not YAML ({reason})") from None


def read_recipe(path: str | Path, settings: type[Settings]) -> dict[str, Any]:
    """The checked settings of recipe file ``path`` (a mapping of settings to values, as
    ``rnnlab tune`` writes it) for ``settings`` (see :meth:`Settings.recipe`)."""
    return settings.recipe(read_yaml(path, "recipe"), f"recipe {path}")


#: the names ``config.json`` used for settings before they took the model's argument names
RENAMED = {"hidden": "hidden_size", "layers": "num_layers", "embedding": "embedding_size"}


#: every declared setting's check by name, over all task settings classes (registered by
#: :func:`task_settings`): the schema :func:`check_section` applies to a checkpoint's config
DECLARED: dict[str, list[Field]] = {}


def check_section(values: dict, where: str) -> None:
    """Refuse a config section whose values a setting of that name could not hold (a name
    declared by several tasks passes when any of their checks passes; unknown names are left
    to the model that reads them)."""
    for name, value in values.items():
        declared = DECLARED.get(name)
        if declared and not any(_holds(item, value) for item in declared):
            raise ValueError(f"{where}: {name} {declared[0].metadata['check'].problem(value)}")


def _holds(item: Field, value) -> bool:
    """Whether settings field ``item`` may hold ``value``: None where it is optional, else a
    value its check passes."""
    if value is None and item.metadata["optional"]:
        return True
    return item.metadata["check"].problem(value) is None


def _checked(item: Field, value, label: str):
    """``value`` as settings field ``item`` holds it (a whole number as a float where the field
    is one: JSON and YAML give ints for whole floats); ValueError ``LABEL must be ...`` when the
    field may not hold it."""
    check = item.metadata["check"]
    if check.parse is float and _integer(value):
        value = float(value)
    if not _holds(item, value):
        raise ValueError(f"{label} {check.problem(value)}")
    return value


def _same_rule(a: Field, b: Field) -> bool:
    """Whether two fields accept the same values: the same check, and both or neither
    optional (an optional embedding size holds None, a required one does not)."""
    return a.metadata["check"] is b.metadata["check"] and (
        a.metadata["optional"] == b.metadata["optional"]
    )


def task_settings(**defaults) -> Callable[[type], type]:
    """Make a settings dataclass whose inherited fields ``defaults`` get new default values
    (their check, help and flag unchanged)."""

    def make(cls: type) -> type:
        inherited = {
            item.name: item
            for base in reversed(cls.__mro__[1:])
            if is_dataclass(base)
            for item in fields(base)
        }
        annotations = dict(inspect.get_annotations(cls))
        for name, value in defaults.items():
            if name not in inherited:
                raise TypeError(f"{cls.__name__}: no inherited setting {name!r}")
            annotations[name] = inherited[name].type
            setattr(cls, name, field(default=value, metadata=inherited[name].metadata))
        cls.__annotations__ = annotations
        made = dataclass(cls)
        for item in fields(made):
            if "check" in item.metadata:
                known = DECLARED.setdefault(item.name, [])
                if not any(_same_rule(item, k) for k in known):
                    known.append(item)
        return made

    return make


@dataclass
class RecurrentSettings(Settings):
    """A recurrent network, by :class:`rnnlab.Recurrent`'s argument names."""

    cell: str = setting("lstm", "recurrent cell", one_of(CELLS), group="model")
    hidden_size: int = setting(256, "hidden units per layer", WIDTH, flag="--hidden", group="model")
    num_layers: int = setting(1, "stacked layers", DEPTH, flag="--layers", group="model")
    bidirectional: bool = setting(False, "read both ways", SWITCH, group="model")
    dropout: float = setting(0.0, "dropout rate", FRACTION, group="model")
    init: str = setting("default", "weight initialisation", one_of(SCHEMES), group="model")
    forget_bias: float | None = setting(
        None, "initial LSTM forget-gate bias", FINITE, group="model", shown="torch's default"
    )


@dataclass
class RunSettings(Settings):
    """A training run: what :class:`rnnlab.training.Loop` reads. Without ``epochs`` or
    ``budget`` a run lasts ``DEFAULT_EPOCHS`` epochs."""

    DEFAULT_EPOCHS: ClassVar[int] = 10

    batch_size: int = setting(64, "examples per batch", POSITIVE_INT)
    lr: float = setting(3e-3, "peak learning rate, AdamW", POSITIVE)
    weight_decay: float = setting(0.01, "AdamW weight decay", NON_NEGATIVE)
    warmup: int = setting(50, "warm-up steps", POSITIVE_INT)
    clip: float = setting(1.0, "gradient-norm clipping, 0 for none", NON_NEGATIVE)
    epochs: int | None = setting(None, "passes over the data", POSITIVE_INT)
    budget: float | None = setting(
        None,
        "train for this wall-clock time; the learning-rate schedule is fitted to it",
        POSITIVE,
        metavar="SECONDS",
        shown="",
    )
    seed: int = setting(0, "random seed", SEED)
    ema: float = setting(
        0.0,
        "validate and save an exponential moving average of the weights with this decay per "
        "update (warmed up: min(decay, (1 + n) / (10 + n)) at update n); 0 for none",
        FRACTION,
        metavar="DECAY",
    )
    precision: str = setting(
        "auto",
        "bfloat16 runs matrix products under autocast; auto picks it where the hardware has "
        "native bfloat16",
        one_of(PRECISIONS),
    )

    def __post_init__(self) -> None:
        if self.epochs is None and self.budget is None:
            self.epochs = self.DEFAULT_EPOCHS
        super().__post_init__()


@dataclass
class HeldOutSettings(Settings):
    """The part of the data a supervised task holds out and scores (seeded)."""

    test_fraction: float = setting(0.1, "held out, seeded", FRACTION)
