"""The explorer's web application (Starlette): its page, its own JSON routes, and the API for
programs (:mod:`rnnlab.api.app`, under ``/v1/``), behind one set of guards.

The page lists the models (``GET /v1/models``), generates (``/v1/generate`` with a ``trace``:
a stream of server-sent events with the chosen state vector beside each symbol) and talks to a
chatbot (``/v1/chat``) through the API. Its own routes (every call a POST of a JSON object,
answered with JSON) are the views that need a session or no model:

- ``GET /``, ``/explorer.js``, ``/explorer.css``: the page, from the package (no other path);
- ``/api/read`` {session, model, text, layer, state, known}: the session's reader reads
  ``text`` (stepping only past the prefix it already read); the answer holds the steps from
  min(kept prefix, ``known``) on: symbol, unknown, surprisal (bits), top next symbols, and the
  chosen state vector (``layer``, ``state`` h or c) as base64 little-endian float32;
- ``/api/units`` {session, model}: the units that best track quotes, brackets and the position
  in the line over the text the session read (:func:`rnnlab.insight.states.best_units`);
- ``/api/gradients`` {model}: the measured gradient norms through time;
- ``/api/toy`` {scale, nonlinearity}: the lesson's vanishing gradient on a small fresh RNN;
- ``/api/game/start`` {session, model, length, seed} and ``/api/game/guess`` {session, model,
  guess}: the RNN game (:mod:`rnnlab.explore.game`);
- ``/api/classify`` {model, text}: a classifier's prediction after every prefix.

A session is a string the page makes (8 to 64 letters, digits, ``-``, ``_``); the server keeps
the last ``MAX_SESSIONS`` in memory (readers, game rounds, scores; nothing is written) and
forgets the least recently used. Limits: a request body of ``MAX_BODY`` bytes, a text of
``MAX_READ`` symbols (``MAX_PREFIXES`` for a classifier). A bad request (malformed JSON, a wrong
field, an unknown model or session, a text over a limit) gets a 4xx answer ``{"error": one
line}``; nothing a request holds reaches the file system. Every answer carries a
Content-Security-Policy that allows only this origin's own script, styles and connections.
Model work is bounded and taken in turns (:mod:`rnnlab.api.turns`): past ``CAPACITY`` requests
in progress the answer is 503 with ``Retry-After``, and a long read lets other requests run
between its pieces. Guards around the whole application: the ``Host`` check, a bearer token
when given, CORS only for the origins given.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import OrderedDict
from importlib import resources

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rnnlab.api.app import HANDLERS, Api, BadRequest, BearerToken, body_of, floats
from rnnlab.api.limits import Limits
from rnnlab.api.turns import Turns
from rnnlab.explore.game import MAX_ROUND, ROUND, Round
from rnnlab.explore.reading import MAX_READ, Reader
from rnnlab.explore.served import Served, prefix_predictions, toy_flow
from rnnlab.insight.states import StateReport, best_units

MAX_BODY = 64 * 1024
MAX_SESSIONS = 16
READ_SLICE = 16  # symbols a read steps through before other requests get a turn
SESSION = re.compile(r"[A-Za-z0-9_-]{8,64}")
PAGE = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/explorer.js": ("explorer.js", "text/javascript; charset=utf-8"),
    "/explorer.css": ("explorer.css", "text/css; charset=utf-8"),
}
HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class Session:
    """What one page holds on the server: a reader and a game round per model, and the lock
    that its requests take in turn (held across the slices of one request)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.readers: dict[str, Reader] = {}
        self.rounds: dict[str, Round] = {}


class Sessions:
    """The last MAX_SESSIONS sessions by id, least recently used forgotten first."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self.limit, self.lock = limit, threading.Lock()
        self.held: OrderedDict[str, Session] = OrderedDict()

    def get(self, key: object) -> Session:
        if not isinstance(key, str) or not SESSION.fullmatch(key):
            raise BadRequest("session must be 8 to 64 letters, digits, - or _")
        with self.lock:
            session = self.held.pop(key, None) or Session()
            self.held[key] = session
            while len(self.held) > self.limit:
                self.held.popitem(last=False)
            return session


class Fields:
    """The fields of a request's JSON object, each checked as it is taken."""

    def __init__(self, data: object) -> None:
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object")
        self.data = data

    def get(self, name: str, kind: type | tuple, default=None, required: bool = False):
        value = self.data.get(name, default)
        if value is None:
            if required:
                raise BadRequest(f"{name} is required")
            return None
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise BadRequest(f"{name} must be {_kind_name(kind)}")
        if not isinstance(value, kind):
            raise BadRequest(f"{name} must be {_kind_name(kind)}")
        return value

    def text(self, name: str, limit: int, default: str | None = None) -> str:
        value = self.get(name, str, default, required=default is None)
        if len(value) > limit:
            raise BadRequest(f"{name} has {len(value):,} characters; at most {limit:,}", 413)
        return value

    def number(self, name: str, default: float | None, low: float, high: float) -> float | None:
        value = self.get(name, (int, float), default)
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise BadRequest(f"{name} must be a number in [{low:g}, {high:g}], got {value}")
        return value

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        value = self.get(name, int, default)
        if value is not None and not low <= value <= high:
            raise BadRequest(f"{name} must be an integer in [{low}, {high}], got {value}")
        return value


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    names |= {list: "a list"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds if k is not int or float not in kinds))


