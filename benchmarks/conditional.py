"""The generation-from-label target: names by language of origin.

    python benchmarks/conditional.py                  # about 3 minutes
    python benchmarks/conditional.py --set condition=init

Trains what ``rnnlab generate-from-label train --data ../shared/data/names`` trains (plus any
``--set``), then generates ``--samples`` names per language and reports, per language: the
held-out loss (nats/char), how many generated names are novel (not a training name), and the
fraction that a separately trained classifier (``rnnlab classify train`` defaults, on the same
training split) assigns to the asked language, beside that classifier's accuracy on real
held-out names of the language. Prints a Markdown table and appends to
``benchmarks/conditional/results.json``; RESULTS.md records the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from rnnlab.data.labelled import read_labelled
from rnnlab.data.text import SHARED_DATA
from rnnlab.tasks.classify.training import ClassifierTrainer, Split, recommended_classifier_settings
from rnnlab.tasks.conditional.training import ConditionalSettings, ConditionalTrainer, LabelSplit

NAMES = SHARED_DATA / "names"


def _value(text: str):
    return json.loads(text) if text not in ("", "none") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100, help="names per language")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--json", default=str(Path(__file__).parent / "conditional" / "results.json")
    )
    args = parser.parse_args()
    extra = {key: _value(value) for key, value in (item.split("=", 1) for item in args.set)}
    data = read_labelled(NAMES)

    settings = ConditionalSettings(seed=args.seed, samples=args.samples, **extra)
    settings.temperature = args.temperature
    split = LabelSplit.of(data, settings)
    started = time.perf_counter()
    trainer = ConditionalTrainer(split, settings, progress=False, echo=lambda line: None)
    result = trainer.fit()
    generator_seconds = time.perf_counter() - started
    report = result.report
    model = trainer.model

    # the judge: a classifier trained on the same training names (same seed, same split)
    judge_settings = recommended_classifier_settings(level="char", seed=args.seed)
    judge_split = Split.of(data, judge_settings)
    assert set(judge_split.labels) == set(model.labels)
    judge = ClassifierTrainer(judge_split, judge_settings, progress=False, echo=lambda line: None)
    judge_report = judge.fit().report
    recall = dict(zip(judge_report.labels, judge_report.recall.tolist(), strict=True))

    generator = torch.Generator().manual_seed(args.seed)
    rows, recognised_total = [], 0
    print(
        "| language | held-out loss | novel | classified as asked | classifier on real names "
        "| examples |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for label in model.labels:
        names = model.generate(
            label, args.samples, temperature=args.temperature, generator=generator
        )
        names = [name for name in names if name]
        predicted = judge.model.predict(names) if names else []
        recognised = sum(p == label for p, _ in predicted)
        recognised_total += recognised
        novel = sum(name not in trainer.training_texts for name in names)
        row = {
            "label": label,
            "loss": report.loss_by_label[label],
            "novel": novel / args.samples,
            "recognised": recognised / args.samples,
            "classifier_recall": recall[label],
            "examples": names[:8],
        }
        rows.append(row)
        print(
            f"| {label} | {row['loss']:.3f} | {row['novel']:.0%} | {row['recognised']:.0%} | "
            f"{row['classifier_recall']:.0%} | {', '.join(names[:5])} |",
            flush=True,
        )
    overall = recognised_total / (args.samples * len(model.labels))
    novel = sum(row["novel"] for row in rows) / len(rows)
    mean_recall = sum(recall.values()) / len(recall)  # every language weighted alike, as above
    print(
        f"\nall: held-out loss {report.loss:.4f} nats/char; {novel:.1%} of the generated names "
        f"novel; {overall:.1%} classified as the asked language, against the classifier's mean "
        f"per-language recall of {mean_recall:.1%} on real held-out names (accuracy "
        f"{judge_report.accuracy:.1%}); generator trained {result.epochs:.0f} epochs in "
        f"{result.elapsed:.0f} s"
    )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.is_file() else []
    record = {
        "settings": vars(settings),
        "samples": args.samples,
        "generator_seconds": generator_seconds,
        "history": result.history,
        "loss": report.loss,
        "novelty": novel,
        "recognised": overall,
        "classifier_mean_recall": mean_recall,
        "classifier_accuracy": judge_report.accuracy,
        "languages": rows,
    }
    path.write_text(json.dumps([*previous, record], indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
