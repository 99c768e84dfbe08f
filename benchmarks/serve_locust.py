"""The locust user of ``benchmarks/serve.py``: each user asks ``POST /v1/generate`` for a stream of
LENGTH symbols, again and again, and reports two timings per request as locust events:
``first symbol`` (from sending the request to the first symbol event) and ``complete`` (to the
end event; its response length is the number of symbols received). A refusal (503) is a
failure named by its status."""

from __future__ import annotations

import json
import os
import time

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

MODEL = os.environ.get("RNNLAB_BENCH_MODEL", "lm")
LENGTH = int(os.environ.get("RNNLAB_BENCH_LENGTH", "200"))
PRIME = "ROMEO:\n"


class Generating(FastHttpUser):
    wait_time = constant(0)

    @task
    def generate(self) -> None:
        body = {"model": MODEL, "prime": PRIME, "length": LENGTH, "stream": True}
        fire = self.environment.events.request.fire
        started = time.perf_counter()
        first, symbols, event, failure = None, 0, None, None
        with self.client.post(
            "/v1/generate", json=body, stream=True, name="generate", catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure(f"status {answer.status_code}")
                return
            # line by line as the lines arrive (geventhttpclient's reader; locust's iter_content
            # waits for whole chunks of its size)
            while line := answer._response.readline(b"\n"):
                if line.startswith(b"event: "):
                    event = line[7:].strip().decode()
                elif line.startswith(b"data: ") and event == "symbol":
                    if first is None:
                        first = time.perf_counter()
                        fire(request_type="SSE", name="first symbol",
                             response_time=(first - started) * 1000, response_length=0,
                             exception=None, context={})  # fmt: skip
                    symbols += json.loads(line[6:])["symbols"]
                elif line.startswith(b"data: ") and event == "error":
                    failure = RuntimeError(json.loads(line[6:])["error"])
            answer.success()
        short = None if symbols == LENGTH else RuntimeError(f"{symbols} of {LENGTH} symbols")
        fire(request_type="SSE", name="complete",
             response_time=(time.perf_counter() - started) * 1000, response_length=symbols,
             exception=failure or short, context={})  # fmt: skip
