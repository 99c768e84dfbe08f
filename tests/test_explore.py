"""The explorer's API (rnnlab serve): what it shows equals the library, bad requests are 4xx."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import socket
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx2
import numpy as np
import pytest
import torch
from starlette.testclient import TestClient

from conftest import live, one_error_line
from rnnlab import LanguageModel, SequenceClassifier, TransformerLM
from rnnlab.api.turns import Turns
from rnnlab.cli import main
from rnnlab.data.series import SeriesScaling
from rnnlab.data.vocab import Vocabulary, target_vocabulary, tokenize_words
from rnnlab.explore import create_app, default_checkpoint, load_all
from rnnlab.explore.app import MAX_BODY, SESSION
from rnnlab.explore.reading import MAX_READ
from rnnlab.explore.served import toy_flow
from rnnlab.insight.states import read_states
from rnnlab.tasks.chat import Chatbot, Decoding

TEXT = 'the cat sat on the mat. "the dog (ran) far."\n' * 40
S1, S2 = "session-one", "session-two"


def floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """An untrained 2-layer LSTM (char), a word-level GRU and a classifier, with held-out text."""
    root = tmp_path_factory.mktemp("explore")
    torch.manual_seed(0)
    LanguageModel(Vocabulary.build("char", TEXT), "lstm", 24, 2, 8).save_pretrained(root / "char")
    words = Vocabulary.from_counts("word", Counter(tokenize_words(TEXT)))
    LanguageModel(words, "gru", 16, 1, 8).save_pretrained(root / "word")
    chars = Vocabulary.from_counts("char", Counter(TEXT))
    SequenceClassifier(chars, ["a", "b", "c"], "gru", 12, 1).save_pretrained(root / "cls")
    scaling = SeriesScaling(["x", "y"], [1.0, -2.0], [2.0, 0.5], "carry")
    series = SequenceClassifier(
        None, ["up", "down"], "lstm", 8, 1, embedding_size=None, series=scaling
    )
    series.save_pretrained(root / "series")
    source = Vocabulary.from_counts("word", Counter(tokenize_words(TEXT)), reserved=("\n",))
    Chatbot(
        source,
        target_vocabulary("word", Counter(tokenize_words(TEXT))),
        hidden_size=8,
        embedding_size=4,
        max_length=6,
    ).save_pretrained(root / "chat")
    TransformerLM(
        Vocabulary.build("char", TEXT), 16, 2, heads=2, context=48, dropout=0.0
    ).save_pretrained(root / "tf")
    (root / "held.txt").write_text(TEXT)
    dirs = [str(root / name) for name in ("char", "word", "cls", "chat", "series", "tf")]
    return root, load_all(dirs, str(root / "held.txt"))


@pytest.fixture
def client(served):
    return TestClient(create_app(served[1], precision="float32"), base_url="http://127.0.0.1")


def read(client, text, session=S1, model="char", **view):
    answer = client.post(
        "/api/read", json={"session": session, "model": model, "text": text, **view}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_read_equals_the_forward_pass_and_the_traced_states(served, client):
    model = served[1]["char"].model
    first = read(client, "the cat", layer=1)
    assert first["start"] == 0 and len(first["steps"]) == 7
    more = read(client, "the cat sat", layer=1, known=7)
    assert more["start"] == 7 and len(more["steps"]) == 4  # only the new symbols were stepped
    steps = first["steps"] + more["steps"]
    prime = model.default_prime()
    ids = model.vocab.encode(prime + "the cat sat")
    with torch.no_grad():
        logits, _ = model(ids.view(1, -1))
    log_p = torch.log_softmax(logits[0].double(), -1)
    top_h = read_states(model, prime + "the cat sat", "h").activations[1][len(prime) :]
    for t, step in enumerate(steps):
        row = len(prime) + t
        assert step["symbol"] == "the cat sat"[t] and not step["unknown"]
        expected = -float(log_p[row - 1, ids[row]]) / math.log(2)
        assert step["surprisal"] == pytest.approx(expected, abs=1e-4)
        best = log_p[row].exp().topk(3)
        assert [s for s, _ in step["top"][:3]] == [model.vocab.symbols[i] for i in best.indices]
        assert [p for _, p in step["top"][:3]] == pytest.approx(best.values.tolist(), abs=1e-5)
        np.testing.assert_allclose(floats(step["values"]), top_h[t], atol=1e-5)
    cells = read_states(model, prime + "the cat sat", "c").activations[0][len(prime) :]
    again = read(client, "the cat sat", layer=0, state="c")  # a new view: every step again
    assert again["start"] == 0
    for t, step in enumerate(again["steps"]):
        np.testing.assert_allclose(floats(step["values"]), cells[t], atol=1e-5)


def test_an_edit_in_the_middle_steps_from_the_edit_and_equals_a_fresh_reading(client):
    read(client, "the cat sat on")
    edited = read(client, "the mat sat on", known=14)
    assert edited["start"] == 4
    fresh = read(client, "the mat sat on", session="fresh-session")
    assert edited["steps"] == fresh["steps"][4:]


def test_an_unknown_character_is_shown_and_skipped_and_a_word_model_marks_unk(client):
    steps = read(client, "ca€t")["steps"]
    assert [s["symbol"] for s in steps] == ["c", "a", "€", "t"]
    assert steps[2]["unknown"] and steps[2]["surprisal"] is None
    assert steps[2]["values"] == steps[1]["values"]  # the state carried over unchanged
    direct = read(client, "cat", session="other-session")["steps"]
    assert steps[3]["surprisal"] == pytest.approx(direct[2]["surprisal"])
    words = read(client, "the zebra sat", model="word")["steps"]
    assert [s["symbol"] for s in words] == ["the", " ", "zebra", " ", "sat"]
    assert [s["unknown"] for s in words] == [False, False, True, False, False]


def test_units_finds_the_best_tracking_units_of_the_text_read(client):
    read(client, 'a "quoted" (b) c\nd "e" f (g)\n')
    units = client.post("/api/units", json={"session": S1, "model": "char"}).json()["units"]
    assert {u["property"] for u in units} == {
        "inside quotes",
        "inside brackets",
        "position in line",
    }
    assert all(0 <= u["unit"] < 24 and abs(u["correlation"]) <= 1 for u in units)


def events(answer) -> list[dict]:
    """The symbol events of a streamed /v1/generate answer, which ends with its end event."""
    assert answer.status_code == 200, answer.text
    chunks = [c.split("\n") for c in answer.text.strip().replace("\r\n", "\n").split("\n\n")]
    assert chunks[-1][0] == "event: end"
    assert all(c[0] == "event: symbol" for c in chunks[:-1])
    return [json.loads(c[1].removeprefix("data: ")) for c in chunks[:-1]]


def generate(client, **body) -> list[dict]:
    """What the page asks for: a stream with the top layer's h beside each symbol."""
    trace = {"layer": body.pop("layer", 1), "state": body.pop("state", "h")}
    return events(client.post("/v1/generate", json={**body, "stream": True, "trace": trace}))


