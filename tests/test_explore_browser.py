"""The explorer end to end in a real browser: Playwright driving Debian's chromium.

Skipped where /usr/bin/chromium is missing, unless RNNLAB_REQUIRE_BROWSER=1 (CI sets it and
installs chromium), which turns the skip into a failure. Screenshots of every view are written
to RNNLAB_ARTIFACTS (default: build/test-artifacts in the checkout).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import require_chromium
from rnnlab import LanguageModel, SequenceClassifier, TransformerLM
from rnnlab.cli import main
from rnnlab.data.series import SeriesScaling
from rnnlab.data.vocab import Vocabulary
from rnnlab.explore.chromium import CHROMIUM, FLAGS
from rnnlab.tasks.chat import Chatbot

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("RNNLAB_ARTIFACTS", ROOT / "build" / "test-artifacts"))
TEXT = "".join(f'{i} little pigs went to "market", said (the) wolf.\n' for i in range(300))
TYPED = 'the wolf said "pigs'

sync_api = require_chromium()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``rnnlab serve`` on a freshly trained tiny language model, classifier and chatbot."""
    root = tmp_path_factory.mktemp("browser")
    (root / "text.txt").write_text(TEXT)
    small = ["--hidden", "32", "--layers", "2", "--seq-len", "32", "--batch-size", "8"]
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(
            [
                "train",
                "--text",
                str(root / "text.txt"),
                "--out",
                str(root / "lm"),
                *small,
                "--epochs",
                "2",
                "--evals",
                "1",
                "--sample-length",
                "0",
            ]
        )
    assert code == 0
    labels = root / "labels.tsv"
    labels.write_text("".join(f"{w} {i}\t{w}\n" for i in range(40) for w in ("pig", "wolf")))
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(
            [
                "classify",
                "train",
                "--data",
                str(labels),
                "--out",
                str(root / "cls"),
                "--hidden",
                "16",
                "--epochs",
                "1",
            ]
        )
    assert code == 0
    scaling = SeriesScaling(["x", "y"], [0.0, 1.0], [2.0, 3.0])
    series = SequenceClassifier(
        None, ["low", "high"], hidden_size=8, embedding_size=None, series=scaling
    )
    series.save_pretrained(root / "series")
    vocab = Vocabulary.build("char", TEXT)
    TransformerLM(vocab, 16, 2, heads=2, context=64, dropout=0.0).save_pretrained(root / "tf")
    talk = root / "talk.txt"
    talk.write_text("A: hello there\nB: hi friend\n\nA: how are you\nB: fine thanks\n")
    with contextlib.redirect_stdout(io.StringIO()):
        small = ["--hidden", "16", "--epochs", "1", "--test-fraction", "0"]
        code = main(
            ["chat", "train", "--dialogues", str(talk), "--out", str(root / "chat"), *small]
        )
    assert code == 0
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rnnlab",
            "serve",
            str(root / "lm"),
            str(root / "cls"),
            str(root / "chat"),
            str(root / "series"),
            str(root / "tf"),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for line in process.stdout:
            if found := re.search(r"(http://\S+/)", line):
                url = found.group(1)
                break
        assert url, "rnnlab serve printed no URL"
        yield url, root
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def page(server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(FLAGS)
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server[0])
        yield page
        assert not errors, errors
        browser.close()


def test_typing_grows_the_heatmap_and_shows_the_libraries_top_symbol(server, page):
    expect = sync_api.expect
    page.locator("#read-text").press_sequentially(TYPED, delay=15)
    heatmap = page.locator("#read-heatmap")
    expect(heatmap).to_have_attribute("data-columns", str(len(TYPED)))
    expect(heatmap).to_have_attribute("data-units", "32")
    model = LanguageModel.from_pretrained(server[1] / "lm")
    with torch.no_grad():
        logits, _ = model(model.vocab.encode(model.default_prime() + TYPED).view(1, -1))
    top = model.vocab.symbols[int(logits[0, -1].argmax())]
    shown = {"\n": "\u21b5", " ": "\u2423"}.get(top, top)
    expect(page.locator("#read-top .bar .sym").first).to_have_text(shown)
    heatmap.click(position={"x": 4, "y": 5 * 8 + 2})  # rows are 8 px for 32 units: unit 5
    expect(page.locator("#unit-text")).to_have_attribute("data-unit", "5")
    expect(page.locator("#unit-text span")).to_have_count(len(TYPED))
    page.click("#find-units")
    expect(page.locator("#units button").first).to_contain_text("unit")
    page.screenshot(path=ARTIFACTS / "explorer-read.png", full_page=True)


