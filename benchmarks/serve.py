"""``rnnlab serve`` under load, measured with locust (headless): a 2 x 512 character LSTM, each
client asking ``/v1/generate`` for a stream of 200 symbols again and again.

    python benchmarks/serve.py                       # trains the LSTM for 60 s first (once)
    python benchmarks/serve.py --checkpoint DIR      # a 2 x 512 char LSTM already trained
    python benchmarks/serve.py --seconds 10 --memory 0 --clients 1 8   # a quick look

For 1, 8, 64 and 256 concurrent clients (each with no pause between requests), and for 64
clients served one at a time (``--max-streams 1``: the batch holds one stream, the others
queue), it records the symbols per second received by all clients together, the time to the
first symbol and to completion (p50, p95), the requests done and refused. Then one run of
``--memory`` seconds at 256 clients samples the server's resident memory every 10 s. The server
and locust are separate processes on the same 2 cores (locust's parsing competes with the
server, as a client on the same machine would).

The server compiles its generation step (``--fused on``, the default; the load starts once
``/v1/models`` says the compiled step is running) or steps eagerly (``--fused off``). Writes
``benchmarks/serve/results.json`` (``results-eager.json`` with ``--fused off``) and prints a
Markdown table; RESULTS.md records it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from rnnlab.bench.machine import describe, peaks
from rnnlab.data.text import SHARED_DATA

HERE = Path(__file__).resolve().parent
WORK = HERE.parents[0] / "build" / "serve-bench"
LOCUSTFILE = HERE / "serve_locust.py"
TEXT = SHARED_DATA / "tinyshakespeare.txt"
LENGTH = 200


def checkpoint(given: str | None, budget: float) -> Path:
    """The model to serve: ``given``, or a 2 x 512 LSTM trained on tiny Shakespeare once."""
    if given:
        return Path(given)
    out = WORK / "lm"
    if not (out / "model.safetensors").is_file():
        subprocess.run(
            [sys.executable, "-m", "rnnlab", "train", "--text", str(TEXT), "--out", str(out),
             "--hidden", "512", "--layers", "2", "--budget", str(budget), "--sample-length", "0"],
            check=True,
        )  # fmt: skip
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``rnnlab serve`` in its own process, ready when ``/v1/models`` answers."""

    def __init__(self, model: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rnnlab", "serve", str(model), "--port", str(self.port),
             *options],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{self.url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.2)
        # one request first: the batch's step function is built on the first generation, and
        # compiled in the server's background (with --fused on): the load waits for it
        body = {"model": "lm", "length": 20, "stream": False}
        httpx2.post(f"{self.url}/v1/generate", json=body, timeout=60).raise_for_status()
        while "--fused" not in options or options[options.index("--fused") + 1] == "on":
            models = httpx2.get(f"{self.url}/v1/models", timeout=10).json()["models"]
            if models[0]["generation"] == "inductor-fused" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        models = httpx2.get(f"{self.url}/v1/models", timeout=10).json()["models"]
        self.generation = models[0]["generation"]

    def rss(self) -> int:
        """The server's resident memory, bytes."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def load(server: Server, clients: int, seconds: float, watch=None) -> dict:
    """locust against ``server`` with ``clients`` users for ``seconds``; its figures (locust's
    own CSV files are left in build/serve-bench/locust)."""
    prefix = WORK / "locust" / f"clients-{clients}"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RNNLAB_BENCH_MODEL="lm", RNNLAB_BENCH_LENGTH=str(LENGTH))
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
               "-u", str(clients), "-r", str(clients), "-t", f"{seconds:g}s", "--host",
               server.url, "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR",
               "--stop-timeout", "30"]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples = []
    while process.poll() is None:
        if watch is not None:
            samples.append((time.monotonic() - started, watch()))
        time.sleep(10 if watch is not None else 0.5)
    elapsed = time.monotonic() - started
    with open(f"{prefix}_stats.csv") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    with open(f"{prefix}_failures.csv") as f:
        failures = {f"{row['Name']}: {row['Error']}": int(row["Occurrences"])
                    for row in csv.DictReader(f)}  # fmt: skip
    done, first = rows["complete"], rows["first symbol"]
    symbols = float(done["Average Content Size"]) * int(done["Request Count"])
    return {
        "clients": clients,
        "seconds": float(seconds),
        "elapsed": elapsed,
        "requests": int(done["Request Count"]),
        "failed": int(done["Failure Count"]) + int(rows["generate"]["Failure Count"]),
        "failures": failures,
        "symbols_per_s": symbols / float(seconds),
        "first_p50_ms": float(first["50%"]),
        "first_p95_ms": float(first["95%"]),
        "complete_p50_ms": float(done["50%"]),
        "complete_p95_ms": float(done["95%"]),
        "rss": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="a 2 x 512 char LSTM (default: train one, 60 s)")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=40.0, help="per load level (40)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--memory", type=float, default=300.0, help="the memory run (300 s)")
    parser.add_argument(
        "--fused", choices=("on", "off"), default="on", help="the server's --fused (on)"
    )
    args = parser.parse_args()
    fused = ("--fused", args.fused)
    model = checkpoint(args.checkpoint, args.budget)
    out = HERE / "serve"
    out.mkdir(exist_ok=True)
    link = WORK / "models" / "lm"  # served under the id "lm"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(model.resolve())
    results = {"machine": describe(), "peaks": peaks(), "python": platform.python_version(),
               "length": LENGTH, "runs": []}  # fmt: skip
    server = Server(link, *fused)
    results["generation"] = server.generation
    try:
        for clients in args.clients:
            results["runs"].append(load(server, clients, args.seconds) | {"batch": "on"})
            print(json.dumps(results["runs"][-1]), flush=True)
    finally:
        server.close()
    one = Server(link, "--max-streams", "1", *fused)
    try:
        run = load(one, 64, args.seconds) | {"batch": "one at a time"}
        results["runs"].append(run)
        print(json.dumps(run), flush=True)
    finally:
        one.close()
    if args.memory:
        server = Server(link, *fused)
        try:
            run = load(server, 256, args.memory, watch=server.rss) | {"batch": "memory"}
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
        finally:
            server.close()
    name = "results.json" if args.fused == "on" else "results-eager.json"
    (out / name).write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{results['machine']}; peaks {results['peaks']}; step {server.generation}\n")
    print("| clients | batching | symbols/s | first symbol p50 / p95 (ms) | complete p50 / p95 (ms)"
          " | requests | refused or failed |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results["runs"]:
        print(f"| {r['clients']} | {r['batch']} | {r['symbols_per_s']:,.0f} | "
              f"{r['first_p50_ms']:,.0f} / {r['first_p95_ms']:,.0f} | "
              f"{r['complete_p50_ms']:,.0f} / {r['complete_p95_ms']:,.0f} | {r['requests']:,} | "
              f"{r['failed']:,} |")  # fmt: skip


if __name__ == "__main__":
    main()
