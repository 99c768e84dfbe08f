"""Beyond one machine's memory and one process: the measurements of issue 21.

Part 1, a corpus larger than memory: a generated text of ``--size`` bytes (lines of tiny
Shakespeare in a seeded random order) is encoded into the token cache (passes timed alone), then
``rnnlab train --budget 60`` runs on it from a cold cache, then ``evaluate`` and ``generate``
run on the result; every command's peak resident memory is the "Maximum resident set size"
that ``/usr/bin/time -v`` reports.

Part 2, two processes: ``torchrun --standalone --nproc_per_node 2`` (2 ranks x 1 thread, gloo)
against one process with 2 threads, the same global batch, ``--budget 120`` each, one after
the other, on tiny Shakespeare: characters per second and the best validation loss.

Usage: python benchmarks/scale.py [--size 2e9] [--budget 60] [--ddp-budget 120] [--work DIR]
Writes benchmarks/scale/results.json (appends an entry).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "src"))

from rnnlab.bench.machine import describe, peaks  # noqa: E402
from rnnlab.data.text import SHARED_DATA  # noqa: E402

SHAKESPEARE = SHARED_DATA / "tinyshakespeare.txt"
RESULTS = HERE / "scale" / "results.json"


def generate(path: Path, size: int) -> None:
    """``size`` bytes (about) of tiny Shakespeare's lines in a seeded random order."""
    lines = SHAKESPEARE.read_text(encoding="utf-8").splitlines(keepends=True)
    rng = np.random.default_rng(0)
    written = 0
    with open(path, "w", encoding="utf-8") as file:
        while written < size:
            block = "".join(lines[i] for i in rng.integers(0, len(lines), 100_000))
            file.write(block)
            written += len(block)


