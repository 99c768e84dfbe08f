"""The ``rnnlab generate-from-label`` commands: ``train`` a conditional generator on labelled
texts, and generate from it (``rnnlab generate-from-label DIR --label L``). Parse, call
:mod:`rnnlab.tasks.conditional.training` and :class:`rnnlab.ConditionalGenerator`, print; errors are
ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from rnnlab.cli.options import (
    add_labelled_data,
    add_train_action,
    decoded,
    given,
    positive_float,
    positive_int,
    random_seed,
    read_labelled_args,
)
from rnnlab.limits import OUTPUT_BATCH
from rnnlab.tasks.conditional import (
    ConditionalGenerator,
    ConditionalSettings,
    ConditionalTrainer,
    LabelSplit,
)

COMMAND = "generate-from-label"
ACTIONS = ("train", "sample")
#: The action ``rnnlab generate-from-label`` runs when the next word names no action.
DEFAULT_ACTION = "sample"


def add_commands(commands) -> None:
    """Add ``generate-from-label`` to the ``rnnlab`` subcommands."""
    command = commands.add_parser(
        COMMAND,
        help="one-to-many: train a generator conditioned on a label, generate from it",
        description="A character-level generator whose hidden state starts from, and whose "
        "every input carries, a label's vector (names by language of origin). "
        "rnnlab generate-from-label train ... trains one; "
        "rnnlab generate-from-label DIR --label L generates.",
    )
    which = command.add_subparsers(dest="generate_from_label", metavar="ACTION", required=True)

    train = add_train_action(
        which,
        ConditionalSettings,
        help="train a conditional generator on labelled texts",
        description="Train a conditional generator on labelled texts (one class per file, "
        "or a table). A stratified, seeded part is held out; after every epoch its loss "
        "(nats per character) is printed; at the end the loss per label and, for generated "
        "samples, the fraction that are novel (not in the training data). The checkpoint is "
        "the model at the end of the run; report.json holds the scores.",
    )
    add_labelled_data(train)
    train.set_defaults(run=_run_train)

    sample = which.add_parser(
        DEFAULT_ACTION,
        help="generate texts (the default: rnnlab generate-from-label DIR --label L)",
        description="Generate texts for a label, or for a condition vector read from a .npy "
        "file (the captioning shape: any vector of the model's condition size); one per line.",
    )
    sample.add_argument("checkpoint", metavar="DIR")
    condition = sample.add_mutually_exclusive_group(required=True)
    condition.add_argument("--label", help="the label to generate for")
    condition.add_argument(
        "--vector", metavar="FILE", help="a .npy file holding one float vector to condition on"
    )
    sample.add_argument("--count", type=positive_int, default=10, help="how many (10)")
    sample.add_argument("--prime", default="", help="the first characters of every text")
    sample.add_argument(
        "--temperature", type=positive_float, default=0.8, help="sampling temperature (0.8)"
    )
    sample.add_argument("--max-length", type=decoded, help="most characters per text")
    sample.add_argument("--seed", type=random_seed, help="random seed (default: a fresh draw)")
    sample.set_defaults(run=_run_sample)


def _run_train(args: argparse.Namespace) -> int:
    settings = ConditionalSettings(**given(args, ConditionalSettings))
    out = Path(args.out)
    data = read_labelled_args(args)
    split = LabelSplit.of(data, settings)
    print(
        f"{len(data):,} texts with {len(split.labels)} labels; {len(split.train):,} for "
        f"training, {len(split.test):,} held out",
        flush=True,
    )
    trainer = ConditionalTrainer(
        split, settings, out, progress=sys.stderr.isatty(), sources=data.sources
    )
    print(
        f"vocabulary {len(split.vocab)} characters; condition {settings.condition}; "
        f"{trainer.setup_line()}",
        flush=True,
    )
    result = trainer.fit()
    report = result.report
    print(report.format_labels())
    details = f"; {split.scored} loss {report.loss:.4f} nats/char"
    if report.novelty is not None:
        details += f"; {report.novelty:.1%} of {settings.samples} samples per label are novel"
    print(result.summary(details, out))
    return 0


#: the most numbers a --vector file may hold (a condition vector has as many as the model's
#: labels or its condition size)
MAX_VECTOR = 1_000_000


def read_vector(path: str):
    """The float vector in the .npy file ``path`` (loaded without pickle)."""

    try:
        with open(path, "rb") as file:
            magic = file.read(6)
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    if magic != b"\x93NUMPY":
        raise ValueError(f"{path} is not a .npy array file (save one with numpy.save)")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)  # the header first
    except ValueError as error:  # numpy's advice to allow pickles is not ours to give
        if "object" in str(error).lower() or "pickle" in str(error):
            raise ValueError(
                f"{path} holds Python objects, which rnnlab never loads; save a numeric array"
            ) from None
        raise ValueError(f"{path} is not a .npy array file: {error}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise ValueError(f"{path} must hold a numeric vector, got {getattr(array, 'dtype', '?')}")
    if array.size > MAX_VECTOR:
        raise ValueError(f"{path} holds {array.size:,} numbers; a condition vector is smaller")
    array = np.array(array, dtype=np.float32)
    return array[0] if array.ndim == 2 and array.shape[0] == 1 else array


def _run_sample(args: argparse.Namespace) -> int:

    model = ConditionalGenerator.from_pretrained(args.checkpoint)
    condition = args.label
    if args.vector is not None:
        vector = read_vector(args.vector)
        if vector.ndim != 1:
            raise ValueError(f"{args.vector} must hold one vector, got shape {vector.shape}")
        condition = torch.from_numpy(vector)
    generator = torch.Generator()
    if args.seed is not None:
        generator.manual_seed(args.seed)
    else:
        generator.seed()
    for start in range(0, args.count, OUTPUT_BATCH):  # printed batch by batch: flat memory
        texts = model.generate(
            condition,
            min(OUTPUT_BATCH, args.count - start),
            prime=args.prime,
            temperature=args.temperature,
            generator=generator,
            max_length=args.max_length,
        )
        print("\n".join(texts), flush=True)
    return 0
