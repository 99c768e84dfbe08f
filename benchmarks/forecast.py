"""The forecasting target: sunspots (yearly, horizon 10) and Mauna Loa CO2 (weekly, horizon 52),
the last 20% of each as the test part, the RNN's MASE beside naive, seasonal naive, ETS and
ARIMA.

    python benchmarks/forecast.py                        # both series, 5 seeds, about 5 minutes
    python benchmarks/forecast.py --set mode=autoregressive
    python benchmarks/forecast.py --development          # the pre-test backtests only
    python benchmarks/forecast.py --csv FILE --target COL --horizon 12   # any monthly series

The airline passengers (144 months, 1949-1960) are the CSV that aeon ships,
``aeon/datasets/data/Airline/Airline.csv`` in its installed package (``--target Passengers``).

Trains what ``rnnlab forecast train --dataset NAME`` trains (plus any ``--set``) once per seed
and backtests it from every test origin. ``--development`` never touches the test part: it cuts
each series at 70, 80, 90 and 100% of its pre-test rows and runs the whole pipeline (with its
own 20% test part) on each cut; this is where settings are compared. Prints a Markdown table
and appends to ``benchmarks/forecast/results.json``; RESULTS.md records the table.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from rnnlab.tasks.forecast.series import DATASETS, load_dataset, read_csv
from rnnlab.tasks.forecast.training import ForecastSettings, ForecastTrainer, plan


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(series, settings: ForecastSettings) -> tuple[dict, float, ForecastSettings]:
    settings, split = plan(series, settings)
    started = time.perf_counter()
    trainer = ForecastTrainer(split, settings, progress=False, echo=lambda line: None)
    result = trainer.fit()
    seconds = time.perf_counter() - started
    (scores,) = result.report.scores.values()
    return scores, seconds, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--csv", help="a CSV series instead of the built-in ones")
    parser.add_argument("--target", help="its column to forecast")
    parser.add_argument("--horizon", type=int, help="the CSV series' horizon")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--development", action="store_true")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=str(Path(__file__).parent / "forecast" / "results.json"))
    args = parser.parse_args()
    extra = {key: _value(value) for key, value in (item.split("=", 1) for item in args.set)}

    records = []
    names = [args.csv] if args.csv else args.datasets
    for name in names:
        if args.csv:
            full = read_csv(args.csv, [args.target])
            horizon = args.horizon
        else:
            full, horizon = load_dataset(name), DATASETS[name]["horizon"]
        pre_test = len(full) - round(len(full) * 0.2)
        cuts = [round(pre_test * f) for f in (0.7, 0.8, 0.9, 1.0)] if args.development else [None]
        runs = []
        for cut in cuts:
            series = full
            if cut is not None:
                series = replace(
                    full, values=full.values[:cut], time=full.time[:cut], observed=None
                )
            for seed in range(args.seeds):
                base = {"horizon": horizon, "seed": seed, **extra}
                scores, seconds, settings = run(series, ForecastSettings(**base))
                runs.append({"cut": cut, "seed": seed, "seconds": seconds, "scores": scores})
                print(
                    f"{name} cut {cut} seed {seed}: {seconds:.1f} s, MASE "
                    + ", ".join(f"{m} {s['mase']:.3f}" for m, s in scores.items()),
                    flush=True,
                )
        methods = list(runs[0]["scores"])
        summary = {
            method: {
                metric: float(np.mean([r["scores"][method][metric] for r in runs]))
                for metric in runs[0]["scores"][method]
            }
            for method in methods
        }
        spread = [r["scores"]["model"]["mase"] for r in runs]
        records.append(
            {
                "dataset": Path(name).stem,
                "development": args.development,
                "settings": {k: v for k, v in vars(settings).items() if k != "seed"},
                "seeds": args.seeds,
                "runs": runs,
                "mean": summary,
                "model_mase_range": [min(spread), max(spread)],
                "seconds": float(np.mean([r["seconds"] for r in runs])),
            }
        )

    print()
    print("| series | method | MAE | RMSE | MASE | sMAPE | coverage (before calibration) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for record in records:
        for method, s in record["mean"].items():
            cover = f"{s['coverage']:.1%}" if "coverage" in s else ""
            if "uncalibrated coverage" in s:
                covers = [r["scores"]["model"]["coverage"] for r in record["runs"]]
                cover += f" ({min(covers):.1%}-{max(covers):.1%}; "
                cover += f"{s['uncalibrated coverage']:.1%})"
            mase = f"{s['mase']:.3f}"
            if method == "model":
                low, high = record["model_mase_range"]
                mase += f" ({low:.3f}-{high:.3f})"
            print(
                f"| {record['dataset']} | {method} | {s['mae']:.4g} | {s['rmse']:.4g} | "
                f"{mase} | {s['smape']:.2f}% | {cover} |"
            )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps(previous + records, indent=1) + "\n")


if __name__ == "__main__":
    main()
