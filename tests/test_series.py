"""Numeric series in the classifier: the readers, standardisation, the missing-value rule,
augmentation, padding, checkpoints and the command line, against hand-made files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab import SequenceClassifier
from rnnlab.cli import main
from rnnlab.data.augment import Augmentation, time_warp, warped_times, window_slice
from rnnlab.data.batches import pad
from rnnlab.data.series import (
    SeriesData,
    SeriesScaling,
    read_builtin,
    read_long_csv,
    read_npz,
    read_series,
    read_ts,
)
from rnnlab.tasks.classify.model import POOLS
from rnnlab.tasks.classify.training import ClassifierSettings, ClassifierTrainer, Split

TS_HEADER = """# a comment
@problemName tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true 1 2
@data
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- .ts --------------------------------------------------------------------------------------


def test_ts_reads_ragged_multivariate_series_with_numeric_labels_and_a_missing_value(tmp_path):
    path = write(tmp_path / "a.ts", TS_HEADER + "1,2,3:4,5,6:1\n7,?:8,9:2\n")
    data = read_ts(path)
    assert data.labels == ["1", "2"] and data.channels == ["dim_0", "dim_1"]
    np.testing.assert_array_equal(data.series[0], [[1, 4], [2, 5], [3, 6]])
    assert data.series[1].shape == (2, 2) and np.isnan(data.series[1][1, 0])
    assert data.sources == [str(path.resolve())]


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        (TS_HEADER, "1,2:3,4:5,6:1\n", "says 2 dimension"),  # three channels
        (TS_HEADER.replace("@univariate false", "@univariate true"), "1,2:3,4:1\n", "1 dim"),
        (TS_HEADER.replace("@equalLength false", "@equalLength true"), "1:2:1\n1,2:3,4:2\n", "len"),
        (TS_HEADER.replace("@dimensions 2", "@dimensions two"), "1:2:1\n", "must be a count"),
        (TS_HEADER.replace("@univariate false", "@univariate maybe"), "1:2:1\n", "true or false"),
        (TS_HEADER, "1:2:3\n", "label '3' is not among"),
        (TS_HEADER.replace("@data\n", ""), "1:2:1\n", "header ending in @data"),
        (TS_HEADER, "1,x:2,3:1\n", "not a readable .ts"),
        (TS_HEADER, "", "holds no series"),
        (TS_HEADER, "1,inf:2,3:1\n", "infinite value"),
    ],
)
def test_a_ts_file_whose_header_lies_or_breaks_is_refused(tmp_path, header, body, message):
    with pytest.raises(ValueError, match=message):
        read_ts(write(tmp_path / "bad.ts", header + body))


# -- a long CSV and .npz ------------------------------------------------------------------------


