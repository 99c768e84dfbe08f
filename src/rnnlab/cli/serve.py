"""``rnnlab serve``: the explorer (:mod:`rnnlab.explore`) and the API for programs
(:mod:`rnnlab.api`) on one web server (uvicorn).

Guards: it listens on loopback by default; on any other address it needs ``--token SECRET``
(clients send ``Authorization: Bearer SECRET``) or an explicit ``--no-auth``, and refuses to start
without one of them. No page of another origin may call it unless ``--cors ORIGIN`` says so."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from rnnlab.api.limits import Limits
from rnnlab.cli.options import non_negative_int, positive_float, positive_int
from rnnlab.kernels import PRECISIONS

COMMAND = "serve"
LOOPBACK = "127.0.0.1"
PORT = 8000  # where the server listens by default
WILDCARDS = ("0.0.0.0", "::")  # addresses that listen on every interface
TOKEN_VARIABLE = "RNNLAB_SERVE_TOKEN"


def add_commands(commands) -> None:
    """Add ``serve`` to the ``rnnlab`` subcommands."""
    serve = commands.add_parser(
        COMMAND,
        help="serve models: a JSON API for programs (/v1/, /docs) and the explorer page",
        description="Serve the models of every DIR: a JSON API for programs under /v1/ "
        "(generate, next, score, classify, translate, chat, transcribe, forecast, "
        "generate-from-label, models; "
        "described at /openapi.json and /docs), with generation streams batched across "
        "clients; and a web page where you type a text and watch a model read it (hidden "
        "states as a heatmap, next-symbol probabilities, surprisal), generate from it, look at "
        "its gradient flow, and play the RNN game against it; a classifier shows its prediction "
        "after every prefix. With no DIR, a default model is trained on the built-in corpus on "
        "first use (about 40 s) and kept in the cache.",
    )
    serve.add_argument("checkpoints", nargs="*", metavar="DIR", help="checkpoint directories")
    serve.add_argument(
        "--host", default=LOOPBACK, help=f"address to listen on ({LOOPBACK}: this machine only)"
    )
    serve.add_argument("--port", type=_port, default=PORT, help=f"({PORT}; 0: any free port)")
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to this host name (loopback names and --host "
        "always are; any other Host header is refused, against DNS rebinding)",
    )
    guards = serve.add_argument_group("guards (a non-loopback --host needs --token or --no-auth)")
    guards.add_argument(
        "--token",
        metavar="SECRET",
        default=os.environ.get(TOKEN_VARIABLE),
        help="clients must send 'Authorization: Bearer SECRET' to /v1/ and /api/ (open the "
        f"page as http://HOST:PORT/#token=SECRET); default: ${TOKEN_VARIABLE}, which other "
        "users of this machine cannot read in the process list",
    )
    guards.add_argument(
        "--no-auth",
        action="store_true",
        help="serve a non-loopback address without a token: anyone who reaches it may use it",
    )
    guards.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages of ORIGIN (e.g. https://example.com) call the API; none by default",
    )
    limits = Limits()
    guards.add_argument(
        "--max-streams",
        type=positive_int,
        default=limits.rows,
        metavar="N",
        help=f"generation streams stepped together per model ({limits.rows})",
    )
    guards.add_argument(
        "--queue",
        type=non_negative_int,
        default=limits.queue,
        metavar="N",
        help=f"streams that may wait for a place; past it, 503 ({limits.queue})",
    )
    guards.add_argument(
        "--timeout",
        type=positive_float,
        default=limits.seconds,
        metavar="SECONDS",
        help=f"one request's time at most; past it, 503 ({limits.seconds:g})",
    )
    serve.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="generation's products (auto: bfloat16 where the hardware multiplies in it)",
    )
    serve.add_argument(
        "--fused",
        choices=("on", "off"),
        default="on",
        help="generation's step compiled into one program, in the background while the first "
        "requests are served eagerly (on)",
    )
    serve.add_argument(
        "--text",
        metavar="FILE",
        help="held-out text for the game and the gradient view (default: each checkpoint's "
        "validation split of the text it was trained on)",
    )
    serve.set_defaults(run=_run_serve)


def _port(text: str) -> int:
    port = non_negative_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number, 0 to 65535, got {text}")
    return port


def _run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rnnlab.explore import create_app, default_checkpoint, load_all
    from rnnlab.explore.app import LOOPBACK_HOSTS

    if args.host not in LOOPBACK_HOSTS and args.token is None and not args.no_auth:
        raise ValueError(
            f"--host {args.host} lets other machines in: give --token SECRET (clients send "
            "'Authorization: Bearer SECRET') or --no-auth to serve without one"
        )
    if args.token is not None and (len(args.token) < 8 or not args.token.isprintable()):
        raise ValueError("--token must be at least 8 printable characters")
    directories = args.checkpoints or [str(default_checkpoint(echo=_say))]
    served = load_all(directories, args.text)
    if args.host not in LOOPBACK_HOSTS and args.token is None:
        _say(
            f"warning: listening on {args.host} with --no-auth: anyone who can reach it may use it"
        )
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # answers go out at once: the page's update per keystroke is one small request and answer,
    # and Nagle's algorithm would hold its body back for the client's delayed ACK (40 ms)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as error:
        sock.close()
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {error.strerror}") from None
    sock.listen(128)
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    names = ", ".join(f"{key} ({s.kind})" for key, s in served.items())
    print(f"serving {names}", flush=True)
    fragment = "" if args.token is None else "#token=SECRET"
    print(f"open http://{shown}:{port}/{fragment} in a browser (Ctrl-C stops)", flush=True)
    print(f"API: http://{shown}:{port}/v1/ (reference: /docs, /openapi.json)", flush=True)
    hosts = (*args.allow_host, args.host)
    if args.host in WILDCARDS:  # every interface: this machine's own names too
        hosts += (socket.gethostname(), socket.getfqdn())
    limits = Limits(rows=args.max_streams, queue=args.queue, seconds=args.timeout)
    app = create_app(
        served,
        hosts,
        limits=limits,
        token=args.token,
        cors=tuple(args.cors),
        precision=args.precision,
        fused=args.fused == "on",
    )
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
