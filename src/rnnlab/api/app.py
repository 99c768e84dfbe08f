"""The API for programs: ``/v1/`` routes over the served models, their OpenAPI document, and the
guards in front of them.

Every endpoint (:data:`ENDPOINTS`) reads a JSON body validated by its model in
:mod:`rnnlab.api.schema` and answers JSON; ``/openapi.json`` is written from the same models and
``/docs`` from that document. Generation runs in each model's running batch
(:mod:`rnnlab.api.batcher`), streamed as Server-Sent Events (sse-starlette) on request;
classification requests are gathered into one padded forward; the rest run in turns
(:mod:`rnnlab.api.turns`), one request per model at a time.

Refusals: every one is one JSON line ``{"error", "field"}``: 400 (not JSON; what the model
cannot do, e.g. a character it never saw), 401 (no valid bearer token, when the server has
one), 404 (no such model), 413 (body over :class:`Limits`), 415 (media type), 422 (a field
missing, unknown, of the wrong type or out of bounds; ``field`` names it) and 503 with
``Retry-After`` (the queue is full, or the request ran past ``Limits.seconds``).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import math

import numpy as np
import torch
from pydantic import BaseModel, ValidationError
from sse_starlette.sse import EventSourceResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from rnnlab import __version__
from rnnlab.api import schema as s
from rnnlab.api.batcher import Gatherer, GenerationBatcher, Stream, seeded
from rnnlab.api.limits import Limits
from rnnlab.api.models import Served
from rnnlab.api.openapi import Endpoint, document, reference_page
from rnnlab.api.streaming import Made, Symbols
from rnnlab.api.turns import RETRY_AFTER, Busy, Turns
from rnnlab.generation import Sampling
from rnnlab.tasks.chat.dialogues import one_line
from rnnlab.tasks.chat.model import Decoding
from rnnlab.tasks.language.next_symbol import layer_states
from rnnlab.tasks.speech.audio import read_audio

ENDPOINTS = [
    Endpoint("models", "The served models: kind, size, held-out scores.", s.ModelsAnswer,
             method="get"),
    Endpoint("generate", "Continue a prime; seeded samples are reproducible.", s.GenerateAnswer,
             s.GenerateRequest, kinds=("language",), stream=True),
    Endpoint("next", "The likeliest next symbols (a word model: words) after a text.",
             s.NextAnswer, s.NextRequest, kinds=("language",)),
    Endpoint("score", "A text's log-probability and nats per symbol.", s.ScoreAnswer,
             s.ScoreRequest, kinds=("language",)),
    Endpoint("classify", "The likeliest labels of texts (or series).", s.ClassifyAnswer,
             s.ClassifyRequest, kinds=("classifier",)),
    Endpoint("translate", "Translate texts: greedy, or beam search.", s.TranslateAnswer,
             s.TranslateRequest, kinds=("translator",)),
    Endpoint("chat", "The reply to the last turn of a conversation the client keeps.",
             s.ChatAnswer, s.ChatRequest, kinds=("chatbot",)),
    Endpoint("transcribe", "The text of a recording (the body: a WAV file).",
             s.TranscribeAnswer, query=s.TranscribeQuery, body="audio/wav", kinds=("speech",)),
    Endpoint("forecast", "The next steps of a series, with intervals.", s.ForecastAnswer,
             s.ForecastRequest, kinds=("forecaster",)),
    Endpoint("generate-from-label", "Sequences generated for a label or a condition vector.",
             s.LabelAnswer, s.LabelRequest, kinds=("conditional",)),
]  # fmt: skip
BY_NAME = {e.name: e for e in ENDPOINTS}


class BadRequest(Exception):
    """A request the server refuses: ``status``, a one-line message, the field it is about."""

    def __init__(self, message: str, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.field = status, field


def validated(model: type[BaseModel], data: bytes | dict) -> BaseModel:
    """``data`` (a JSON body, or query parameters) as ``model``, or a 422 naming the field."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["type"] == "json_invalid":
            raise BadRequest("the request body is not valid JSON") from None
        if not where:
            raise BadRequest(
                f"the request body must be a JSON object: {first['msg']}", 422
            ) from None
        raise BadRequest(f"{where}: {first['msg']}", 422, where) from None


