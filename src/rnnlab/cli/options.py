"""Command-line options that the epoch-trained tasks (classify, translate, generate-from-label)
share: the recurrent layers and the training loop. Every option defaults to SUPPRESS, so the
namespace holds only what was given and the task's settings dataclass supplies the rest; the help
text shows that default, read from ``defaults`` (an instance of the settings)."""

from __future__ import annotations

import argparse

from rnnlab.cells import CELLS
from rnnlab.init import SCHEMES
from rnnlab.kernels import PRECISIONS


def given_settings(args: argparse.Namespace, settings_class) -> dict:
    """The settings fields that were given on the command line."""
    from dataclasses import fields

    return {f.name: getattr(args, f.name) for f in fields(settings_class) if hasattr(args, f.name)}


def add_recurrent_options(group, d, *, bidirectional: str = "read both ways") -> None:
    """--cell, --hidden, --layers, --bidirectional, --dropout, --init, --forget-bias."""
    from rnnlab.cli import _fraction, _positive_int

    group.add_argument("--cell", choices=list(CELLS), help=f"recurrent cell ({d.cell})")
    group.add_argument("--hidden", type=_positive_int, help=f"hidden units ({d.hidden})")
    group.add_argument("--layers", type=_positive_int, help=f"stacked layers ({d.layers})")
    if hasattr(d, "bidirectional"):
        group.add_argument(
            "--bidirectional",
            action=argparse.BooleanOptionalAction,
            help=f"{bidirectional} ({d.bidirectional})",
        )
    group.add_argument("--dropout", type=_fraction, help=f"dropout rate ({d.dropout})")
    group.add_argument("--init", choices=SCHEMES, help=f"weight initialisation ({d.init})")
    group.add_argument("--forget-bias", type=float, help="initial LSTM forget-gate bias")


def add_epoch_options(group, d, *, epochs: str, held_out: str = "held out, seeded") -> None:
    """--batch-size, --lr, --weight-decay, --warmup, --clip, --epochs, --budget,
    --test-fraction, --seed, --precision (``epochs``: the default, in words; ``held_out``: what
    the test fraction is)."""
    from rnnlab.cli import _fraction, _non_negative_float, _positive_float, _positive_int

    group.add_argument("--batch-size", type=_positive_int, help=f"({d.batch_size})")
    group.add_argument("--lr", type=_positive_float, help=f"peak learning rate ({d.lr})")
    group.add_argument("--weight-decay", type=_non_negative_float, help=f"AdamW ({d.weight_decay})")
    group.add_argument("--warmup", type=_positive_int, help=f"warm-up steps ({d.warmup})")
    group.add_argument(
        "--clip", type=_non_negative_float, help=f"gradient-norm clip, 0: none ({d.clip})"
    )
    group.add_argument("--epochs", type=_positive_int, help=f"passes over the data ({epochs})")
    group.add_argument(
        "--budget",
        type=_positive_float,
        metavar="SECONDS",
        help="train for this wall-clock time; the learning-rate schedule is fitted to it",
    )
    group.add_argument("--test-fraction", type=_fraction, help=f"{held_out} ({d.test_fraction})")
    group.add_argument("--seed", type=int, help=f"random seed ({d.seed})")
    group.add_argument("--precision", choices=PRECISIONS, help=f"({d.precision})")
