"""The exported HTML page in a real browser: Playwright drives Debian's chromium, which opens the
page from file:// with every other request refused, and the page's own JavaScript must give
what PyTorch gives.

Skipped where /usr/bin/chromium is missing, unless RNNLAB_REQUIRE_BROWSER=1 (CI sets it and
installs chromium), which turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import pytest
import torch

from conftest import require_chromium
from rnnlab import LanguageModel
from rnnlab.cli import main
from rnnlab.data.vocab import Vocabulary
from rnnlab.explore.chromium import CHROMIUM, FLAGS
from rnnlab.export.html import export_html

TEXT = "".join(f"{i} little pigs went to market, said the wolf.\n" for i in range(300))

sync_api = require_chromium()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(FLAGS))
        yield launched
        launched.close()


@pytest.fixture()
def open_page(browser):
    """Open a file in a context that refuses every request but file:// ones; afterwards, check
    that the page asked for nothing else and raised no error."""
    contexts, attempts, errors = [], [], []

    def opened(path: Path):
        context = browser.new_context()
        contexts.append(context)

        def route(route):
            if route.request.url.startswith("file://"):
                return route.continue_()
            attempts.append(route.request.url)
            return route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.resolve().as_uri())
        return page

    yield opened
    for context in contexts:
        context.close()
    assert attempts == [], f"the page tried to reach {attempts}"
    assert errors == [], errors


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("page")
    (root / "text.txt").write_text(TEXT)
    options = ["--hidden", "32", "--layers", "2", "--embedding", "8", "--seq-len", "16"]
    options += ["--batch-size", "8", "--epochs", "1", "--evals", "1", "--sample-length", "0"]
    with contextlib.redirect_stdout(io.StringIO()):
        train = ["train", "--text", str(root / "text.txt"), "--out", str(root / "lm")]
        assert main([*train, *options]) == 0
        for extra, name in (([], "lm.html"), (["--half"], "half.html")):
            args = ["export", str(root / "lm"), "--format", "html", "--out", str(root / name)]
            assert main([*args, *extra]) == 0
    return root


def page_greedy(page, prime: str, length: int) -> str:
    return page.evaluate(
        "([prime, length]) => window.rnnlab.generate({prime, length, greedy: true})",
        [prime, length],
    )


def test_the_page_generates_what_rnnlab_generate_greedy_does(trained, open_page):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        args = ["generate", str(trained / "lm"), "--prime", "12 little", "--length", "300"]
        assert main([*args, "--greedy", "--precision", "float32"]) == 0
    expected = printed.getvalue()[len("12 little") : -1]
    page = open_page(trained / "lm.html")
    assert page_greedy(page, "12 little", 300) == expected
    # and through the page's own controls
    page.fill("#prime", "12 little")
    page.fill("#length", "300")
    page.check("#greedy")
    page.click("#generate")
    assert page.inner_text("#output") == "12 little" + expected


def test_half_weights_generate_what_the_rounded_weights_do_in_pytorch(trained, open_page):
    model = LanguageModel.from_pretrained(trained / "lm")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    expected = model.generate("3 little", 200, greedy=True, precision="float32")
    page = open_page(trained / "half.html")
    assert page_greedy(page, "3 little", 200) == expected
    weights = sum(p.numel() for p in model.parameters())  # 2 bytes each saved, in base64
    saved = (trained / "lm.html").stat().st_size - (trained / "half.html").stat().st_size
    assert saved >= 2 * weights * 4 / 3 - 4


@pytest.mark.parametrize(
    ("cell", "block", "level"),
    [
        ("rnn", "plain", "char"),
        ("rnn-relu", "plain", "char"),
        ("gru", "plain", "byte"),
        ("lstm", "plain", "word"),
        ("mingru", "residual", "char"),
        ("minlstm", "residual", "char"),
        ("gru", "residual", "char"),
    ],
)
def test_every_cell_and_level_steps_as_pytorch_does(cell, block, level, tmp_path, open_page):
    torch.manual_seed(1)
    vocab = Vocabulary.build(level, TEXT)
    embedding = None if level == "byte" else 12
    model = LanguageModel(
        vocab, cell=cell, hidden_size=24, num_layers=2, embedding_size=embedding, block=block
    ).eval()
    with torch.no_grad():  # larger weights than the initial ones: spread-out logits, no ties
        model.head.weight.mul_(8)
    prime = "the wolf" if level != "byte" else "le loup é"
    expected = model.generate(prime, 120, greedy=True, precision="float32")
    export_html(model, tmp_path / "m.html", text=None)
    page = open_page(tmp_path / "m.html")
    assert page_greedy(page, prime, 120) == expected


def test_a_round_of_the_game_scores_as_the_model_does(trained, open_page):
    model = LanguageModel.from_pretrained(trained / "lm")
    page = open_page(trained / "lm.html")
    played = page.evaluate(
        """() => {
            const round = new window.rnnlab.Round(7);
            const ids = round.ids.slice(), answers = [];
            while (!round.done) answers.push(round.guess("e"));
            return { ids, answers, lead: round.lead };
        }"""
    )
    ids, answers = played["ids"], played["answers"]
    assert len(answers) == 40 and answers[-1]["done"] and answers[-1]["asked"] == 40
    lead = len(ids) - 40
    assert played["lead"] == model.vocab.decode(ids[:lead])
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids]))
    log_probs = logits[0].double().log_softmax(-1)
    hits = 0
    for k, answer in enumerate(answers):
        position = lead + k - 1  # the prediction of ids[lead + k]
        actual = ids[lead + k]
        assert answer["actual"] == model.vocab.symbols[actual]
        assert answer["model_guess"] == model.vocab.symbols[int(log_probs[position].argmax())]
        bits = -float(log_probs[position, actual]) / math.log(2)
        assert math.isclose(answer["bits"], bits, abs_tol=1e-4)
        assert answer["hit"] == (answer["actual"] == "e")
        hits += answer["model_hit"]
    assert answers[-1]["rnn"] == hits
    assert answers[-1]["you"] == sum(a["hit"] for a in answers)
    # and through the page: a guess typed and submitted is scored and shown
    page.click("#new-round")
    page.fill("#guess", "e")
    page.press("#guess", "Enter")
    assert "of 1 asked (of 40)" in page.inner_text("#score")
    assert len(page.query_selector_all("#top tr")) == 5


def test_a_page_without_held_out_text_says_so(tmp_path, open_page):
    model = LanguageModel(Vocabulary.build("char", TEXT), hidden_size=8, num_layers=1).eval()
    export_html(model, tmp_path / "bare.html")
    page = open_page(tmp_path / "bare.html")
    assert "No held-out text" in page.inner_text("#game-section")
    assert len(page_greedy(page, "the", 10)) == 10