async def body_of(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) past ``limit`` bytes before more is read."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BadRequest(f"the request body is over {limit:,} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"the request body is over {limit:,} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def floats(vector: torch.Tensor) -> str:
    """A vector as base64 of little-endian float32 (how the explorer receives state vectors)."""
    return base64.b64encode(vector.detach().float().numpy().astype("<f4").tobytes()).decode()


class Api:
    """The ``/v1/`` routes over ``served``; see the module docstring."""

    def __init__(
        self,
        served: dict[str, Served],
        limits: Limits | None = None,
        turns: Turns | None = None,
        precision: str = "auto",
        fused: bool = False,
    ) -> None:
        self.served, self.limits, self.precision = served, limits or Limits(), precision
        self.fused = fused
        self.turns = turns or Turns()
        self.batchers: dict[str, GenerationBatcher] = {}
        self.gatherers: dict[str, Gatherer] = {}
        self.described = [
            dict(d, endpoints=_endpoints(d["kind"]))
            for d in (m.describe() for m in served.values())
        ]

    def routes(self, bearer: bool = False) -> list[Route]:
        kinds: dict[str, list[str]] = {}
        for key, served in self.served.items():
            kinds.setdefault(served.kind, []).append(key)
        doc = document(ENDPOINTS, "rnnlab API", __version__, bearer, kinds)
        page = reference_page(doc)

        async def openapi(request: Request) -> Response:
            return JSONResponse(doc)

        async def docs(request: Request) -> Response:
            return HTMLResponse(page)

        routes = [Route("/openapi.json", openapi), Route("/docs", docs)]
        for e in ENDPOINTS:
            handler = getattr(self, e.name.replace("-", "_"))
            routes.append(Route(e.path, handler, methods=[e.method.upper()]))
        return routes

    # -- shared steps ---------------------------------------------------------------------------

    def model_of(self, key: str, endpoint: str) -> Served:
        if key not in self.served:
            raise BadRequest(f"no model {key[:64]!r} is served here", 404, "model")
        served, kinds = self.served[key], BY_NAME[endpoint].kinds
        if served.kind not in kinds:
            raise BadRequest(
                f"model {key!r} is a {served.kind} model; /v1/{endpoint} serves "
                f"{' and '.join(kinds)} models",
                400,
                "model",
            )
        return served

    async def request(self, request: Request, endpoint: str) -> tuple[BaseModel, Served]:
        """The validated body of a JSON endpoint, and the model it names."""
        if not _json(request.headers):
            raise BadRequest("the request body must be JSON (content-type: application/json)", 415)
        asked = validated(BY_NAME[endpoint].request, await body_of(request, self.limits.body))
        return asked, self.model_of(asked.model, endpoint)

    async def run(self, served: Served, work, *args):
        """``work(*args)`` in a worker thread, holding the model, within the time limit."""

        def locked():
            with served.lock:
                return work(*args)

        with self.turns.admitted():
            return await self.within(self.turns.run(locked))

    async def within(self, work):
        """``await work`` within the request's time limit, or Busy (503) past it."""
        try:
            return await asyncio.wait_for(work, self.limits.seconds)
        except TimeoutError:
            raise Busy(f"the request took over {self.limits.seconds:g} s") from None

    # -- endpoints ------------------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        steps = {key: batcher.step.kernel for key, batcher in self.batchers.items()}
        models = [d | {"generation": steps.get(d["id"])} for d in self.described]
        return _answer(s.ModelsAnswer, models=models)

    async def next(self, request: Request) -> Response:
        asked, served = await self.request(request, "next")

        def work():  # in the worker thread, holding the model: its step is built there once
            return served.model.next_symbols(asked.text, asked.top, served.reading)

        found = await self.run(served, work)
        candidates = [{"symbol": symbol, "probability": p} for symbol, p in found]
        return _answer(s.NextAnswer, model=served.id, next=candidates)

    async def score(self, request: Request) -> Response:
        asked, served = await self.request(request, "score")

        def work():
            return served.model.score(asked.text, asked.context, served.reading)

        scored = await self.run(served, work)
        return _answer(
            s.ScoreAnswer,
            model=served.id,
            symbols=scored.symbols,
            log_prob=scored.log_prob,
            nats_per_symbol=scored.nats_per_symbol,
        )

    async def classify(self, request: Request) -> Response:
        asked, served = await self.request(request, "classify")
        model = served.model
        if (asked.series is None) == (asked.texts is None):
            raise BadRequest("give one of texts and series", 422, "texts")
        if model.series is None and asked.texts is None:
            raise BadRequest("this classifier reads texts; give texts", 422, "texts")
        if model.series is not None and asked.series is None:
            raise BadRequest("this classifier reads numeric series; give series", 422, "series")
        if asked.texts is not None:
            encoded = [model.encode(t, f"text {i + 1}") for i, t in enumerate(asked.texts)]
        else:
            encoded = [
                model.encode(_values(steps, f"series {i + 1}"), f"series {i + 1}")
                for i, steps in enumerate(asked.series)
            ]
        if served.id not in self.gatherers:

            def classified(ids: list) -> list:
                with served.lock:
                    return list(model.proba_of_ids(ids))

            self.gatherers[served.id] = Gatherer(classified)
        gatherer = self.gatherers[served.id]
        if gatherer.held + len(encoded) > self.limits.queue:
            raise Busy(f"the server is busy ({gatherer.held} texts waiting); try again in "
                       f"{RETRY_AFTER} s")  # fmt: skip
        probabilities = await self.within(gatherer(encoded))
        top = min(asked.top, len(model.labels))
        results = []
        for p in probabilities:
            values, order = p.topk(top)
            labels = [model.labels[i] for i in order.tolist()]
            results.append({"labels": [
                {"label": label, "probability": v}
                for label, v in zip(labels, values.tolist(), strict=True)
            ]})  # fmt: skip
        return _answer(s.ClassifyAnswer, model=served.id, results=results)

    async def translate(self, request: Request) -> Response:
        asked, served = await self.request(request, "translate")
        done = await self.run(served, served.model.translate, asked.texts, asked.beam, asked.alpha)
        translations = [{"text": t.text, "log_prob": t.log_prob} for t in done]
        return _answer(s.TranslateAnswer, model=served.id, translations=translations)

    async def chat(self, request: Request) -> Response:
        asked, served = await self.request(request, "chat")
        decoding = Decoding(beam=asked.beam, temperature=asked.temperature, diverse=asked.diverse)
        turns = [one_line(t) for t in asked.turns]
        generator = torch.Generator().manual_seed(asked.seed)
        reply = await self.run(served, served.model.reply, turns, decoding, generator)
        return _answer(
            s.ChatAnswer,
            model=served.id,
            reply=reply.text,
            log_prob=reply.log_prob,
            score=reply.score,
        )

    async def transcribe(self, request: Request) -> Response:
        asked = validated(s.TranscribeQuery, dict(request.query_params))
        served = self.model_of(asked.model, "transcribe")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("audio/wav", "audio/x-wav", "audio/wave", "application/octet-stream"):
            raise BadRequest("the request body must be a WAV file (content-type: audio/wav)", 415)
        data = await body_of(request, self.limits.audio)
        model = served.model

        def work() -> tuple[str, float]:
            samples = read_audio(data, model.sample_rate)
            return model.transcribe([samples], asked.beam)[0], len(samples) / model.sample_rate

        text, seconds = await self.run(served, work)
        return _answer(s.TranscribeAnswer, model=served.id, text=text, seconds=seconds)

    async def forecast(self, request: Request) -> Response:
        asked, served = await self.request(request, "forecast")
        history = _values(asked.history, "the history")
        made = await self.run(served, served.model.predict, history, asked.samples, asked.seed)
        return _answer(
            s.ForecastAnswer,
            model=served.id,
            targets=made.targets,
            interval=made.level,
            point=made.point.T.tolist(),
            lower=made.lower.T.tolist(),
            upper=made.upper.T.tolist(),
        )

    async def generate_from_label(self, request: Request) -> Response:
        asked, served = await self.request(request, "generate-from-label")
        if (asked.label is None) == (asked.vector is None):
            raise BadRequest("give one of label and vector", 422, "label")
        condition = asked.label if asked.label is not None else torch.tensor(asked.vector)
        generator = seeded(asked.seed)
        texts = await self.run(
            served,
            served.model.generate,
            condition,
            asked.count,
            asked.prime,
            asked.temperature,
            generator,
            asked.max_length,
        )
        return _answer(s.LabelAnswer, model=served.id, texts=texts)

    async def generate(self, request: Request) -> Response:
        asked, served = await self.request(request, "generate")
        model = served.model
        prime = model.vocab.encode(asked.prime or model.default_prime(), what="the prime")
        if len(prime) == 0:
            raise BadRequest("the prime holds no symbol", 422, "prime")
        sampling = Sampling(asked.temperature, asked.top_k, asked.top_p, asked.greedy)
        trace, symbols = self._trace(asked.trace, served), Symbols(asked.samples)
        seeds = [None if asked.seed is None else (asked.seed + k) % (s.MAX_SEED + 1)
                 for k in range(asked.samples)]  # fmt: skip
        streams = [Stream(prime, asked.length, sampling, seeded(seed), symbols, k, trace)
                   for k, seed in enumerate(seeds)]  # fmt: skip
        if served.id not in self.batchers:
            limits = self.limits
            self.batchers[served.id] = GenerationBatcher(
                model, limits.rows, limits.queue, self.precision, self.fused
            )
        self.batchers[served.id].start(streams)
        made = Made(served.id, streams, model.vocab, self.limits.seconds)
        if asked.stream:
            return EventSourceResponse(made.events(), ping=15, sep="\n")
        try:
            async for _ in made.pieces():
                if await request.is_disconnected():
                    return Response(status_code=499)  # the client went away: nothing to send
        finally:
            made.close()
        return _answer(s.GenerateAnswer, **made.answer())

    def _trace(self, trace: s.Trace | None, served: Served):
        if trace is None:
            return None
        layers = served.model.settings["num_layers"]
        if trace.layer >= layers:
            raise BadRequest(f"trace.layer: the model has {layers} layers", 422, "trace.layer")
        if trace.state not in served.states:
            names = ", ".join(served.states)
            raise BadRequest(f"trace.state: one of {names}", 422, "trace.state")
        layer, which = trace.layer, served.states.index(trace.state)
        return lambda state: floats(layer_states(state)[layer][which][0])


