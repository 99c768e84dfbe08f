"""The sequence classifier: labelled data, padding invariance, metrics, training, the CLI."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA
from rnnlab import SequenceClassifier
from rnnlab.cli import main
from rnnlab.data.batches import bucket_batches, pad
from rnnlab.data.labelled import LabelledData, read_labelled, stratified_split, tokens
from rnnlab.data.vocab import UNKNOWN, Vocabulary
from rnnlab.tasks.classify.model import POOLS
from rnnlab.tasks.classify.report import ClassificationReport
from rnnlab.tasks.classify.training import ClassifierSettings, ClassifierTrainer, Split

NAMES = SHARED_DATA / "names"
POLARITY = [SHARED_DATA / "rt-polarity.pos", SHARED_DATA / "rt-polarity.neg"]
needs_names = pytest.mark.skipif(not NAMES.is_dir(), reason=f"shared data not found: {NAMES}")
needs_polarity = pytest.mark.skipif(
    not POLARITY[0].is_file(), reason=f"shared data not found: {POLARITY[0]}"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def classes(tmp_path) -> Path:
    """A folder of three class files: names ending in -ov, -ez and -ing, with empty lines."""
    folder = tmp_path / "classes"
    folder.mkdir()
    write(folder / "ov.txt", "Petrov\nIvanov\n\nSmirnov\nPopov\nSokolov\nVolkov\n")
    write(folder / "ez.txt", "Lopez\nPerez\nGomez\n  \nDiaz\nSanchez\nMartinez\n")
    write(folder / "ing.txt", "Fielding\nHarding\nWhiting\nGolding\nReading\nSterling\n")
    return folder


# -- vocabulary and data ----------------------------------------------------------------------


def test_vocabulary_from_counts_has_unknown_first_and_drops_rare_symbols():
    vocab = Vocabulary.from_counts("word", Counter({"good": 3, "bad": 2, "rare": 1}), 2)
    assert vocab.symbols == (UNKNOWN, "good", "bad")
    assert vocab.encode_tokens(["bad", "rare", "good", "never"]).tolist() == [2, 0, 1, 0]
    chars = Vocabulary.from_counts("char", Counter("banana"))
    assert chars.symbols == (UNKNOWN, "a", "b", "n")
    assert chars.encode("nab!").tolist() == [3, 1, 2, 0]  # an unseen character is <unk>
    restored = Vocabulary.from_json(json.loads(json.dumps(chars.to_json())))
    assert restored.encode("nab!").tolist() == [3, 1, 2, 0]


def test_a_vocabulary_without_unknown_names_unseen_tokens():
    vocab = Vocabulary.build("char", "ab")
    with pytest.raises(ValueError, match=r"never saw.*'z'"):
        vocab.encode_tokens(["a", "z"])


def test_tokens_words_drop_whitespace_chars_keep_everything():
    assert tokens("a  good, film", "word") == ["a", "good", ",", "film"]
    assert tokens("a b", "char") == ["a", " ", "b"]


def test_class_files_are_labelled_by_file_name_and_empty_lines_counted(classes):
    data = read_labelled(classes)
    assert data.classes == ["ez", "ing", "ov"]
    assert data.counts() == {"ov": 6, "ez": 6, "ing": 6}
    assert data.skipped == 2
    assert data.texts[data.labels.index("ing")] == "Fielding"


def test_files_sharing_a_stem_are_labelled_by_extension(tmp_path):
    data = read_labelled([write(tmp_path / "r.pos", "fine\n"), write(tmp_path / "r.neg", "bad\n")])
    assert list(zip(data.texts, data.labels, strict=True)) == [("fine", "pos"), ("bad", "neg")]


def test_an_empty_class_file_is_an_error_naming_it(classes):
    write(classes / "none.txt", "\n \n")
    with pytest.raises(ValueError, match=r"none\.txt has no examples"):
        read_labelled(classes)


def test_csv_with_header_names_columns_and_skips_empty_rows(tmp_path):
    path = write(
        tmp_path / "d.csv", 'id,review,stars\n1,"great, really",pos\n2,,neg\n3,awful,neg\n'
    )
    data = read_labelled(path, text_column="review", label_column="stars")
    assert data.texts == ["great, really", "awful"] and data.labels == ["pos", "neg"]
    assert data.skipped == 1
    with pytest.raises(ValueError, match="no column named 'text'"):
        read_labelled(path, text_column="text", label_column="stars")


def test_tsv_header_is_detected_by_a_label_seen_once(tmp_path):
    rows = "sentence\tsentiment\nok\tpos\nbad\tneg\ngood\tpos\n"
    data = read_labelled(write(tmp_path / "h.tsv", rows))
    assert data.texts == ["ok", "bad", "good"]
    plain = read_labelled(write(tmp_path / "p.tsv", "ok\tpos\nbad\tneg\ngood\tpos\n"))
    assert plain.texts == ["ok", "bad", "good"] and plain.labels == ["pos", "neg", "pos"]
    told = read_labelled(write(tmp_path / "t.tsv", "ok\tpos\nbad\tneg\n"), header=False)
    assert told.texts == ["ok", "bad"]


def test_a_short_table_row_is_an_error_with_its_number(tmp_path):
    with pytest.raises(ValueError, match="row 3: 1 field"):
        read_labelled(write(tmp_path / "s.csv", "text,label\na,x\nb\n"))


def test_stratified_split_is_seeded_disjoint_and_proportional():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 3 + ["d"]
    train, held = stratified_split(labels, 0.1, seed=3)
    assert sorted(train + held) == list(range(len(labels)))
    assert Counter(labels[i] for i in held) == {"a": 5, "b": 3, "c": 1}  # d: its only example
    assert stratified_split(labels, 0.1, seed=3) == (train, held)
    assert stratified_split(labels, 0.1, seed=4) != (train, held)


def test_bucket_batches_cover_everything_once_in_length_sorted_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=1000).tolist()
    batches = bucket_batches(lengths, 32, np.random.default_rng(1), pool=1000)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in batches)
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in itertools.pairwise(spans))
    assert bucket_batches(lengths, 32, np.random.default_rng(1), pool=1000) == batches


def test_pad_gives_lengths_and_refuses_an_empty_sequence():
    ids, lengths = pad([torch.tensor([1, 2, 3]), torch.tensor([4])], value=7)
    assert ids.tolist() == [[1, 2, 3], [4, 7, 7]] and lengths.tolist() == [3, 1]
    with pytest.raises(ValueError):
        pad([torch.tensor([], dtype=torch.int64)])


# -- the model ----------------------------------------------------------------------------------


def tiny_model(pool: str, bidirectional: bool, cell: str = "lstm", layers: int = 2):
    vocab = Vocabulary.from_counts("char", Counter("abcdefgh"))
    model = SequenceClassifier(
        vocab, ["x", "y", "z"], cell, 12, layers, bidirectional, pool, 6, dropout=0.0
    )
    return model.double().eval()


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru", "minlstm"])
def test_padding_changes_no_prediction(pool, bidirectional, cell):
    model = tiny_model(pool, bidirectional, cell)
    short = torch.tensor([3, 1, 4])
    batch = [torch.randint(1, 9, (n,)) for n in (9, 5, 12)]
    alone = model(short[None], torch.tensor([3]))
    for fill in (0, 8):  # what the pads hold must not matter either
        ids, lengths = pad([batch[0], short, *batch[1:]], value=fill)
        together = model(ids, lengths)
        torch.testing.assert_close(together[1], alone[0], rtol=1e-10, atol=1e-12)
        for k, sequence in enumerate(batch):
            row = k if k == 0 else k + 1
            torch.testing.assert_close(
                together[row], model(sequence[None], torch.tensor([len(sequence)]))[0]
            )


def test_last_pooling_reads_the_state_at_each_sequence_end():
    model = tiny_model("last", bidirectional=False, layers=1)
    ids = torch.tensor([[1, 2, 3, 4], [1, 2, 0, 0]])
    pooled = model.features(ids, torch.tensor([4, 2]))
    output, _ = model.rnn(model.embedding(ids[1:, :2]))
    torch.testing.assert_close(pooled[1], output[0, -1])


def test_attention_weights_are_zero_on_padding_and_sum_to_one():
    model = tiny_model("attention", bidirectional=True)
    output = torch.randn(2, 5, 24, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)
    weights = model.attention.weights(output, mask)
    assert (weights[1, 2:] == 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(2, dtype=torch.float64))


def test_save_and_load_give_the_same_probabilities(tmp_path):
    model = tiny_model("attention", bidirectional=True).float()
    texts = ["abc", "hhgf", "a"]
    model.save_pretrained(tmp_path / "m")
    loaded = SequenceClassifier.from_pretrained(tmp_path / "m")
    torch.testing.assert_close(loaded.predict_proba(texts), model.predict_proba(texts))
    assert loaded.labels == ("x", "y", "z")
    assert [label for label, _ in loaded.predict(texts)] == [
        model.labels[i] for i in model.predict_proba(texts).argmax(1).tolist()
    ]
    with pytest.raises(ValueError, match="text 2 is empty"):
        model.predict(["abc", ""])


def test_a_language_model_checkpoint_is_not_a_classifier(tmp_path):
    from rnnlab import LanguageModel

    LanguageModel(Vocabulary.build("char", "abc"), hidden_size=8, num_layers=1).save_pretrained(
        tmp_path / "lm"
    )
    with pytest.raises(ValueError, match="not a sequence classifier"):
        SequenceClassifier.from_pretrained(tmp_path / "lm")


# -- metrics ------------------------------------------------------------------------------------


def test_report_metrics_match_hand_computed_values():
    true = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 0, 1]
    report = ClassificationReport.of(true, predicted, ["a", "b", "c"])
    assert report.confusion.tolist() == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    assert report.accuracy == pytest.approx(3 / 6)
    np.testing.assert_allclose(report.precision, [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(report.recall, [2 / 3, 1 / 2, 0])
    f1_b = 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2)
    assert report.macro_f1 == pytest.approx((2 / 3 + f1_b + 0) / 3)
    assert report.to_json()["per_class"]["c"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }


# -- training -----------------------------------------------------------------------------------


def train_on(data: LabelledData, **settings) -> tuple[float, float, ClassifierTrainer]:
    """(held-out accuracy, majority-class accuracy on the held-out split, trainer)."""
    s = ClassifierSettings(**settings)
    split = Split.of(data, s)
    trainer = ClassifierTrainer(split, s, progress=False, echo=lambda line: None)
    result = trainer.fit()
    majority = np.bincount(split.test_y.numpy()).max() / len(split.test_y)
    return result.report.accuracy, majority, trainer


def test_balance_weights_classes_inversely_to_their_counts(classes):
    data = read_labelled(classes)
    data = data.subset([i for i, label in enumerate(data.labels) if label != "ez"][:-2])
    split = Split.of(data, ClassifierSettings(test_fraction=0.0, hidden_size=8))
    trainer = ClassifierTrainer(
        split, ClassifierSettings(hidden_size=8, balance=True), progress=False
    )
    counts = split.class_counts()  # ing 4, ov 6
    expected = counts.sum() / (2 * counts)
    np.testing.assert_allclose(trainer.weight.numpy(), expected, rtol=1e-6)


def test_a_budget_ends_the_run_mid_epoch_and_still_reports(classes):
    data = read_labelled(classes)
    data = data.subset([i for _ in range(200) for i in range(len(data))])  # 3,600 examples
    settings = ClassifierSettings(hidden_size=16, embedding_size=8, batch_size=4, budget=1.0)
    trainer = ClassifierTrainer(Split.of(data, settings), settings, progress=False)
    result = trainer.fit()
    assert settings.epochs is None and result.elapsed >= 1.0
    assert result.epochs > 0 and result.steps == trainer.step > 0
    assert result.report.total == len(trainer.split.test_ids)


def test_a_single_class_is_an_error(classes):
    data = read_labelled(classes / "ov.txt")
    with pytest.raises(ValueError, match="only one class"):
        Split.of(data, ClassifierSettings())


def test_dedupe_drops_repeats_before_the_split():
    data = LabelledData(["a", "a", "b", "a"], ["x", "x", "y", "y"])
    kept, dropped = data.deduplicated()
    assert dropped == 1 and list(zip(kept.texts, kept.labels, strict=True)) == [
        ("a", "x"),
        ("b", "y"),
        ("a", "y"),
    ]


@needs_names
def test_names_slice_beats_the_majority_class_clearly():
    data = read_labelled([NAMES / f"{name}.txt" for name in ("Japanese", "Italian", "Russian")])
    keep, seen = [], Counter()
    for i, label in enumerate(data.labels):  # 200 of each: majority 1/3
        if seen[label] < 200:
            keep.append(i)
            seen[label] += 1
    accuracy, majority, _ = train_on(
        data.subset(keep),
        hidden_size=48,
        embedding_size=16,
        epochs=10,
        batch_size=16,
        warmup=20,
        test_fraction=0.2,
    )
    assert majority == pytest.approx(1 / 3)
    assert accuracy > 0.85, accuracy


@needs_polarity
def test_polarity_slice_beats_the_majority_class_clearly():
    data = read_labelled(POLARITY)
    n = len(data) // 2
    data = data.subset(list(range(1500)) + list(range(n, n + 1500)))
    accuracy, majority, _ = train_on(
        data,
        level="word",
        hidden_size=32,
        embedding_size=32,
        epochs=8,
        batch_size=32,
        min_count=2,
        lr=1e-2,
        weight_decay=0.1,
        dropout=0.5,
        test_fraction=0.2,
    )
    assert majority == pytest.approx(0.5)
    assert accuracy > 0.6, accuracy  # 600 held out: 0.6 is 5 standard errors above chance


# -- the command line ---------------------------------------------------------------------------


def run_train(classes: Path, out: Path, *extra: str) -> int:
    options = ["--hidden", "16", "--embedding", "8", "--epochs", "3", "--test-fraction", "0.3"]
    return main(["classify", "train", "--data", str(classes), "--out", str(out), *options, *extra])


def test_cli_train_predict_evaluate(classes, tmp_path, capsys):
    out = tmp_path / "model"
    assert run_train(classes, out, "--pool", "attention", "--balance") == 0
    printed = capsys.readouterr().out
    assert "skipped 2 empty example(s)" in printed
    assert "held-out accuracy" in printed and "true \\ predicted" in printed
    assert {"config.json", "model.safetensors", "report.json", "confusion.png"} <= {
        p.name for p in out.iterdir()
    }
    report = json.loads((out / "report.json").read_text())
    assert report["held_out_examples"] == 6 and len(report["epochs"]) == 3
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["pool"] == "attention" and config["training"]["balance"] is True
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    lines = write(tmp_path / "lines.txt", "Kuznetsov\n\nRomero\n")
    assert main(["classify", "predict", str(out), "Orlov", "--file", str(lines), "--top", "2"]) == 0
    captured = capsys.readouterr()
    rows = [line.split("\t") for line in captured.out.strip().splitlines()]
    assert [row[0] for row in rows] == ["Orlov", "Kuznetsov", "Romero"]
    assert all(len(row) == 5 and row[1] in {"ov", "ez", "ing"} for row in rows)
    assert float(rows[0][2]) >= float(rows[0][4])
    assert "skipped 1 empty line(s)" in captured.err

    assert main(["classify", "evaluate", str(out), "--data", str(classes)]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_evaluate_classifier_scores_the_models_own_predictions(classes, tmp_path):
    from rnnlab.data.labelled import read_labelled
    from rnnlab.tasks.classify import evaluate_classifier

    assert run_train(classes, tmp_path / "m") == 0
    model = SequenceClassifier.from_pretrained(tmp_path / "m")
    data = read_labelled([classes])
    report = evaluate_classifier(model, data)
    predicted = [label for label, _ in model.predict(data.texts)]
    right = sum(p == t for p, t in zip(predicted, data.labels, strict=True))
    assert report.accuracy == pytest.approx(right / len(data))
    assert report.confusion.sum() == len(data)
    data.labels[0] = "klingon"
    with pytest.raises(ValueError, match="1 label\\(s\\) the model was not trained on: 'klingon'"):
        evaluate_classifier(model, data)