def test_generate_streams_the_same_symbols_as_the_library_with_their_states(served, client):
    model = served[1]["char"].model
    body = {"model": "char", "prime": "the ", "length": 30, "seed": 3, "temperature": 0.8}
    streamed = generate(client, **body)
    expected = model.generate("the ", 30, temperature=0.8, seed=3, precision="float32")
    assert "".join(e["text"] for e in streamed) == expected
    top_h = read_states(model, "the " + expected, "h").activations[1][4:]
    for event, h in zip(streamed, top_h, strict=True):
        np.testing.assert_allclose(floats(event["values"]), h, atol=1e-5)


def test_a_transformer_reads_with_its_newest_key_and_value_as_its_state(served, client):
    model = served[1]["tf"].model
    described = next(m for m in client.get("/v1/models").json()["models"] if m["id"] == "tf")
    assert described["cell"] == "transformer" and described["states"] == ["k", "v"]
    assert not described["insight"]
    text = "the cat sat on the mat"
    steps = read(client, text, model="tf", layer=1, state="k")["steps"]
    values = read(client, text, model="tf", layer=0, state="v", session=S2)["steps"]
    ids = model.vocab.encode(model.default_prime() + text).view(1, -1)
    with torch.no_grad():
        logits, cache = model.run(ids)
    log_p = torch.log_softmax(logits[0].double(), -1)
    lead = len(model.default_prime())
    for t, (step, value) in enumerate(zip(steps, values, strict=True)):
        row = lead + t
        expected = -float(log_p[row - 1, ids[0, row]]) / math.log(2)
        assert step["surprisal"] == pytest.approx(expected, abs=1e-4)
        np.testing.assert_allclose(
            floats(step["values"]), cache[1][0][0, :, row].flatten(), atol=1e-5
        )
        np.testing.assert_allclose(
            floats(value["values"]), cache[0][1][0, :, row].flatten(), atol=1e-5
        )


