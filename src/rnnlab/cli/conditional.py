"""The ``rnnlab generate-from-label`` commands: ``train`` a conditional generator on labelled
texts, and generate from it (``rnnlab generate-from-label DIR --label L``). Parse, call
:mod:`rnnlab.tasks.conditional`, print; errors are ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse

import torch

from rnnlab.cli.options import (
    add_labelled_data,
    add_settings,
    add_train_action,
    given,
)
from rnnlab.data.arrays import read_vector
from rnnlab.limits import OUTPUT_BATCH
from rnnlab.tasks.conditional import CONDITIONAL, ConditionalGenerator, LabelSampling

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
        CONDITIONAL,
        help="train a conditional generator on labelled texts",
        description="Train a conditional generator on labelled texts (one class per file, "
        "or a table). A stratified, seeded part is held out; after every epoch its loss "
        "(nats per character) is printed; at the end the loss per label and, for generated "
        "samples, the fraction that are novel (not in the training data). The checkpoint is "
        "the model at the end of the run; report.json holds the scores.",
    )
    add_labelled_data(train, required=False)

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
    add_settings(sample, LabelSampling)
    sample.set_defaults(run=_run_sample)


def _run_sample(args: argparse.Namespace) -> int:
    model = ConditionalGenerator.from_pretrained(args.checkpoint)
    s = LabelSampling(**given(args, LabelSampling))
    condition = args.label
    if args.vector is not None:
        vector = read_vector(args.vector)
        if vector.ndim != 1:
            raise ValueError(f"{args.vector} must hold one vector, got shape {vector.shape}")
        condition = torch.from_numpy(vector)
    generator = torch.Generator()
    if s.seed is not None:
        generator.manual_seed(s.seed)
    else:
        generator.seed()
    for start in range(0, s.count, OUTPUT_BATCH):  # printed batch by batch: flat memory
        texts = model.generate(
            condition,
            min(OUTPUT_BATCH, s.count - start),
            prime=s.prime,
            temperature=s.temperature,
            generator=generator,
            max_length=s.max_length,
        )
        print("\n".join(texts), flush=True)
    return 0
