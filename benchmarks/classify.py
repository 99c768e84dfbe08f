"""The classification targets: names -> language and sentence polarity, several seeds.

    python benchmarks/classify.py                  # both tasks, seeds 0 1 2 (about 7 minutes)
    python benchmarks/classify.py --tasks names --seeds 0 --set dedupe=true

Each run is what ``rnnlab classify train`` does with its defaults (plus any ``--set``): a
seeded, stratified 10% held out, the model at the end of the run scored on it. Prints a Markdown
table and writes ``benchmarks/classify/results.json``; RESULTS.md records the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rnnlab.data.labelled import read_labelled
from rnnlab.data.text import SHARED_DATA
from rnnlab.tasks.classify.training import ClassifierTrainer, Split, recommended_classifier_settings

DATA = SHARED_DATA
TASKS = {
    "names": ([DATA / "names"], {"level": "char"}),
    "polarity": ([DATA / "rt-polarity.pos", DATA / "rt-polarity.neg"], {"level": "word"}),
}


def _value(text: str):
    return json.loads(text) if text not in ("", "none") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=str(Path(__file__).parent / "classify" / "results.json"))
    args = parser.parse_args()
    extra = {key: _value(value) for key, value in (item.split("=", 1) for item in args.set)}
    rows = []
    print("| task | settings | seed | accuracy | macro-F1 | seen in training | epochs | time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for task in args.tasks:
        paths, given = TASKS[task]
        data = read_labelled(paths)
        for seed in args.seeds:
            settings = recommended_classifier_settings(**given, **extra, seed=seed)
            started = time.perf_counter()
            split = Split.of(data, settings)
            trainer = ClassifierTrainer(split, settings, progress=False, echo=lambda line: None)
            result = trainer.fit()
            elapsed = time.perf_counter() - started
            report = result.report
            label = ", ".join(f"{k}={v}" for k, v in extra.items()) or "defaults"
            print(
                f"| {task} | {label} | {seed} | {report.accuracy:.4f} | {report.macro_f1:.4f} | "
                f"{split.overlap} of {len(split.test_ids)} | {result.epochs:.0f} | "
                f"{elapsed:.0f} s |",
                flush=True,
            )
            rows.append(
                {
                    "task": task,
                    "settings": vars(settings),
                    "seed": seed,
                    "elapsed": elapsed,
                    "held_out_seen_in_training": split.overlap,
                    "history": result.history,
                    "final": report.to_json(),
                }
            )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps(previous + rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