def test_a_transformer_generates_and_plays_and_has_no_gradient_view(served, client):
    model = served[1]["tf"].model
    body = {"model": "tf", "prime": "the ", "length": 60, "seed": 3, "temperature": 0.8}
    streamed = generate(client, **body, state="k")
    expected = model.generate("the ", 60, temperature=0.8, seed=3, precision="float32")
    assert "".join(e["text"] for e in streamed) == expected  # past the context of 48 too
    start = client.post("/api/game/start", json={"session": S1, "model": "tf", "length": 5})
    assert start.status_code == 200
    for _ in range(5):
        answer = client.post("/api/game/guess", json={"session": S1, "model": "tf", "guess": "a"})
    assert answer.json()["done"]
    refused = client.post("/api/gradients", json={"model": "tf"})
    assert refused.status_code == 400 and "transformer" in refused.json()["error"]


def test_a_game_round_scores_both_sides_and_the_models_bits(served, client):
    model = served[1]["char"].model
    start = client.post(
        "/api/game/start", json={"session": S1, "model": "char", "length": 12, "seed": 5}
    )
    start = start.json()
    assert start["length"] == 12 and start["lead"] in TEXT
    passage, answers = "", []
    for _ in range(12):  # guess what the model guesses: both sides score the same
        answer = client.post("/api/game/guess", json={"session": S1, "model": "char", "guess": "e"})
        answers.append(answer.json())
        passage += answers[-1]["actual"]
    last = answers[-1]
    assert last["done"] and last["asked"] == 12
    assert last["you"] == sum(a["actual"] == "e" for a in answers)
    assert last["rnn"] == sum(a["model_guess"] == a["actual"] for a in answers)
    ids = model.vocab.encode(start["lead"] + passage)
    with torch.no_grad():
        log_p = torch.log_softmax(model(ids.view(1, -1))[0][0].double(), -1)
    lead = len(start["lead"])
    bits = [-float(log_p[lead + t - 1, ids[lead + t]]) / math.log(2) for t in range(12)]
    assert last["bits_per_symbol"] == pytest.approx(sum(bits) / 12, abs=1e-4)
    over = client.post("/api/game/guess", json={"session": S1, "model": "char", "guess": "e"})
    assert over.status_code == 409


def test_a_word_game_asks_words_and_shows_the_whitespace(client):
    start = client.post("/api/game/start", json={"session": S2, "model": "word", "length": 5})
    assert start.status_code == 200
    for _ in range(5):
        answer = client.post(
            "/api/game/guess", json={"session": S2, "model": "word", "guess": " the "}
        )
        answer = answer.json()
        assert not answer["actual"].isspace()
        assert answer["hit"] == (answer["actual"] == "the")  # the guess is stripped
    assert answer["done"]


def test_a_classifier_shows_its_prediction_after_every_prefix(served, client):
    model = served[1]["cls"].model
    answer = client.post("/api/classify", json={"model": "cls", "text": "the c\u20act"}).json()
    assert answer["symbols"] == list("the c\u20act") and answer["labels"] == ["a", "b", "c"]
    assert answer["unknown"] == [False] * 5 + [True, False]
    prefixes = ["the c\u20act"[: t + 1] for t in range(7)]
    expected = model.predict_proba(prefixes)
    np.testing.assert_allclose(answer["probabilities"], expected.numpy(), atol=1e-5)


def test_a_series_classifier_shows_its_prediction_after_every_step(served, client):
    model = served[1]["series"].model
    text = "1, 2\n\n3;?\n0.5 -1\n"  # commas, semicolons or spaces; ? is missing (carried)
    answer = client.post("/api/classify", json={"model": "series", "text": text}).json()
    assert answer["symbols"] == ["1", "2", "3"] and answer["labels"] == ["up", "down"]
    raw = np.array([[1.0, 2.0], [3.0, 2.0], [0.5, -1.0]])
    expected = model.predict_proba([raw[: t + 1] for t in range(3)])
    np.testing.assert_allclose(answer["probabilities"], expected.numpy(), atol=1e-5)
    described = next(m for m in client.get("/v1/models").json()["models"] if m["id"] == "series")
    assert described["level"] == "series" and described["channels"] == ["x", "y"]


def test_a_chatbot_replies_to_the_conversation_the_page_keeps(served, client):
    model = served[1]["chat"].model
    turns = ["the cat sat", "on the mat", "the dog ran"]
    answer = client.post("/v1/chat", json={"model": "chat", "turns": turns}).json()
    assert answer["reply"] == model.reply(turns, Decoding()).text
    sampled = {"model": "chat", "turns": turns, "temperature": 0.8, "diverse": 0.5, "seed": 3}
    answer = client.post("/v1/chat", json=sampled).json()
    expected = model.reply(
        turns, Decoding(temperature=0.8, diverse=0.5), torch.Generator().manual_seed(3)
    )
    assert answer["reply"] == expected.text
    info = next(m for m in client.get("/v1/models").json()["models"] if m["id"] == "chat")
    assert info["kind"] == "chatbot" and info["context"] == 2


