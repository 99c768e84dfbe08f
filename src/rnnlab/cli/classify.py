"""The ``rnnlab classify`` commands: ``train``, ``predict`` and ``evaluate`` a sequence classifier.
Parse, call :mod:`rnnlab.tasks.classify`, print; errors are ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnlab.cli.options import (
    add_labelled_data,
    add_settings,
    add_texts,
    add_train_action,
    read_labelled_args,
    report_dir,
    texts_given,
)
from rnnlab.tasks.classify import (
    CLASSIFY,
    SequenceClassifier,
    evaluate_classifier,
    write_classification,
)
from rnnlab.tasks.classify.training import CONFUSION, REPORT, PredictSettings

COMMAND = "classify"


def add_commands(commands) -> None:
    """Add ``classify`` to the ``rnnlab`` subcommands."""
    classify = commands.add_parser(
        COMMAND,
        help="sequence classification (many-to-one): train, predict, evaluate",
        description="Read a whole sequence (characters or words) and give one label: "
        "names -> language, sentence -> sentiment.",
    )
    which = classify.add_subparsers(dest="classify", metavar="ACTION", required=True)

    train = add_train_action(
        which,
        CLASSIFY,
        help="train a classifier on labelled texts",
        description="Train a recurrent classifier. A stratified, seeded part of the data is "
        "held out and scored after every epoch (accuracy, macro-F1); at the end the per-class "
        "report and confusion matrix are printed and written with the checkpoint "
        "(report.json, confusion.png). The checkpoint is the model at the end of the run.",
    )
    add_labelled_data(train, required=False)

    predict = which.add_parser(
        "predict",
        help="label texts with a trained classifier",
        description="Print each text's likeliest label(s) and probability, tab-separated: "
        "text, label, probability[, label, probability ...].",
    )
    predict.add_argument("checkpoint", metavar="DIR")
    add_texts(predict, "classify")
    add_settings(predict, PredictSettings, only=("top",))
    predict.set_defaults(run=_run_predict)

    evaluate = which.add_parser(
        "evaluate",
        help="score a trained classifier on labelled data",
        description="Accuracy, macro-F1, per-class precision and recall and the confusion "
        "matrix of a checkpoint on labelled data (the layouts of classify train).",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    add_labelled_data(evaluate)
    evaluate.add_argument(
        "--out", type=report_dir, metavar="DIR", help="write report.json and confusion.png here"
    )
    evaluate.set_defaults(run=_run_evaluate)


def _run_predict(args: argparse.Namespace) -> int:
    model = SequenceClassifier.from_pretrained(args.checkpoint)
    for number, text in enumerate(args.texts, 1):
        model.encode(text, f"text {number}")
    texts = texts_given(args, "classify")
    top = getattr(args, "top", PredictSettings.top)
    for text, labels in zip(texts, model.top_labels(texts, top), strict=True):
        pairs = "\t".join(f"{label}\t{p:.4f}" for label, p in labels)
        print(f"{text}\t{pairs}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    model = SequenceClassifier.from_pretrained(args.checkpoint)
    data = read_labelled_args(args)
    report = evaluate_classifier(model, data)
    print(report.format_classes())
    print(report.format_confusion())
    print(f"accuracy {report.accuracy:.4f}, macro-F1 {report.macro_f1:.4f} on {len(data):,}")
    if args.out:
        write_classification(args.out, report, "evaluation", data=data.sources)
        print(f"wrote {Path(args.out) / REPORT} and {Path(args.out) / CONFUSION}")
    return 0
