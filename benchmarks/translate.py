"""The translation targets: eng-fra, attention against none, greedy against beam search.

    python benchmarks/translate.py                       # luong, bahdanau, none; 600 s each
    python benchmarks/translate.py --attention luong --budget 60 --set dropout=0.3

Each run is what ``rnnlab translate train --pairs ../shared/data/eng-fra.txt --budget SECONDS``
does (plus any ``--set``): 10% of the pairs held out by source sentence, seeded; the model at the
end of the run scored on them by greedy and beam-5 BLEU (sacrebleu), token accuracy and
perplexity. Prints a Markdown table and appends to ``benchmarks/translate/results.json``;
RESULTS.md records the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rnnlab.data.text import SHARED_DATA
from rnnlab.tasks.translate.model import ATTENTIONS
from rnnlab.tasks.translate.pairs import read_pairs
from rnnlab.tasks.translate.training import PairSplit, Seq2SeqSettings, Seq2SeqTrainer

PAIRS = SHARED_DATA / "eng-fra.txt"


def _value(text: str):
    return json.loads(text) if text not in ("", "none") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attention", nargs="+", choices=ATTENTIONS, default=list(ATTENTIONS))
    parser.add_argument("--budget", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=str(Path(__file__).parent / "translate" / "results.json"))
    args = parser.parse_args()
    extra = {key: _value(value) for key, value in (item.split("=", 1) for item in args.set)}
    rows = []
    print(
        "| attention | settings | greedy BLEU | beam-5 BLEU | token accuracy | perplexity "
        "| epochs | train time |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for attention in args.attention:
        settings = Seq2SeqSettings(
            attention=attention, budget=args.budget, seed=args.seed, beam=5, **extra
        )
        pairs = read_pairs(PAIRS, settings.level, max_length=settings.max_length)
        split = PairSplit.of(pairs, settings)
        started = time.perf_counter()
        trainer = Seq2SeqTrainer(split, settings, progress=False, echo=lambda line: None)
        result = trainer.fit()
        report = result.report
        label = ", ".join(f"{k}={v}" for k, v in extra.items()) or "defaults"
        print(
            f"| {attention} | {label} | {report.bleu:.2f} | {report.beam_bleu:.2f} | "
            f"{report.token_accuracy:.4f} | {report.perplexity:.2f} | {result.epochs:.0f} | "
            f"{result.elapsed:.0f} s |",
            flush=True,
        )
        rows.append(
            {
                "attention": attention,
                "settings": vars(settings),
                "train_pairs": len(split.train),
                "held_out_pairs": len(split.test),
                "held_out_sentences": len(split.sentences),
                "train_seconds": result.elapsed,
                "total_seconds": time.perf_counter() - started,
                "steps": result.steps,
                "history": result.history,
                "final": report.to_json(),
            }
        )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps(previous + rows, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