def test_the_toy_gradient_vanishes_for_a_small_recurrent_weight_and_not_for_a_large_one():
    small, large = toy_flow(0.6, "relu"), toy_flow(1.6, "relu")
    assert small[0] == large[0] == 1.0 and len(small) == 101
    assert small[100] < 1e-10 < 1 < large[100]
    assert toy_flow(1.0, "tanh")[100] < toy_flow(1.0, "relu")[100]


def test_the_gradient_view_measures_every_layer_on_held_out_text(client):
    answer = client.post("/api/gradients", json={"model": "char"}).json()
    assert len(answer["norms"]) == 2 and all(len(row) == 101 for row in answer["norms"])
    assert all(math.isfinite(v) and v >= 0 for row in answer["norms"] for v in row)


BAD = [
    ("/api/read", b"{not json", 400, "not valid JSON"),
    ("/api/read", b"[1, 2]", 400, "JSON object"),
    ("/api/read", {"session": S1, "text": "a"}, 400, "model is required"),
    ("/api/read", {"session": S1, "model": "nope", "text": "a"}, 404, "no model 'nope'"),
    ("/api/read", {"session": "short", "model": "char", "text": "a"}, 400, "session must be"),
    ("/api/read", {"session": S1, "model": "char", "text": 5}, 400, "text must be a string"),
    ("/api/read", {"session": S1, "model": "char", "text": "a" * (MAX_READ + 1)}, 400, "at most"),
    ("/api/read", {"session": S1, "model": "char", "text": "a" * MAX_BODY}, 413, "over"),
    ("/api/read", {"session": S1, "model": "char", "text": "a", "layer": 2}, 400, "layer must"),
    ("/api/read", {"session": S1, "model": "word", "text": "a", "state": "c"}, 400, "state must"),
    (
        "/api/read",
        {"session": S1, "model": "cls", "text": "a"},
        400,
        "not a language model",
    ),
    ("/api/units", {"session": "unread-session", "model": "char"}, 400, "read a text first"),
    ("/api/game/guess", {"session": "no-game-yet", "model": "char", "guess": "a"}, 409, "no round"),
    ("/api/game/start", {"session": S1, "model": "char", "length": 0}, 400, "length must"),
    ("/api/toy", {"scale": 100}, 400, "scale must"),
    ("/api/toy", {"nonlinearity": "sigmoid"}, 400, "nonlinearity must"),
    ("/api/classify", {"model": "cls", "text": ""}, 400, "empty"),
    ("/api/classify", {"model": "char", "text": "a"}, 400, "not a classifier"),
    ("/api/classify", {"model": "series", "text": "1,2,3"}, 400, "step 1 has 3 value"),
    ("/api/classify", {"model": "series", "text": "1,x"}, 400, "not a number"),
    ("/api/classify", {"model": "series", "text": "1,inf"}, 400, "infinite"),
    ("/api/nothing", {}, 404, "Not Found"),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), BAD)
def test_a_bad_request_gets_a_4xx_line_and_the_next_good_one_works(
    client, path, body, status, message
):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.post(path, content=data)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert message in error and "\n" not in error
    assert read(client, "the cat")["steps"][-1]["symbol"] == "t"


def test_pages_carry_the_security_policy_and_no_path_reaches_the_file_system(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/explorer.js"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "http" not in policy
    assert client.get("/explorer.js").headers["content-type"].startswith("text/javascript")
    for path in ("/static/explorer.js", "/../app.py", "/%2e%2e/app.py", "/explorer.js/x", "/api"):
        assert client.get(path).status_code == 404
    assert client.get("/api/read").status_code == 405
    script = client.get("/explorer.js").text
    assert "innerHTML" not in script and "eval(" not in script


def test_sessions_read_in_parallel_each_get_their_own_state(served):
    """Eight sessions type different texts symbol by symbol at once against a live server."""
    texts = [f"{'the cat sat on the mat'[k:]} {'dog' * k}" for k in range(8)]
    reference = TestClient(create_app(served[1]), base_url="http://127.0.0.1")

    def typist(url: str, k: int) -> list[dict]:
        steps = []
        with httpx2.Client(base_url=url, timeout=30) as http:
            for n in range(1, len(texts[k]) + 1):
                body = {"session": f"typist-{k}", "model": "char", "text": texts[k][:n]}
                body["known"] = len(steps)
                answer = http.post("/api/read", json=body).json()
                del steps[answer["start"] :]
                steps += answer["steps"]
        return steps

    with live(create_app(served[1])) as url, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(typist, [url] * 8, range(8)))
    for k, steps in enumerate(results):
        assert steps == read(reference, texts[k], session=f"alone-session-{k}")["steps"]