def test_generation_streams_into_the_page(page):
    page.click("button[data-view=generate]")
    page.fill("#gen-length", "200")
    page.click("#gen-start")
    sync_api.expect(page.locator("#gen-heatmap")).to_have_attribute("data-columns", "200")
    sync_api.expect(page.locator("#gen-status")).to_contain_text("200 symbols")
    page.screenshot(path=ARTIFACTS / "explorer-generate.png", full_page=True)


def test_the_gradient_views_plot_the_measured_curves(page):
    page.click("button[data-view=gradients]")
    sync_api.expect(page.locator("#grad-plot polyline")).to_have_count(2)
    sync_api.expect(page.locator("#toy-plot polyline")).to_have_count(1)
    page.locator("#toy-scale").fill("0.6")
    sync_api.expect(page.locator("#toy-status")).to_contain_text("vanished")
    page.screenshot(path=ARTIFACTS / "explorer-gradients.png", full_page=True)


def test_one_full_round_of_the_game(page):
    page.click("button[data-view=play]")
    page.fill("#game-length", "10")
    page.click("#game-start")
    score = page.locator("#game-score")
    sync_api.expect(score).to_contain_text("you: 0/10")
    page.locator("#game-text").press_sequentially("e" * 10)  # faster than the answers come
    sync_api.expect(score).to_have_attribute("data-done", "true")
    sync_api.expect(score).to_contain_text(re.compile(r"you: \d+/10, the RNN: \d+/10"))
    sync_api.expect(page.locator("#game-text .hit, #game-text .miss")).to_have_count(10)
    page.screenshot(path=ARTIFACTS / "explorer-game.png", full_page=True)


def test_a_classifier_shows_its_decision_forming(server, page):
    page.select_option("#model", "cls")
    page.locator("#cls-text").fill("wolf 3")
    final = page.locator("#cls-final")
    model = SequenceClassifier.from_pretrained(server[1] / "cls")
    label, _ = model.predict(["wolf 3"])[0]
    sync_api.expect(final).to_contain_text(f"after 6 symbols: {label}")
    sync_api.expect(page.locator("#cls-plot polyline")).to_have_count(2)
    page.screenshot(path=ARTIFACTS / "explorer-classify.png", full_page=True)


def test_a_series_classifier_reads_typed_steps(server, page):
    page.select_option("#model", "series")
    text = page.locator("#cls-text")
    sync_api.expect(text).to_have_attribute("placeholder", re.compile("2 numbers .x, y."))
    sync_api.expect(page.locator("#cls-what")).to_have_text("Type a series, one step per line")
    text.fill("1, 2\n3, 4\n5, 6")
    model = SequenceClassifier.from_pretrained(server[1] / "series")
    label, _ = model.predict([np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])])[0]
    sync_api.expect(page.locator("#cls-final")).to_contain_text(f"after 3 steps: {label}")
    sync_api.expect(page.locator("#cls-plot polyline")).to_have_count(2)
    page.screenshot(path=ARTIFACTS / "explorer-series.png", full_page=True)


def test_talking_to_a_chatbot(server, page):
    page.select_option("#model", "chat")
    page.locator("#talk-input").fill("hello there")
    page.locator("#talk-input").press("Enter")
    log = page.locator("#talk-log")
    sync_api.expect(log).to_have_attribute("data-turns", "2")
    model = Chatbot.from_pretrained(server[1] / "chat")
    sync_api.expect(page.locator("#talk-log .bot")).to_have_text(model.reply("hello there").text)
    page.locator("#talk-reset").click()
    sync_api.expect(log).to_have_attribute("data-turns", "0")
    page.screenshot(path=ARTIFACTS / "explorer-talk.png", full_page=True)


def test_a_transformer_reads_with_its_keys_and_values_in_the_heatmap(server, page):
    page.select_option("#model", "tf")
    page.click("button[data-view=read]")
    sync_api.expect(page.locator("#read-state option")).to_have_text(["k", "v"])
    page.locator("#read-text").fill(TYPED)
    heatmap = page.locator("#read-heatmap")
    sync_api.expect(heatmap).to_have_attribute("data-columns", str(len(TYPED)))
    sync_api.expect(heatmap).to_have_attribute("data-units", "16")
    model = TransformerLM.from_pretrained(server[1] / "tf")
    with torch.no_grad():
        logits, _ = model(model.vocab.encode(model.default_prime() + TYPED).view(1, -1))
    top = model.vocab.symbols[int(logits[0, -1].argmax())]
    shown = {"\n": "\u21b5", " ": "\u2423"}.get(top, top)
    sync_api.expect(page.locator("#read-top .bar .sym").first).to_have_text(shown)
    page.screenshot(path=ARTIFACTS / "explorer-transformer.png", full_page=True)
