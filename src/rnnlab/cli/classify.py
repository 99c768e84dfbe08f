"""The ``rnnlab classify`` commands: ``train``, ``predict`` and ``evaluate`` a sequence classifier.
Parse, call :mod:`rnnlab.tasks.classify`, print; errors are ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnlab.cli.options import (
    add_labelled_data,
    add_series_data,
    add_settings,
    add_texts,
    add_train_action,
    report_dir,
    texts_given,
)
from rnnlab.tasks.classify import (
    CLASSIFY,
    SequenceClassifier,
    evaluate_classifier,
    write_classification,
)
from rnnlab.tasks.classify.training import (
    CLASSIFY_OPTIONS,
    CONFUSION,
    REPORT,
    PredictSettings,
    read_classification_options,
    series_to_predict,
)

COMMAND = "classify"


def add_commands(commands) -> None:
    """Add ``classify`` to the ``rnnlab`` subcommands."""
    classify = commands.add_parser(
        COMMAND,
        help="sequence classification (many-to-one): train, predict, evaluate",
        description="Read a whole sequence (characters, words, or the steps of a numeric "
        "series) and give one label: names -> language, sentence -> sentiment, a recorded "
        "vowel -> its speaker.",
    )
    which = classify.add_subparsers(dest="classify", metavar="ACTION", required=True)

    train = add_train_action(
        which,
        CLASSIFY,
        help="train a classifier on labelled texts or series",
        description="Train a recurrent classifier. A stratified, seeded part of the data is "
        "held out and scored after every epoch (accuracy, macro-F1); at the end the per-class "
        "report and confusion matrix are printed and written with the checkpoint "
        "(report.json, confusion.png). The checkpoint is the model at the end of the run.",
    )
    add_labelled_data(train, required=False)
    add_series_data(train)

    predict = which.add_parser(
        "predict",
        help="label texts or series with a trained classifier",
        description="Print each text's likeliest label(s) and probability, tab-separated: "
        "text, label, probability[, label, probability ...]; for series (--data or "
        "--builtin), the series' name in place of the text.",
    )
    predict.add_argument("checkpoint", metavar="DIR")
    add_texts(predict, "classify")
    add_series_data(predict, data=True)
    add_settings(predict, PredictSettings, only=("top",))
    predict.set_defaults(run=_run_predict)

    evaluate = which.add_parser(
        "evaluate",
        help="score a trained classifier on labelled data",
        description="Accuracy, macro-F1, per-class precision and recall and the confusion "
        "matrix of a checkpoint on labelled data (the layouts of classify train).",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    add_labelled_data(evaluate, required=False)
    add_series_data(evaluate)
    evaluate.add_argument(
        "--out", type=report_dir, metavar="DIR", help="write report.json and confusion.png here"
    )
    evaluate.set_defaults(run=_run_evaluate)


def _data_options(args: argparse.Namespace) -> dict:
    return {k: getattr(args, k) for k in CLASSIFY_OPTIONS if getattr(args, k, None) is not None}


def _read_data(args: argparse.Namespace, model: SequenceClassifier):
    """The texts or series the options name, as ``model`` reads; none is an error."""
    options = _data_options(args)
    if not (options.get("data") or options.get("builtin")):
        raise ValueError("no data given: --data PATH or --builtin NAME")
    return read_classification_options(options, series=model.series is not None)


def _run_predict(args: argparse.Namespace) -> int:
    model = SequenceClassifier.from_pretrained(args.checkpoint)
    top = getattr(args, "top", PredictSettings.top)
    if model.series is not None:
        if args.texts or args.file:
            raise ValueError("this classifier reads numeric series: give --data or --builtin")
        data = series_to_predict(_data_options(args))
        names, items = data.ids, data.series
    else:
        if args.data or args.builtin:
            raise ValueError("this classifier reads texts: give them as arguments or --file")
        for number, text in enumerate(args.texts, 1):
            model.encode(text, f"text {number}")
        names = items = texts_given(args, "classify")
    for name, labels in zip(names, model.top_labels(items, top), strict=True):
        pairs = "\t".join(f"{label}\t{p:.4f}" for label, p in labels)
        print(f"{name}\t{pairs}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    model = SequenceClassifier.from_pretrained(args.checkpoint)
    data = _read_data(args, model)
    report = evaluate_classifier(model, data)
    print(report.format_classes())
    print(report.format_confusion())
    print(f"accuracy {report.accuracy:.4f}, macro-F1 {report.macro_f1:.4f} on {report.total:,}")
    if args.out:
        write_classification(args.out, report, "evaluation", data=data.sources)
        print(f"wrote {Path(args.out) / REPORT} and {Path(args.out) / CONFUSION}")
    return 0
