"""The ``rnnlab classify`` commands: ``train``, ``predict`` and ``evaluate`` a sequence classifier.
Parse, call :mod:`rnnlab.tasks.classify.training` and :class:`rnnlab.SequenceClassifier`, print;
errors are ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnlab.checkpoint import write_json
from rnnlab.cli.options import (
    add_labelled_data,
    add_texts,
    add_train_action,
    given,
    positive_int,
    read_labelled_args,
    report_dir,
    texts_given,
)
from rnnlab.plots import confusion_plot
from rnnlab.tasks.classify import (
    ClassificationReport,
    ClassifierSettings,
    ClassifierTrainer,
    SequenceClassifier,
    Split,
    recommended_classifier_settings,
)
from rnnlab.tasks.classify.training import CONFUSION, REPORT

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
        ClassifierSettings,
        help="train a classifier on labelled texts",
        description="Train a recurrent classifier. A stratified, seeded part of the data is "
        "held out and scored after every epoch (accuracy, macro-F1); at the end the per-class "
        "report and confusion matrix are printed and written with the checkpoint "
        "(report.json, confusion.png). The checkpoint is the model at the end of the run.",
    )
    add_labelled_data(train)
    train.set_defaults(run=_run_train)

    predict = which.add_parser(
        "predict",
        help="label texts with a trained classifier",
        description="Print each text's likeliest label(s) and probability, tab-separated: "
        "text, label, probability[, label, probability ...].",
    )
    predict.add_argument("checkpoint", metavar="DIR")
    add_texts(predict, "classify")
    predict.add_argument("--top", type=positive_int, default=1, help="labels per text (1)")
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


def _run_train(args: argparse.Namespace) -> int:
    settings = recommended_classifier_settings(**given(args, ClassifierSettings))
    out = Path(args.out)
    data = read_labelled_args(args)
    split = Split.of(data, settings)
    counts = data.counts()
    majority = max(counts.values()) / len(data)
    print(
        f"{len(data):,} examples in {len(counts)} classes (largest {majority:.1%}); "
        f"{len(split.train_ids):,} for training, {len(split.test_ids):,} held out"
        + (f" ({split.overlap} of them also in training, same label)" if split.overlap else "")
        + (f"; {split.duplicates} repeated examples dropped" if settings.dedupe else ""),
        flush=True,
    )
    trainer = ClassifierTrainer(
        split, settings, out, progress=sys.stderr.isatty(), sources=data.sources
    )
    rare = f", <unk> for fewer than {settings.min_count}" if settings.min_count > 1 else ""
    print(
        f"vocabulary {len(split.vocab):,} ({settings.level} level{rare}); {trainer.setup_line()}",
        flush=True,
    )
    result = trainer.fit()
    report = result.report
    print(report.format_classes())
    print(report.format_confusion())
    details = (
        f"; {split.scored} accuracy {report.accuracy:.4f}, macro-F1 {report.macro_f1:.4f} "
        f"(majority class {majority:.4f})"
    )
    print(result.summary(details, out))
    return 0


def _run_predict(args: argparse.Namespace) -> int:

    model = SequenceClassifier.from_pretrained(args.checkpoint)
    for number, text in enumerate(args.texts, 1):
        model.encode(text, f"text {number}")
    texts = texts_given(args, "classify")
    probs = model.predict_proba(texts)
    values, indices = probs.topk(min(args.top, len(model.labels)), dim=1)
    for text, pv, iv in zip(texts, values.tolist(), indices.tolist(), strict=True):
        pairs = "\t".join(f"{model.labels[i]}\t{p:.4f}" for p, i in zip(pv, iv, strict=True))
        print(f"{text}\t{pairs}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:

    model = SequenceClassifier.from_pretrained(args.checkpoint)
    data = read_labelled_args(args)
    index = {label: i for i, label in enumerate(model.labels)}
    unknown = sorted(set(data.labels) - set(index))
    if unknown:
        shown = ", ".join(repr(label) for label in unknown[:5])
        raise ValueError(
            f"the data has {len(unknown)} label(s) the model was not trained on: {shown}; "
            f"it knows {', '.join(model.labels)}"
        )
    probs = model.predict_proba(data.texts)
    report = ClassificationReport.of(
        [index[label] for label in data.labels], probs.argmax(1).tolist(), model.labels
    )
    print(report.format_classes())
    print(report.format_confusion())
    print(f"accuracy {report.accuracy:.4f}, macro-F1 {report.macro_f1:.4f} on {len(data):,}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / REPORT, {"data": data.sources, "final": report.to_json()})
        title = f"accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}"
        confusion_plot(out / CONFUSION, report.confusion, report.labels, title=title)
        print(f"wrote {out / REPORT} and {out / CONFUSION}")
    return 0
