"""The explorer's speed (rnnlab serve): keystroke to update, and generation into the page.

    python benchmarks/explorer.py            # about a minute; chromium for the page figures

A 2 x 512 LSTM character model (its weights do not change the cost; it is untrained) is
served by uvicorn on a free loopback port. Measured:

- per keystroke, over 200 symbols typed one at a time after a 500-symbol text: the server's
  time for the step (the ``server_ms`` of ``/api/read``) and the round trip from a Python
  client (httpx2), median and 95th percentile;
- in headless chromium (Playwright): the time from the input event to the redrawn heatmap, as
  the page measures it, while 60 symbols are typed; and the rate at which 1,000 generated
  symbols arrive in the page;
- a flood: 100 generations of 2,000 symbols and 100 reads of 2,000 characters sent at once,
  and the time a normal request sent as they start waits; then 12 and 12, within the
  server's capacity (``--flood-only``: these alone).

Prints JSON and writes ``benchmarks/explorer/results.json``, with the machine's measured peaks.
"""

from __future__ import annotations

import json
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import torch
import uvicorn

from rnnlab import LanguageModel
from rnnlab.bench.machine import describe, peaks
from rnnlab.data.text import python_sources
from rnnlab.data.vocab import Vocabulary
from rnnlab.explore import create_app, load_all
from rnnlab.explore.chromium import CHROMIUM, FLAGS


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[int(0.95 * (len(ordered) - 1))],
        "n": len(ordered),
    }


def main() -> None:
    text = python_sources(300_000)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as root:
        LanguageModel(Vocabulary.build("char", text), "lstm", 512, 2).save_pretrained(
            Path(root) / "lstm"
        )
        served = load_all([str(Path(root) / "lstm")])
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server = uvicorn.Server(uvicorn.Config(create_app(served), log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    typed = text[10_000:10_700]
    results = {"model": "2 x 512 LSTM, char", "machine": describe(), "peaks": peaks(quick=True)}
    server_ms, round_trip_ms = [], []
    # TCP_NODELAY, as browsers set it: without it the request's body waits for the server's
    # delayed acknowledgement of its headers (40 ms on Linux)
    nodelay = httpx2.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with httpx2.Client(base_url=url, timeout=30, transport=nodelay) as http:
        known = 0
        for n in range(500, 700):
            body = {"session": "bench-session", "model": "lstm", "text": typed[: n + 1]}
            started = time.perf_counter()
            answer = http.post("/api/read", json={**body, "known": known}).json()
            round_trip_ms.append((time.perf_counter() - started) * 1000)
            known = answer["length"]
            if n > 500:  # the first call reads the 500-symbol text
                server_ms.append(answer["server_ms"])
    results["keystroke_server_ms"] = percentiles(server_ms)
    results["keystroke_round_trip_ms"] = percentiles(round_trip_ms[1:])
    results["flood"] = flood(url, text)  # past the server's capacity
    results["small_flood"] = flood(url, text, each=12)  # within it
    if CHROMIUM.exists() and "--flood-only" not in sys.argv:
        results |= browser(url, typed)
    server.should_exit = True
    out = Path(__file__).parent / "explorer" / "results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def flood(url: str, text: str, each: int = 100) -> dict:
    """``each`` generations of 2,000 symbols and ``each`` reads of 2,000 characters sent at
    once, and while they start, a normal request (a 20-character read): how long it waited,
    and how the flood's requests were answered (200, or 503 when the server was full)."""
    limits = httpx2.Limits(max_connections=4 * each)

    def one(kind: int) -> int:
        with httpx2.Client(base_url=url, timeout=600, limits=limits) as http:
            if kind % 2:
                body = {"model": "lstm", "length": 2000, "seed": kind}
                with http.stream("POST", "/api/generate", json=body) as answer:
                    for _ in answer.iter_bytes():
                        pass
                    return answer.status_code
            body = {"session": f"flood-{kind:04d}", "model": "lstm", "text": text[:2000]}
            return http.post("/api/read", json=body).status_code

    with ThreadPoolExecutor(2 * each + 1) as pool:
        started = time.perf_counter()
        answers = [pool.submit(one, kind) for kind in range(2 * each)]
        time.sleep(0.5)
        with httpx2.Client(base_url=url, timeout=600) as http:
            asked = time.perf_counter()
            body = {"session": "normal-session", "model": "lstm", "text": "the cat sat on a mat"}
            status = http.post("/api/read", json=body).status_code
            waited = time.perf_counter() - asked
        codes = Counter(answer.result() for answer in answers)
    return {
        "normal_request_status": status,
        "normal_request_seconds": waited,
        "flood_answers": {str(code): count for code, count in sorted(codes.items())},
        "flood_seconds": time.perf_counter() - started,
    }


def browser(url: str, typed: str) -> dict:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(FLAGS)
        )
        page = chromium.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url)
        box = page.locator("#read-text")
        box.fill(typed[:500])
        expect(page.locator("#read-heatmap")).to_have_attribute("data-columns", "500")
        page_ms = []
        for n in range(500, 560):
            box.press_sequentially(typed[n])
            expect(page.locator("#read-heatmap")).to_have_attribute("data-columns", str(n + 1))
            status = page.text_content("#read-status")
            found = re.search(
                r"updated in ([\d.]+) ms \(answer ([\d.]+) ms.*drawing ([\d.]+)", status
            )
            page_ms.append([float(v) for v in found.groups()])
        page.click("button[data-view=generate]")
        page.fill("#gen-length", "1000")
        page.fill("#gen-prime", "def ")
        page.click("#gen-start")
        expect(page.locator("#gen-heatmap")).to_have_attribute(
            "data-columns", "1000", timeout=60_000
        )
        status = page.text_content("#gen-status")
        rate = float(re.search(r"\(([\d.]+) per second\)", status).group(1))
        chromium.close()
    total, answer, drawing = zip(*page_ms, strict=True)
    return {
        "keystroke_page_ms": percentiles(total),
        "keystroke_page_answer_ms": percentiles(answer),
        "keystroke_page_drawing_ms": percentiles(drawing),
        "generation_symbols_per_s_in_page": rate,
    }


if __name__ == "__main__":
    main()