#: the host names a request may carry by default: this machine's loopback names
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def create_app(
    served: dict[str, Served],
    hosts: tuple[str, ...] = (),
    turns: Turns | None = None,
    *,
    limits: Limits | None = None,
    token: str | None = None,
    cors: tuple[str, ...] = (),
    precision: str = "auto",
    fused: bool = False,
) -> Starlette:
    """The page and the API (:mod:`rnnlab.api.app`) over ``served`` (models by id), answering
    requests whose ``Host`` is a loopback name or one of ``hosts`` (see :class:`HostCheck`),
    its model work bounded and run in turns by ``turns`` (see :mod:`rnnlab.api.turns`).
    ``token``: the API asks for it (``Authorization: Bearer``); ``cors``: the origins whose
    pages may call the API (none by default); ``precision``: generation's products (see
    :func:`rnnlab.kernels.resolve_precision`); ``fused``: generation's step compiled (see
    :class:`rnnlab.fused.Warming`)."""
    sessions = Sessions()
    turns = turns or Turns()

    async def answer(work, *args) -> Response:
        """A small request's work, admitted and run as one slice."""
        with turns.admitted():
            return JSONResponse(await turns.run(work, *args))

    page = {
        path: (resources.files("rnnlab.explore").joinpath("static", name).read_bytes(), kind)
        for path, (name, kind) in PAGE.items()
    }

    async def fields(request: Request) -> Fields:
        body = await body_of(request, MAX_BODY)
        try:
            return Fields(json.loads(body))
        except (ValueError, RecursionError):
            raise BadRequest("the request body is not valid JSON") from None

    def model_of(f: Fields, kind: str | None = "language") -> Served:
        key = f.get("model", str, required=True)
        if key not in served:
            raise BadRequest(f"no model {key[:64]!r} is served here", 404)
        if kind is not None and served[key].kind != kind:
            raise BadRequest(f"model {key!r} is not a {kind} model")
        return served[key]

    def view(f: Fields, model: Served) -> tuple[int, int]:
        """The state vector a request asks to see: (layer, 0 for h or 1 for c)."""
        layers = model.model.settings["num_layers"]
        layer = f.integer("layer", layers - 1, 0, layers - 1)
        names = model.states
        state = f.get("state", str, names[0])
        if state not in names:
            raise BadRequest(f"state must be one of {', '.join(names)}, got {state[:16]!r}")
        return layer, names.index(state)

    async def page_file(request: Request) -> Response:
        data, kind = page[request.url.path]
        return Response(data, media_type=kind)

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    async def read(request: Request) -> Response:
        f = await fields(request)
        model, session = model_of(f), sessions.get(f.get("session", str, required=True))
        text = f.text("text", MAX_READ * 8, "")
        layer, which = view(f, model)
        known = f.integer("known", 0, 0, 10**9)

        def shown(reader: Reader, start: int) -> dict:
            steps = [
                {
                    "symbol": s.symbol,
                    "unknown": s.unknown,
                    "surprisal": s.surprisal,
                    "top": s.top,
                    "values": floats(s.states[layer][which]),
                }
                for s in reader.steps(start)
            ]
            server_ms = (time.perf_counter() - started) * 1000
            return {"start": start, "length": len(reader), "steps": steps, "server_ms": server_ms}

        started = time.perf_counter()
        async with session.lock:
            with turns.admitted():
                reader = session.readers.get(model.id) or Reader(model.model, model.step)
                session.readers[model.id] = reader
                pieces = reader.reading(text, every=READ_SLICE)
                while (piece := await turns.run(next, pieces, None)) is not None:
                    kept = piece
                return JSONResponse(await turns.run(shown, reader, min(kept, known)))

    async def units(request: Request) -> Response:
        f = await fields(request)
        model, session = model_of(f), sessions.get(f.get("session", str, required=True))
        asked = f.get("state", str, model.states[0])
        which = model.states.index(asked) if asked in model.states else 0

        def work() -> dict:
            reader = session.readers.get(model.id)
            if reader is None or len(reader) == 0:
                raise BadRequest("read a text first")
            layers = model.model.settings["num_layers"]
            report = StateReport(
                list(reader.tokens),
                [reader.state_vectors(layer, which).numpy() for layer in range(layers)],
                [],
            )
            return {"units": [vars(m) for m in best_units(report)]}

        async with session.lock:
            return await answer(work)

    async def gradients(request: Request) -> Response:
        model = model_of(await fields(request))

        def work() -> dict:
            with model.lock:
                return model.gradients()

        return await answer(work)

    toy_lock = threading.Lock()

    async def toy(request: Request) -> Response:
        f = await fields(request)
        scale = f.number("scale", 1.0, 0.05, 3.0)
        nonlinearity = f.get("nonlinearity", str, "tanh")

        def work() -> dict:
            with toy_lock:
                return {"norms": toy_flow(scale, nonlinearity)}

        return await answer(work)

    async def game_start(request: Request) -> Response:
        f = await fields(request)
        model, session = model_of(f), sessions.get(f.get("session", str, required=True))
        length = f.integer("length", ROUND, 1, MAX_ROUND)
        seed = f.integer("seed", None, 0, 2**63 - 1)

        def work() -> dict:
            tokens = model.heldout()
            game = Round(model.model, tokens, length, seed, model.step)
            session.rounds[model.id] = game
            return {"lead": game.lead, "then": game.shown, **game.score()}

        async with session.lock:
            return await answer(work)

    async def game_guess(request: Request) -> Response:
        f = await fields(request)
        model, session = model_of(f), sessions.get(f.get("session", str, required=True))
        guess = f.text("guess", 100)

        def work() -> dict:
            game = session.rounds.get(model.id)
            if game is None:
                raise BadRequest("no round in progress; start one", 409)
            if game.done:
                raise BadRequest("the round is over; start a new one", 409)
            return game.guess(guess)

        async with session.lock:
            return await answer(work)

    async def classify(request: Request) -> Response:
        f = await fields(request)
        model = model_of(f, "classifier")
        text = f.text("text", MAX_READ * 8)

        def work() -> dict:
            with model.lock:
                return prefix_predictions(model.model, text)

        return await answer(work)

    api = [
        ("read", read),
        ("units", units),
        ("gradients", gradients),
        ("toy", toy),
        ("game/start", game_start),
        ("game/guess", game_guess),
        ("classify", classify),
    ]
    routes = [Route(path, page_file) for path in PAGE]
    routes.append(Route("/favicon.ico", no_icon))
    routes += [Route(f"/api/{name}", endpoint, methods=["POST"]) for name, endpoint in api]
    api = Api(served, limits, turns, precision, fused)
    routes += api.routes(bearer=token is not None)
    app = Starlette(
        routes=routes,
        exception_handlers=HANDLERS,
    )
    guarded = app if token is None else BearerToken(app, token)
    if cors:
        guarded = CORSMiddleware(
            guarded,
            allow_origins=list(cors),
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
        )
    outer = HostCheck(SecurityHeaders(guarded), (*LOOPBACK_HOSTS, *hosts))
    outer.api = api  # what it serves, for a test or a benchmark to look at
    return outer


class HostCheck:
    """ASGI middleware that answers only requests whose ``Host`` header names ``hosts`` (any
    port; case does not matter): a web page of another site that makes its name resolve to
    this machine (DNS rebinding) sends its own name, and gets a 400 with a one-line JSON
    message instead of the models."""

    def __init__(self, app, hosts: tuple[str, ...]) -> None:
        self.app, self.hosts = app, {h.lower().strip("[]") for h in hosts}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host", "")
            if host_name(host) not in self.hosts:
                shown = host[:100] or "(none)"
                answer = JSONResponse({"error": f"host {shown!r} is not served here"}, 400)
                return await SecurityHeaders(answer)(scope, receive, send)
        return await self.app(scope, receive, send)


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without its port: ``[::1]:8000`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 address, maybe with a port after the bracket
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:  # a name or an IPv4 address with a port
        return host.split(":", 1)[0]
    return host  # a bare name, or a bare IPv6 address


class SecurityHeaders:
    """ASGI middleware that adds HEADERS to every HTTP answer."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.encode(), v.encode()) for k, v in HEADERS.items()),
                ]
            await send(message)

        return await self.app(scope, receive, with_headers)
