"""``rnnlab serve``: the explorer (:mod:`rnnlab.explore`) on a local web server (uvicorn)."""

from __future__ import annotations

import argparse
import socket
import sys

from rnnlab.cli.options import non_negative_int

COMMAND = "serve"
LOOPBACK = "127.0.0.1"
PORT = 8000  # where the server listens by default
WILDCARDS = ("0.0.0.0", "::")  # addresses that listen on every interface


def add_commands(commands) -> None:
    """Add ``serve`` to the ``rnnlab`` subcommands."""
    serve = commands.add_parser(
        COMMAND,
        help="explore models in the browser: watch one read, generate, play the RNN game",
        description="Serve a web page where you type a text and watch the model read it (hidden "
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

    directories = args.checkpoints or [str(default_checkpoint(echo=_say))]
    served = load_all(directories, args.text)
    if args.host != LOOPBACK:
        _say(
            f"warning: listening on {args.host}: anyone who can reach this machine can use the "
            "explorer (it reads only the models named here, and writes nothing)"
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
    print(f"open http://{shown}:{port}/ in a browser (Ctrl-C stops)", flush=True)
    hosts = (*args.allow_host, args.host)
    if args.host in WILDCARDS:  # every interface: this machine's own names too
        hosts += (socket.gethostname(), socket.getfqdn())
    config = uvicorn.Config(create_app(served, hosts), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
