"""The chatbot targets: held-out recall@1, perplexity and diversity, with and without context.

    python benchmarks/chat.py                                 # both corpora, context 2 and 0
    python benchmarks/chat.py --corpus smalltalk --context 2 --budget 60 --set dropout=0.3

Each run is what ``rnnlab chat train --builtin CORPUS --context N --budget SECONDS`` does (plus
any ``--set``): whole conversations held out (10%, seed 0), the model at the end of the run
scored on them: perplexity of the true reply, recall@1/2/5 of it among 10 candidates (9 replies
of other held-out conversations) by length-normalised log p(r | c) and by the MMI score
log p(r | c) - log p(r), and generated replies (beam 5, no repeated trigram): distinct-1/2 and
BLEU. Prints a Markdown table and five unedited example exchanges per run, and appends the runs
to ``benchmarks/chat/results.json``; RESULTS.md records them.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib.metadata import version
from pathlib import Path

import torch

from rnnlab.bench.machine import describe, peaks
from rnnlab.tasks.chat import ChatSettings, ChatTrainer, builtin, chat_split
from rnnlab.tasks.chat.dialogues import BUILTINS


def _value(text: str):
    return json.loads(text) if text not in ("", "none") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", choices=BUILTINS, default=list(BUILTINS))
    parser.add_argument("--context", nargs="+", type=int, default=[2, 0])
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=str(Path(__file__).parent / "chat" / "results.json"))
    args = parser.parse_args()
    extra = {key: _value(value) for key, value in (item.split("=", 1) for item in args.set)}
    machine = {"machine": describe(), "peaks_start": peaks(), "torch": torch.__version__}
    machine["chatterbot_corpus"] = version("chatterbot-corpus")
    runs = []
    for corpus in args.corpus:
        dialogues = builtin(corpus)
        for context in args.context:
            settings = ChatSettings(budget=args.budget, context=context, **extra)
            split, groups = chat_split(dialogues, settings)
            started = time.perf_counter()
            trainer = ChatTrainer(split, groups, settings, progress=False, echo=lambda line: None)
            result = trainer.fit()
            report = result.report
            runs.append(
                {
                    "corpus": corpus,
                    "context": context,
                    "settings": extra,
                    "budget": args.budget,
                    "seconds": time.perf_counter() - started,
                    "steps": result.steps,
                    "epochs": result.epochs,
                    "train_pairs": len(split.train),
                    "held_out_pairs": len(split.test),
                    "held_out_conversations": len(set(groups)),
                    "final": report.to_json(),
                    "history": result.history,
                }
            )
            print(json.dumps(runs[-1]["final"] | {"corpus": corpus, "context": context}))
    machine["peaks_end"] = peaks()
    print(
        "\n| corpus | context | recall@1 | recall@1 MMI | perplexity | distinct-1 | distinct-2 "
        "| BLEU | epochs |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        f = run["final"]
        print(
            f"| {run['corpus']} | {run['context']} | {f['recall']['1']:.3f} | "
            f"{f['recall_mmi']['1']:.3f} | {f['perplexity']:.1f} | {f['distinct_1']:.3f} | "
            f"{f['distinct_2']:.3f} | {f['bleu']:.2f} | {run['epochs']:.0f} |"
        )
    for run in runs:
        print(f"\n{run['corpus']}, context {run['context']}:")
        for context, truth, reply in run["final"]["examples"]:
            print(f"  {' / '.join(context.splitlines())}\n    -> {reply}\n    (true: {truth})")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    earlier = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps([*earlier, machine | {"runs": runs}], indent=1) + "\n")


if __name__ == "__main__":
    main()