def test_a_long_csv_groups_rows_by_id_and_orders_them_by_time(tmp_path):
    text = "id,t,x,y,label\nb,2,5,50,down\na,1,1,10,up\nb,1,6,60,down\na,2,2,,up\na,3,3,30,up\n"
    data = read_long_csv(write(tmp_path / "s.csv", text), "id", "t")
    assert data.ids == ["b", "a"] and data.labels == ["down", "up"]
    assert data.channels == ["x", "y"]
    np.testing.assert_array_equal(data.series[0], [[6, 60], [5, 50]])
    assert np.isnan(data.series[1][1, 1]) and data.series[1][2, 0] == 3
    with pytest.raises(ValueError, match="line 3: the time column needs a number"):
        read_long_csv(write(tmp_path / "t.csv", "id,t,x\na,1,1\na,,2\n"), "id", "t")
    unlabelled = read_long_csv(write(tmp_path / "u.csv", "id,x\na,1\na,2\nb,3\n"), "id")
    assert unlabelled.labels == [] and [len(s) for s in unlabelled.series] == [2, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,x,y,label\na,1,2,u\na,3,,u\nb,1,,v\nb,2,,v\n", "no values for channel 'y'"),
        ("id,x,label\na,1,u\na,2,v\n", "two labels"),
        ("id,x,label\na,1,u,9\n", "line 2: 4 field"),
        ("id,x,label\na,one,u\n", "line 2: a value is not a number"),
        ("id,x,label\na,inf,u\n", "infinite value"),
        ("id,label\na,u\n", "no channel columns"),
    ],
)
def test_a_bad_long_csv_is_refused_naming_what(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_long_csv(write(tmp_path / "s.csv", text), "id")


def test_npz_reads_padded_values_with_lengths_and_refuses_objects(tmp_path):
    values = np.arange(24, dtype=np.float32).reshape(3, 4, 2)
    np.savez(tmp_path / "a.npz", values=values, lengths=np.array([4, 1, 2]), labels=[7, 8, 7])
    data = read_npz(tmp_path / "a.npz")
    assert [len(s) for s in data.series] == [4, 1, 2] and data.labels == ["7", "8", "7"]
    np.testing.assert_array_equal(data.series[2], values[2, :2])
    np.savez(tmp_path / "flat.npz", values=np.ones((2, 5)))
    assert read_npz(tmp_path / "flat.npz").series[0].shape == (5, 1)
    np.savez(tmp_path / "o.npz", values=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="holds Python objects"):
        read_npz(tmp_path / "o.npz")
    np.savez(tmp_path / "l.npz", values=values, lengths=np.array([4, 0, 2]))
    with pytest.raises(ValueError, match="every length must be from 1 to 4"):
        read_npz(tmp_path / "l.npz")


def test_which_reader_is_chosen_by_suffix_and_id_column(tmp_path):
    np.savez(tmp_path / "a.npz", values=np.ones((2, 3)))
    assert len(read_series(tmp_path / "a.npz")) == 2
    csv = write(tmp_path / "s.csv", "id,x\na,1\n")
    with pytest.raises(ValueError, match="needs --id-column"):
        read_series(csv)
    with pytest.raises(ValueError, match="data not found"):
        read_series(tmp_path / "none.ts")
    (tmp_path / "folder.ts").mkdir()
    with pytest.raises(ValueError, match="is not a regular file"):
        read_series(tmp_path / "folder.ts")
    with pytest.raises(ValueError, match="is empty"):  # the project's text reader's words
        read_series(write(tmp_path / "empty.csv", ""), "id")
    with pytest.raises(ValueError, match="no column named 'trial'"):
        read_series(csv, "trial")
    assert len(read_series(csv, "id")) == 1


def test_the_builtin_sets_have_their_official_splits():
    vowels = read_builtin("JapaneseVowels")
    assert (len(vowels.official("train")), len(vowels.official("test"))) == (270, 370)
    assert len(vowels.channels) == 12 and {len(s) for s in vowels.series} >= {7, 29}
    motions = read_builtin("BasicMotions")
    assert len(motions.channels) == 6 and motions.part.count("test") == 40
    with pytest.raises(ValueError, match="builtin data set must be one of"):
        read_builtin("Nowhere")


# -- standardisation and missing values ---------------------------------------------------------


def test_scaling_comes_from_the_training_split_only():
    rng = np.random.default_rng(0)
    series = [rng.normal(i % 2 * 5, 1 + i % 2, size=(6 + i % 3, 2)) for i in range(40)]
    data = SeriesData(
        series, ["ab"[i % 2] for i in range(40)], ["x", "y"], [str(i) for i in range(40)]
    )
    split = Split.of(data, ClassifierSettings(test_fraction=0.25, seed=3))
    train = np.concatenate([series[i] for i in range(40) if str(i) in _train_ids(data, split)])
    np.testing.assert_allclose(split.series.mean, train.mean(0))
    np.testing.assert_allclose(split.series.std, train.std(0))
    everything = np.concatenate(series)
    assert not np.allclose(split.series.mean, everything.mean(0))


def _train_ids(data: SeriesData, split: Split) -> set[str]:
    """The ids of the training series, found by their standardised values."""
    found = set()
    for values, name in zip(data.series, data.ids, strict=True):
        z = split.series.apply(values)
        if any(t.shape == z.shape and torch.equal(t, z) for t in split.train_ids):
            found.add(name)
    return found


def test_missing_values_are_refused_or_carried_by_the_stated_rule():
    scaling = SeriesScaling(["a", "b", "c"], [0.0, 0.0, 10.0], [1.0, 1.0, 2.0])
    values = np.array([[np.nan, 1.0, np.nan], [2.0, np.nan, np.nan], [np.nan, 3.0, np.nan]])
    with pytest.raises(ValueError, match=r"missing value \(step 1, channel a\); --missing carry"):
        scaling.apply(values)
    carried = SeriesScaling(["a", "b", "c"], [0.0, 0.0, 10.0], [1.0, 1.0, 2.0], "carry")
    expected = [[2.0, 1.0, 0.0], [2.0, 1.0, 0.0], [2.0, 3.0, 0.0]]  # back, forward, mean
    np.testing.assert_array_equal(carried.apply(values).numpy(), expected)
    with pytest.raises(ValueError, match=r"has 2 channel\(s\); the model reads 3"):
        carried.apply(np.ones((4, 2)))
    with pytest.raises(ValueError, match="too large to read once standardised"):
        carried.apply(np.array([[1.0, 1e300, 0.0]]))
    with pytest.raises(ValueError, match="infinite"):
        carried.apply(np.array([[1.0, -np.inf, 0.0]]))


def test_a_constant_channel_keeps_unit_deviation():
    scaling = SeriesScaling.fit([np.array([[1.0, 5.0], [3.0, 5.0]])], ["x", "y"], "refuse")
    np.testing.assert_allclose(scaling.mean, [2.0, 5.0])
    np.testing.assert_allclose(scaling.std, [1.0, 1.0])


# -- augmentation ---------------------------------------------------------------------------


def test_augmentation_off_leaves_a_series_unchanged():
    z = torch.randn(9, 3)
    assert torch.equal(Augmentation()(z, np.random.default_rng(0)), z)
    assert not Augmentation().active and Augmentation(slice=0.5).active


def test_jitter_and_scale_draw_the_stated_noise():
    z = torch.ones(20_000, 2)
    jittered = Augmentation(jitter=0.1)(z, np.random.default_rng(0)) - z
    assert abs(float(jittered.std()) - 0.1) < 0.003 and abs(float(jittered.mean())) < 0.003
    scaled = Augmentation(scale=0.2)(z * torch.tensor([1.0, 3.0]), np.random.default_rng(1))
    factors = scaled / torch.tensor([1.0, 3.0])
    assert torch.allclose(factors, factors[0].expand_as(factors))  # one factor per channel
    assert factors[0, 0] != factors[0, 1]


def test_time_warp_keeps_length_and_ends_and_reads_in_order():
    rng = np.random.default_rng(0)
    tau = warped_times(50, 0.4, rng)
    assert tau[0] == 0 and tau[-1] == pytest.approx(49) and (np.diff(tau) > 0).all()
    assert not np.allclose(tau, np.arange(50))
    ramp = torch.arange(50, dtype=torch.float64)[:, None].repeat(1, 2)
    warped = time_warp(ramp, 0.4, np.random.default_rng(0))
    torch.testing.assert_close(warped[:, 0], torch.from_numpy(tau))  # a ramp reads its times


def test_window_slice_takes_a_contiguous_window_of_the_stated_size():
    z = torch.arange(40.0)[:, None]
    window = window_slice(z, 0.9, np.random.default_rng(2))
    assert len(window) == 36 and torch.equal(window[:, 0], window[0, 0] + torch.arange(36.0))
    assert len(window_slice(z[:1], 0.5, np.random.default_rng(0))) == 1


# -- the model ------------------------------------------------------------------------------


def series_model(pool: str, bidirectional: bool, cell: str = "lstm", embedding=None):
    scaling = SeriesScaling(["a", "b", "c"], [1.0, 2.0, 3.0], [2.0, 1.0, 0.5])
    model = SequenceClassifier(
        None, ["x", "y"], cell, 10, 2, bidirectional, pool, embedding, 0.0, series=scaling
    )
    return model.double().eval()


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("cell", "embedding"), [("lstm", None), ("gru", 4), ("mingru", None)])
def test_a_series_gets_the_same_prediction_alone_and_in_any_padded_batch(
    pool, bidirectional, cell, embedding
):
    model = series_model(pool, bidirectional, cell, embedding)
    series = [torch.randn(n, 3, dtype=torch.float64) for n in (7, 3, 11)]
    for fill in (0.0, 9.0):
        values, lengths = pad(series, value=fill)
        together = model(values, lengths)
        for row, one in enumerate(series):
            alone = model(one[None], torch.tensor([len(one)]))[0]
            torch.testing.assert_close(together[row], alone, rtol=1e-10, atol=1e-12)


