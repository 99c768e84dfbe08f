"""Shared test helpers: float64 rnnlab layers paired with torch's own, weights copied."""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.data import text as data_text

TIGHT = {"rtol": 1e-10, "atol": 1e-12}

#: (rnnlab cell name, matching torch module constructor)
CELL_CASES = {
    "rnn": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
    "rnn-relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(**kw),
    "gru": lambda **kw: nn.GRU(**kw),
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def make_pair(cell: str, fused: bool | None = None, **kwargs):
    """A torch layer and an rnnlab layer with the same weights, both float64."""
    reference = CELL_CASES[cell](**kwargs).double()
    ours = rnnlab.Recurrent(cell, fused=fused, dtype=torch.float64, **kwargs)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def state_tuple(state) -> tuple[torch.Tensor, ...]:
    return (state,) if isinstance(state, torch.Tensor) else tuple(state)


def random_state(cell: str, layers: int, batch: int | None, hidden: int):
    shape = (layers, batch, hidden) if batch is not None else (layers, hidden)
    h = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    if cell == "lstm":
        return h, torch.randn(shape, dtype=torch.float64, requires_grad=True)
    return h


def assert_same(actual, expected, **tolerance):
    """Tensors, or (nested) tuples and lists of them, agree to float64 precision by default."""
    if isinstance(expected, torch.Tensor):
        torch.testing.assert_close(actual, expected, **(tolerance or TIGHT))
        return
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert_same(a, e, **tolerance)


def require_chromium():
    """Playwright's sync API for a browser test module, which is skipped where
    /usr/bin/chromium is missing, unless RNNLAB_REQUIRE_BROWSER=1 (CI sets it and installs
    chromium): then the missing browser is a failure."""
    from rnnlab.explore.chromium import CHROMIUM

    if not CHROMIUM.exists():
        if os.environ.get("RNNLAB_REQUIRE_BROWSER"):
            pytest.fail("RNNLAB_REQUIRE_BROWSER is set but /usr/bin/chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api")


def one_error_line(capsys, *pattern: str) -> str:
    """The one stderr line a user mistake prints, checked against the regex ``pattern``s."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnlab: error: "), err
    for p in pattern:
        assert re.search(p, err[0]), err[0]
    return err[0]


#: The shared data sets (see rnnlab.data.text.SHARED_DATA); tests that read them skip when the
#: folder is absent.
SHARED_DATA = data_text.SHARED_DATA


def png_size(path) -> tuple[int, int]:
    """The width and height of the PNG image at ``path``, after checking it is one: the PNG
    signature, then the IHDR chunk's big-endian width and height."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def safetensors_header(path) -> tuple[dict, bytes]:
    """The JSON header of the safetensors file ``path`` (an 8-byte little-endian length, then
    the JSON), and the tensor bytes after it."""
    data = Path(path).read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def write_safetensors_header(path, header: dict, body: bytes, dumps=json.dumps) -> None:
    """Write ``header`` (as ``dumps`` writes it, padded to 8 bytes) and ``body`` to ``path``."""
    raw = dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(raw)) + raw + body)


DEEP = re.compile(r'"@@deep(\d+)@@"')


def deep(depth: int) -> str:
    """A placeholder that :func:`deep_dumps` writes as ``depth`` nested empty lists."""
    return f"@@deep{depth}@@"


def deep_dumps(document) -> str:
    """``document`` as JSON, each :func:`deep` placeholder written as its nested empty lists (a
    value too deep for Python's own JSON writer)."""
    return DEEP.sub(lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), json.dumps(document))


@pytest.fixture(autouse=True, scope="session")
def _token_cache(tmp_path_factory):
    """Encoded texts go to a folder of the test session, not the user's cache."""
    os.environ["RNNLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@contextmanager
def live(app):
    """``app`` on a real uvicorn server on a free loopback port; yields its URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def batched_ids(batcher, streams: list) -> list[list[int]]:
    """Start ``streams`` (rnnlab.api.batcher.Stream) in ``batcher`` and return the ids each
    one writes, in the order of their ``index``."""
    import asyncio

    from rnnlab.api.batcher import END

    async def run() -> list[list[int]]:
        batcher.start(streams)
        made = {s.index: [] for s in streams}
        for stream in streams:
            while (item := await stream.symbols.get())[1] is not END:
                made[item[0]].append(item[1])
        return [made[k] for k in sorted(made)]

    return asyncio.run(run())