def _answer(kind: type[BaseModel], /, **fields) -> Response:
    """An answer, checked against its model ``kind``, as JSON."""
    return Response(kind(**fields).model_dump_json(), media_type="application/json")


def _json(headers: Headers) -> bool:
    kind = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    return kind == "application/json"


def _endpoints(kind: str) -> list[str]:
    return [e.path for e in ENDPOINTS if kind in e.kinds]


def _values(rows: list[list[float | None]], what: str) -> np.ndarray:
    """Rows of numbers and nulls as a float64 array (null: NaN, a missing value)."""
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise BadRequest(f"{what}: every row needs {width} values", 422)
    return np.array([[math.nan if v is None else v for v in row] for row in rows], np.float64)


async def refused(request: Request, error: Exception) -> Response:
    """The one-line JSON answer to a refused request."""
    headers, field = {}, None
    if isinstance(error, Busy):
        status, message, headers = 503, str(error), {"retry-after": str(RETRY_AFTER)}
    elif isinstance(error, BadRequest):
        status, message, field = error.status, str(error), error.field
    elif isinstance(error, HTTPException):
        status, message = error.status_code, error.detail
    else:  # a ValueError from the library: what the request asked cannot be done
        status, message = 400, " ".join(str(error).split())
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)


#: the exception handlers an application serving these routes installs
HANDLERS = {BadRequest: refused, Busy: refused, HTTPException: refused, ValueError: refused}


class BearerToken:
    """ASGI middleware: requests for ``/v1/`` and ``/api/`` need ``Authorization: Bearer
    TOKEN`` (compared in constant time); else 401 with a one-line JSON message."""

    def __init__(self, app, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(("/v1/", "/api/")):
            given = Headers(scope=scope).get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self.token):
                answer = JSONResponse(
                    {"error": "a valid token is needed: Authorization: Bearer TOKEN"},
                    401,
                    headers={"www-authenticate": "Bearer"},
                )
                return await answer(scope, receive, send)
        return await self.app(scope, receive, send)