def test_a_series_classifier_round_trips_and_standardises_raw_values(tmp_path):
    model = series_model("mean", True).float()
    raw = [np.random.default_rng(i).normal(2, 3, size=(5 + i, 3)) for i in range(4)]
    model.save_pretrained(tmp_path / "m")
    loaded = SequenceClassifier.from_pretrained(tmp_path / "m")
    torch.testing.assert_close(loaded.predict_proba(raw), model.predict_proba(raw))
    assert loaded.series.to_json() == model.series.to_json() and loaded.vocab is None
    z = (raw[0] - np.array([1.0, 2.0, 3.0])) / np.array([2.0, 1.0, 0.5])
    direct = model(torch.tensor(z, dtype=torch.float32)[None], torch.tensor([5])).softmax(-1)
    torch.testing.assert_close(model.predict_proba(raw[:1]), direct)
    with pytest.raises(ValueError, match="reads numeric series, and series 1 is a text"):
        model.predict_proba(["abc"])


# -- training and the command line ----------------------------------------------------------


def two_class_series(count: int, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """Rising or falling through the same values (so only the order tells), plus noise."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for i in range(count):
        n = int(rng.integers(5, 16))
        ramp = np.linspace(-1, 1, n) * (1 if i % 2 else -1)
        values = np.stack([ramp, rng.normal(0, 1, n)], 1) + rng.normal(0, 0.1, (n, 2))
        series.append(values * 3 + 10)
        labels.append("rise" if i % 2 else "fall")
    return series, labels


def write_long_csv(path: Path, series, labels) -> Path:
    lines = ["series,step,x,noise,label"]
    for k, (values, label) in enumerate(zip(series, labels, strict=True)):
        lines += [f"s{k},{t},{v[0]:.6f},{v[1]:.6f},{label}" for t, v in enumerate(values)]
    return write(path, "\n".join(lines) + "\n")


def test_a_tiny_run_learns_rising_from_falling(tmp_path, capsys):
    series, labels = two_class_series(80)
    data = write_long_csv(tmp_path / "ramps.csv", series, labels)
    out = tmp_path / "model"
    options = ["--hidden", "16", "--epochs", "25", "--test-fraction", "0.25", "--lr", "1e-2"]
    common = ["--data", str(data), "--id-column", "series", "--time-column", "step"]
    assert main(["classify", "train", *common, "--out", str(out), *options]) == 0
    printed = capsys.readouterr().out
    assert "2 channel(s), standardised on the training series" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["final"]["accuracy"] == 1.0 and report["held_out_examples"] == 20
    config = json.loads((out / "config.json").read_text())
    assert config["series"]["channels"] == ["x", "noise"] and "vocab" not in config
    assert config["model"]["embedding_size"] is None  # the series' recommended settings

    fresh, fresh_labels = two_class_series(10, seed=5)
    unseen = write_long_csv(tmp_path / "new.csv", fresh, fresh_labels)
    assert main(["classify", "predict", str(out), "--data", str(unseen), "--id-column", "series",
                 "--time-column", "step"]) == 0  # fmt: skip
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert [row[0] for row in rows] == [f"s{k}" for k in range(10)]
    assert [row[1] for row in rows] == fresh_labels
    assert main(["classify", "evaluate", str(out), "--data", str(unseen), "--id-column",
                 "series", "--time-column", "step"]) == 0  # fmt: skip
    assert "accuracy 1.0000, macro-F1 1.0000 on 10" in capsys.readouterr().out


def test_augmented_training_is_seeded_and_texts_refuse_augmentation(tmp_path):
    series, labels = two_class_series(24)
    data = SeriesData(series, labels, ["x", "n"], [str(i) for i in range(24)])
    settings = {"hidden_size": 8, "epochs": 2, "batch_size": 8}
    settings |= {"augment_jitter": 0.1, "augment_warp": 0.2}

    def weights() -> torch.Tensor:
        s = ClassifierSettings(**settings, embedding_size=None)
        trainer = ClassifierTrainer(Split.of(data, s), s, progress=False, echo=lambda _: None)
        trainer.fit()
        return trainer.model.head.weight.detach().clone()

    first = weights()
    assert torch.equal(first, weights())
    plain = ClassifierSettings(hidden_size=8, epochs=2, batch_size=8, embedding_size=None)
    trainer = ClassifierTrainer(Split.of(data, plain), plain, progress=False, echo=lambda _: None)
    trainer.fit()
    assert not torch.equal(first, trainer.model.head.weight)  # the augmentation did something
    from rnnlab.data.labelled import LabelledData

    texts = LabelledData(["ab", "ba", "aa", "bb"] * 3, ["x", "y"] * 6)
    s = ClassifierSettings(epochs=1, augment_jitter=0.1)
    with pytest.raises(ValueError, match="--augment-\\* options change numeric series"):
        ClassifierTrainer(Split.of(texts, s), s, progress=False, echo=lambda _: None)


def test_the_official_split_is_used_and_the_report_scores_the_test_part(tmp_path, capsys):
    out = tmp_path / "motions"
    options = ["--hidden", "8", "--epochs", "1", "--batch-size", "40"]
    assert (
        main(["classify", "train", "--builtin", "BasicMotions", "--out", str(out), *options]) == 0
    )
    printed = capsys.readouterr().out
    assert "official split (40 train, 40 test)" in printed
    assert json.loads((out / "report.json").read_text())["held_out_examples"] == 40
    assert main(["classify", "evaluate", str(out), "--builtin", "BasicMotions"]) == 0
    assert " on 40" in capsys.readouterr().out
    assert main(["classify", "predict", str(out), "--builtin", "BasicMotions"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 40 and rows[0].startswith("test-1\t")


def test_series_runs_are_sized_to_about_the_same_number_of_updates(tmp_path):
    from rnnlab.tasks.classify.training import (
        CLASSIFY,
        SERIES_UPDATES,
        recommended_classifier_settings,
        series_epochs,
    )

    assert series_epochs(270, 16) == 119 and SERIES_UPDATES <= 119 * 270 / 16
    assert series_epochs(40, 16) == 200 and series_epochs(10**6, 16) == 10  # the bounds
    assert series_epochs(2400, 32) == 2 * series_epochs(2400, 16) - 1  # ceil(26.7), ceil(13.3)
    settings = recommended_classifier_settings(270)
    assert (settings.epochs, settings.embedding_size, settings.hidden_size) == (119, None, 128)
    assert recommended_classifier_settings(270, epochs=3).epochs == 3
    assert recommended_classifier_settings(270, budget=5.0).epochs is None
    assert recommended_classifier_settings(**{}).embedding_size == 64  # texts: unchanged
    assert CLASSIFY.recommended({}, {"builtin": "BasicMotions"}).epochs == 200  # 40 train
    series, labels = two_class_series(100)
    data = write_long_csv(tmp_path / "s.csv", series, labels)
    options = {"data": [str(data)], "id_column": "series"}
    given = {"test_fraction": 0.2, "batch_size": 8}
    assert CLASSIFY.recommended(given, options).epochs == series_epochs(80, 8)
