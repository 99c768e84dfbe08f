"""The speech recognition targets: word error rate on voices never heard in training.

    python benchmarks/speech.py                         # digits and commands, 600 s each
    python benchmarks/speech.py --vocabulary digits --budget 120

Per vocabulary, what a user types: ``rnnlab speech make-data --vocabulary V`` (4,000 utterances,
seed 0; test speakers' variants never heard in training), ``rnnlab speech train --budget S``
(default settings), a character language model on the training transcripts (``rnnlab train
--text ... --budget 60``), then ``rnnlab speech evaluate`` on the test split: greedy and beam 8,
clean and with white noise at 10 dB SNR, with and without the language model (weight 0.5).
Then the speeds: training in seconds of audio per second (from the run), and the real-time
factor of ``transcribe`` on one thread (features, network and decoding over 100 test
recordings, divided by their duration). Prints a Markdown table and appends to
``benchmarks/speech/results.json`` (with the per-voice rates of greedy decoding on clean audio);
RESULTS.md records it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import torch

from rnnlab.bench.machine import describe, peaks
from rnnlab.checkpoint import read_json
from rnnlab.cli import main as rnnlab
from rnnlab.tasks.speech import SpeechRecognizer, read_audio, read_manifest
from rnnlab.tasks.speech.fusion import language_scores

EVALUATIONS = [  # (beam, snr, with the language model)
    (1, None, False),
    (8, None, False),
    (8, None, True),
    (1, 10, False),
    (8, 10, False),
    (8, 10, True),
]


def run(*argv: str) -> str:
    """``rnnlab ARGV`` in this process; its standard output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = rnnlab([str(a) for a in argv])
    if code != 0:
        raise SystemExit(f"rnnlab {' '.join(map(str, argv))} exited {code}")
    return out.getvalue()


def real_time_factor(model_dir: Path, data: Path, count: int = 100, **decoding) -> float:
    """Seconds to transcribe ``count`` test recordings on one thread, per second of audio."""
    model = SpeechRecognizer.from_pretrained(model_dir)
    rows = read_manifest(data)
    paths = [p for p, s in zip(rows.paths, rows.splits, strict=True) if s == "test"][:count]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        recordings = [read_audio(p, model.sample_rate) for p in paths]
        model.transcribe(recordings, **decoding)
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    return seconds / (sum(len(r) for r in recordings) / model.sample_rate)


def bench(vocabulary: str, budget: float, utterances: int, root: Path) -> dict:
    data, model = root / f"{vocabulary}-data", root / f"{vocabulary}-run"
    run(
        "speech", "make-data", "--out", data, "--vocabulary", vocabulary, "--utterances", utterances
    )
    trained = run("speech", "train", "--data", data, "--out", model, "--budget", budget)
    print(trained.strip().splitlines()[-1], flush=True)
    rows = read_manifest(data)
    text = root / f"{vocabulary}-transcripts.txt"
    text.write_text(
        "\n".join(t for t, s in zip(rows.transcripts, rows.splits, strict=True) if s == "train")
        + "\n"
    )
    lm = root / f"{vocabulary}-lm"
    run("train", "--text", text, "--out", lm, "--budget", 60)
    report = read_json(model / "report.json")
    results = {
        "vocabulary": vocabulary,
        "budget": budget,
        "train_utterances": report["train_utterances"],
        "held_out_utterances": report["held_out_utterances"],
        "epochs": report["epochs"],
        "evaluations": [],
    }
    for beam, snr, fused in EVALUATIONS:
        out = root / f"{vocabulary}-eval-{beam}-{snr}-{fused}"
        argv = ["speech", "evaluate", model, "--data", data, "--beam", beam, "--out", out]
        argv += ["--snr", snr] if snr is not None else []
        argv += ["--lm", lm, "--lm-weight", 0.5] if fused else []
        run(*argv)
        scored = read_json(out / "report.json")
        results["evaluations"].append(
            {
                "beam": beam,
                "snr": snr,
                "lm": fused,
                "cer": scored["cer"],
                "wer": scored["wer"],
            }
        )
        print(json.dumps(results["evaluations"][-1]), flush=True)
        if (beam, snr, fused) == EVALUATIONS[0]:
            results["voices_greedy_clean"] = scored["voices"]
    last = report["epochs"][-1]
    audio = results["train_audio_seconds"] = report["train_audio_seconds"]
    results["audio_per_second"] = audio * last["epoch"] / last["elapsed"]
    results["rtf_greedy"] = real_time_factor(model, data)
    results["rtf_beam8"] = real_time_factor(model, data, beam=8)
    recogniser = SpeechRecognizer.from_pretrained(model)
    from rnnlab.tasks.language import LanguageModel

    scores = language_scores(LanguageModel.from_pretrained(lm), recogniser.alphabet)
    results["rtf_beam8_lm"] = real_time_factor(model, data, beam=8, lm=scores, lm_weight=0.5)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocabulary", nargs="+", default=["digits", "commands"])
    parser.add_argument("--budget", type=float, default=600.0)
    parser.add_argument("--utterances", type=int, default=4000)
    parser.add_argument("--json", default=str(Path(__file__).parent / "speech" / "results.json"))
    args = parser.parse_args()
    machine = {"machine": describe(), "peaks_start": peaks(), "torch": torch.__version__}
    runs = []
    with tempfile.TemporaryDirectory() as root:
        for vocabulary in args.vocabulary:
            runs.append(bench(vocabulary, args.budget, args.utterances, Path(root)))
    machine["peaks_end"] = peaks()
    print("\n| vocabulary | decoding | clean WER | clean CER | 10 dB WER | 10 dB CER |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in runs:
        clean = {(e["beam"], e["lm"]): e for e in r["evaluations"] if e["snr"] is None}
        noisy = {(e["beam"], e["lm"]): e for e in r["evaluations"] if e["snr"] is not None}
        for key, c in clean.items():
            n = noisy[key]
            how = "greedy" if key[0] == 1 else f"beam {key[0]}" + (" + LM" if key[1] else "")
            print(
                f"| {r['vocabulary']} | {how} | {c['wer']:.4f} | {c['cer']:.4f} | "
                f"{n['wer']:.4f} | {n['cer']:.4f} |"
            )
    for r in runs:
        print(
            f"{r['vocabulary']}: {r['audio_per_second']:.0f} s of audio per second in training; "
            f"real-time factor on one thread: greedy {r['rtf_greedy']:.4f}, beam 8 "
            f"{r['rtf_beam8']:.4f}, beam 8 + LM {r['rtf_beam8_lm']:.4f}"
        )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(path.read_text()) if path.is_file() else []
    recorded.append(machine | {"runs": runs})
    path.write_text(json.dumps(recorded, indent=1) + "\n")


if __name__ == "__main__":
    main()