def test_a_full_server_answers_503_with_retry_after_and_keeps_serving(served):
    """Past its capacity the server refuses model work at once (503, Retry-After, one JSON
    line) instead of queueing it without end; what needs no model is still answered, and
    the places come back when the requests end."""
    turns = Turns(capacity=0)
    client = TestClient(create_app(served[1], turns=turns), base_url="http://127.0.0.1")
    for path, body in (
        ("/api/read", {"session": S1, "model": "char", "text": "the"}),
        ("/api/classify", {"model": "cls", "text": "the"}),
        ("/api/toy", {}),
    ):
        answer = client.post(path, json=body)
        assert answer.status_code == 503, path
        assert answer.headers["retry-after"] == "1"
        assert "the server is busy" in answer.json()["error"] and "\n" not in answer.text
    assert client.get("/v1/models").status_code == 200 and client.get("/").status_code == 200
    turns.capacity = 2
    assert len(generate(client, model="char", length=5)) == 5
    assert read(client, "the cat")["length"] == 7
    assert turns.active == 0


def test_a_short_request_waits_for_one_slice_of_each_generation_not_for_its_end():
    """Three long generations are running, one slice (symbol) at a time; a request that
    arrives then runs after at most the slice each had in flight and one more, not after
    them. (The next slices are dispatched as the in-flight ones end, in worker threads that
    run alongside the short request's: which of them appends first is the threads' race, so
    the bound is two slices of each, 6, not 3; a suite run on a busy machine saw 4.)"""
    order: list[str] = []

    async def flood() -> int:
        turns = Turns()

        async def generation(name: str) -> None:
            for _ in range(200):
                await turns.run(order.append, name)

        running = [asyncio.create_task(generation(name)) for name in "abc"]
        while len(order) < 30:
            await asyncio.sleep(0)
        asked = len(order)
        await turns.run(order.append, "short")
        await asyncio.gather(*running)
        return asked

    asked = asyncio.run(flood())
    assert len(order) == 601 and order.index("short") - asked <= 2 * 3


def test_session_ids_are_checked():
    assert SESSION.fullmatch("abcdefgh") and not SESSION.fullmatch("../../etc/x")


def test_the_default_model_is_trained_once_then_reused(tmp_path):
    said = []
    first = default_checkpoint(budget=2, cache=tmp_path, echo=said.append)
    assert (first / "model.safetensors").is_file() and len(said) == 1
    assert default_checkpoint(budget=2, cache=tmp_path, echo=said.append) == first
    assert len(said) == 1  # not trained again
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary left


def test_serve_refuses_what_it_cannot_serve_in_one_line(served, tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing")]) == 2
    one_error_line(capsys, "missing")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = str(busy.getsockname()[1])
    assert main(["serve", str(served[0] / "char"), "--port", port]) == 2
    one_error_line(capsys, f"cannot listen on 127.0.0.1:{port}")
    busy.close()


def test_only_the_served_host_names_are_answered(served):
    """DNS rebinding: a page of another site that resolves its name to 127.0.0.1 reaches the
    server with its own name in Host; only loopback names (and those the server was given)
    are answered, others get a 4xx and a one-line JSON message."""
    client = TestClient(create_app(served[1]), base_url="http://127.0.0.1:8000")
    for host in ("127.0.0.1:8000", "localhost", "LOCALHOST:9", "[::1]:8000", "::1"):
        assert client.get("/v1/models", headers={"host": host}).status_code == 200, host
    for host in ("evil.example.com", "evil.example.com:8000", "127.0.0.1.evil.com", ""):
        answer = client.get("/v1/models", headers={"host": host})
        assert answer.status_code == 400, host
        assert "is not served here" in answer.json()["error"] and "\n" not in answer.text
        posted = client.post("/api/read", headers={"host": host}, json={"model": "char"})
        assert posted.status_code == 400
    extra = TestClient(create_app(served[1], hosts=("lab.example",)), base_url="http://lab.example")
    assert extra.get("/v1/models").status_code == 200
    assert extra.get("/v1/models", headers={"host": "evil.example.com"}).status_code == 400