def timed(command: list[str], env: dict) -> dict:
    """Run ``command`` under ``/usr/bin/time -v``: its output, wall seconds and peak RSS."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1])
    print(f"  {' '.join(command[:4])} ...: {seconds:.1f} s, peak RSS {rss_kb / 2**20:.2f} GiB")
    return {"seconds": seconds, "peak_rss_gib": rss_kb / 2**20, "stdout": done.stdout}


def rnnlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnnlab", *args]


def encoding_speed(text: Path, work: Path, env: dict) -> dict:
    """The two passes of the token cache over ``text`` at the char level, timed alone."""
    print(f"encoding {text.name} alone ...")
    probe = (
        "import time; from rnnlab.data import tokens as t; from pathlib import Path;"
        f"files = t.text_files([{str(text)!r}]);"
        "r = t._Reader(files, 'char', 'utf-8'); a = time.perf_counter();"
        "v = t._count(r, 'char', None, False); b = time.perf_counter();"
        f"t._encode(r, v, Path({str(work / 'probe.ids')!r}), False, check=False);"
        "c = time.perf_counter(); from rnnlab.data.text import sources_digest, file_digest;"
        f"sources_digest(files); file_digest(Path({str(work / 'probe.ids')!r}));"
        "d = time.perf_counter();"
        "print(b - a, c - b, d - c)"
    )
    run = timed([sys.executable, "-c", probe], env)
    count_s, encode_s, check_s = map(float, run["stdout"].split())
    (work / "probe.ids").unlink()
    size = text.stat().st_size / 1e6
    found = {
        "megabytes": size,
        "vocabulary_pass_mb_s": size / count_s,
        "encoding_pass_mb_s": size / encode_s,
        "both_passes_mb_s": size / (count_s + encode_s),
        # the cache entry's check before every use: the text's and the token file's digests
        "integrity_check_mb_s": size / check_s,
        "peak_rss_gib": run["peak_rss_gib"],
    }
    print(f"  {found}")
    return found


def large_corpus(work: Path, size: int, budget: float, env: dict) -> dict:
    text = work / "big.txt"
    if not text.is_file() or text.stat().st_size < size:
        print(f"generating {size / 1e9:.2f} GB of text in {text} ...")
        generate(text, size)
    real_size = text.stat().st_size
    found: dict = {"text_bytes": real_size}

    found["encoding"] = encoding_speed(text, work, env)
    accented = work / "accented.txt"  # every chunk holds non-ASCII characters: the slow path
    if not accented.is_file():
        with open(text, encoding="utf-8") as source:
            accented.write_text(source.read(200_000_000).replace("the ", "thé "), "utf-8")
    found["encoding_non_ascii_200mb"] = encoding_speed(accented, work, env)

    shutil.rmtree(work / "cache", ignore_errors=True)
    shutil.rmtree(work / "run", ignore_errors=True)
    print(f"rnnlab train --budget {budget:g} (cold cache: encodes first) ...")
    train = timed(
        rnnlab("train", "--text", str(text), "--out", str(work / "run"), "--budget", str(budget)),
        env,
    )
    found["train"] = {k: v for k, v in train.items() if k != "stdout"}
    found["train"]["lines"] = [
        line for line in train["stdout"].splitlines() if line.startswith(("trained", "batch"))
    ]
    print(f"  {found['train']['lines']}")

    print("rnnlab train again (the cache reused) ...")
    shutil.rmtree(work / "run2", ignore_errors=True)
    again = timed(
        rnnlab(
            "train",
            "--text",
            str(text),
            "--out",
            str(work / "run2"),
            "--budget",
            "5",
            "--sample-length",
            "0",
        ),
        env,
    )
    found["train_cached_5s"] = {k: v for k, v in again.items() if k != "stdout"}

    print("rnnlab evaluate --limit 1000000 and generate ...")
    evaluate = timed(
        rnnlab("evaluate", str(work / "run"), "--text", str(text), "--limit", "1000000"), env
    )
    found["evaluate"] = {
        "seconds": evaluate["seconds"],
        "peak_rss_gib": evaluate["peak_rss_gib"],
        "line": evaluate["stdout"].strip(),
    }
    generated = timed(rnnlab("generate", str(work / "run"), "--length", "300", "--seed", "0"), env)
    found["generate"] = {
        "seconds": generated["seconds"],
        "peak_rss_gib": generated["peak_rss_gib"],
        "sample": generated["stdout"][:300],
    }
    return found


def two_ranks(work: Path, budget: float, env: dict) -> dict:
    found = {}
    common = ["--text", str(SHAKESPEARE), "--budget", str(budget), "--sample-length", "0"]
    runs = {
        "1 process x 2 threads": (rnnlab("train", *common, "--out", str(work / "one")), {}),
        "2 ranks x 1 thread": (
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc_per_node",
                "2",
                "-m",
                "rnnlab",
                "train",
                *common,
                "--out",
                str(work / "two"),
            ],
            {"OMP_NUM_THREADS": "1"},
        ),
    }
    for name, (command, extra) in runs.items():
        shutil.rmtree(work / ("one" if "process" in name else "two"), ignore_errors=True)
        print(f"{name}: --budget {budget:g} on tiny Shakespeare ...")
        run = timed(command, env | extra)
        summary = next(line for line in run["stdout"].splitlines() if line.startswith("trained"))
        steps, seconds = (
            float(v) for v in re.search(r"trained (\d+) steps .* in (\d+) s", summary).groups()
        )
        best = float(re.search(r"best validation ([\d.]+) nats", summary)[1])
        batch = next(line for line in run["stdout"].splitlines() if line.startswith("batch"))
        found[name] = {
            "steps": int(steps),
            "chars_per_s": steps * 32 * 64 / seconds,
            "best_val_nats_per_char": best,
            "batch": batch,
            "summary": summary,
        }
        print(f"  {found[name]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=2e9, help="bytes of generated text")
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--ddp-budget", type=float, default=120)
    parser.add_argument(
        "--work", type=Path, help="where the text and runs go (default: a temp dir)"
    )
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--skip-ddp", action="store_true")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="rnnlab-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"RNNLAB_CACHE": str(work / "cache"), "PYTHONPATH": str(HERE.parent / "src")}
    entry: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": describe(),
        "peaks_start": peaks(),
    }
    if not args.skip_corpus:
        entry["large_corpus"] = large_corpus(work, int(args.size), args.budget, env)
    if not args.skip_ddp:
        entry["two_ranks"] = two_ranks(work, args.ddp_budget, env)
    entry["peaks_end"] = peaks()
    RESULTS.parent.mkdir(exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    results.append(entry)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
