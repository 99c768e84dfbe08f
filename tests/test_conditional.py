"""The conditional generator: conditioning, training, the report, vectors, the CLI."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA
from rnnlab.cli import main
from rnnlab.data.labelled import LabelledData, read_labelled
from rnnlab.data.vocab import target_vocabulary
from rnnlab.tasks.conditional.model import CONDITIONS, ConditionalGenerator
from rnnlab.tasks.conditional.training import (
    ConditionalSettings,
    ConditionalTrainer,
    LabelSplit,
    generation_report,
)

#: Two labels whose texts differ from the first letter on.
TEXTS = {
    "ax": ["ab", "aab", "aaab", "abb", "aabb", "ab", "aaab", "aab"],
    "bx": ["ba", "bba", "bbba", "baa", "bbaa", "ba", "bba", "bbba"],
}


def data() -> LabelledData:
    texts = [t for label in TEXTS for t in TEXTS[label]]
    return LabelledData(texts, [label for label in TEXTS for _ in TEXTS[label]])


def small_model(condition: str = "both", cell: str = "lstm") -> ConditionalGenerator:
    vocab = target_vocabulary("char", Counter("ab"))
    return ConditionalGenerator(
        vocab,
        ["ax", "bx"],
        cell=cell,
        hidden_size=8,
        condition=condition,
        condition_size=4,
        embedding_size=3,
        max_length=6,
    ).double()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("condition", CONDITIONS)
def test_the_condition_reaches_the_output_by_the_chosen_route(condition, cell):
    model = small_model(condition, cell).eval()
    previous = torch.tensor([[model.start, 3, 4]] * 2)
    v = torch.randn(2, 4, dtype=torch.float64)
    logits, _ = model(previous, v)
    assert logits.shape == (2, 3, len(model.vocab))
    assert not torch.allclose(logits[0], logits[1])  # the vector matters
    assert (model.initial is not None) == (condition != "input")
    if condition == "init":  # only through s_0: the same s_0 gives the same outputs
        state = model.initial_state(v[:1])
        same, _ = model(previous[:1], v[1:], state)
        torch.testing.assert_close(same, logits[:1], rtol=1e-12, atol=1e-12)
    # stepping one symbol at a time gives the logits of the whole sequence
    state, steps = None, []
    for t in range(3):
        step, state = model(previous[:, t : t + 1], v, state)
        steps.append(step)
    torch.testing.assert_close(torch.cat(steps, 1), logits, rtol=1e-10, atol=1e-12)


def test_a_short_run_learns_what_each_label_generates(tmp_path):
    settings = ConditionalSettings(
        hidden_size=32,
        condition_size=8,
        embedding_size=8,
        dropout=0.0,
        epochs=60,
        batch_size=16,
        lr=1e-2,
        warmup=5,
        test_fraction=0.0,
        samples=20,
        precision="float32",
    )
    split = LabelSplit.of(data(), settings)
    result = ConditionalTrainer(split, settings, tmp_path / "m", progress=False).fit()
    report = result.report
    assert report.loss < 0.7  # nats/char; the first letter alone is worth ln 2 without labels
    model = ConditionalGenerator.from_pretrained(tmp_path / "m")
    generator = torch.Generator().manual_seed(0)
    for label in TEXTS:
        names = model.generate(label, 40, temperature=0.5, generator=generator)
        assert sum(name.startswith(label[0]) for name in names) >= 38, names
    primed = model.generate("ax", 5, prime="bb", generator=generator)
    assert all(name.startswith("bb") for name in primed)
    saved = json.loads((tmp_path / "m" / "report.json").read_text())
    assert set(saved["final"]["loss_by_label"]) == set(TEXTS)
    assert 0 <= saved["final"]["novelty"] <= 1


@torch.no_grad()
def test_report_loss_per_label_and_novelty_are_counted_by_hand():
    model = small_model().eval()
    split = LabelSplit.of(data(), ConditionalSettings(test_fraction=0.0))
    assert model.vocab == split.vocab
    report = generation_report(model, split.train_ids, split.train_y, {"ab"}, samples=10)
    for i, label in enumerate(model.labels):
        rows = [ids for ids, y in zip(split.train_ids, split.train_y, strict=True) if y == i]
        total, chars = 0.0, 0
        for ids in rows:
            previous = torch.cat([torch.tensor([model.start]), ids[:-1]])[None]
            logits, _ = model(previous, model.vectors(torch.tensor([i])))
            total += float(torch.nn.functional.cross_entropy(logits[0], ids, reduction="sum"))
            chars += len(ids)
        assert report.loss_by_label[label] == pytest.approx(total / chars, rel=1e-9)
    generated = [t for label in model.labels for t in report.examples[label]]
    assert report.novelty == pytest.approx(sum(t != "ab" for t in generated) / len(generated))


def test_generate_refuses_bad_conditions():
    model = small_model()
    with pytest.raises(ValueError, match="unknown label 'cx'; the model knows ax, bx"):
        model.generate("cx")
    with pytest.raises(ValueError, match="must have 4 numbers, got shape \\(3,\\)"):
        model.generate(torch.zeros(3))
    with pytest.raises(ValueError, match="NaN or infinity"):
        model.generate(torch.tensor([0.0, float("nan"), 0.0, 0.0]))
    with pytest.raises(ValueError, match="never seen in training"):
        model.generate("ax", prime="z")


@pytest.mark.skipif(not (SHARED_DATA / "names").is_dir(), reason="needs ../shared/data/names")
def test_names_split_is_stratified_over_the_18_languages():
    split = LabelSplit.of(read_labelled(SHARED_DATA / "names"), ConditionalSettings())
    assert len(split.labels) == 18 and set(split.test.labels) == set(split.labels)
    assert abs(len(split.test) - 2007) < 20


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def classes(tmp_path):
    folder = tmp_path / "classes"
    folder.mkdir()
    for label, texts in TEXTS.items():
        (folder / f"{label}.txt").write_text("\n".join(texts * 2) + "\n", encoding="utf-8")
    return folder


def train(classes, out, *options: str) -> int:
    return main(
        ["generate-from-label", "train", "--data", str(classes), "--out", str(out), *options]
    )


def test_cli_train_and_generate_by_label_or_vector(classes, tmp_path, capsys):
    out = tmp_path / "model"
    assert train(classes, out, "--hidden", "16", "--epochs", "2", "--samples", "5") == 0
    printed = capsys.readouterr().out
    assert "novel" in printed and "ax" in printed and "nats/char" in printed
    assert (
        main(["generate-from-label", str(out), "--label", "ax", "--count", "4", "--seed", "3"]) == 0
    )
    by_label = capsys.readouterr().out.splitlines()
    assert len(by_label) == 4
    vector = tmp_path / "ax.npy"
    np.save(vector, ConditionalGenerator.from_pretrained(out).label_vector("ax").numpy())
    assert (
        main(
            [
                "generate-from-label",
                str(out),
                "--vector",
                str(vector),
                "--count",
                "4",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == by_label  # the label is its vector
    assert (
        main(["generate-from-label", str(out), "--label", "ax", "--prime", "bb", "--count", "3"])
        == 0
    )
    assert all(line.startswith("bb") for line in capsys.readouterr().out.splitlines())


def test_an_untrained_generator_never_emits_the_unknown_or_start_symbol():
    model = small_model()  # random weights: every symbol has some probability
    texts = model.generate("ax", 200, generator=torch.Generator().manual_seed(0))
    assert set("".join(texts)) <= {"a", "b"}


def test_a_table_with_one_data_row_trains_and_prints_its_summary(tmp_path, capsys):
    (tmp_path / "one.csv").write_text("name,kind\nabc,x\n")
    args = ["--header", "--hidden", "4", "--epochs", "1", "--samples", "2"]
    assert train(tmp_path / "one.csv", tmp_path / "model", *args) == 0
    assert "trained 1 steps" in capsys.readouterr().out.splitlines()[-1]


def test_a_prime_over_the_text_limit_is_refused_before_any_work(tmp_path, capsys):
    """Issue 41, finding 1: a 120,000-character prime grew to 3.4 GB and exited 0."""
    from rnnlab.limits import MAX_TEXT_SYMBOLS

    model = small_model()
    with pytest.raises(ValueError, match=f"the prime has {MAX_TEXT_SYMBOLS + 1:,} symbols"):
        model.generate("ax", 1, prime="a" * (MAX_TEXT_SYMBOLS + 1))
    assert len(model.generate("ax", 1, prime="ab", max_length=4)[0]) <= 4  # a short one works
    model.save_pretrained(tmp_path / "g")
    argv = ["generate-from-label", str(tmp_path / "g"), "--label", "ax"]
    assert main([*argv, "--prime", "a" * 120_000]) == 2
    assert "at most 100,000 are read at once" in capsys.readouterr().err
