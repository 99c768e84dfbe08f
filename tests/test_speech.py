"""Speech recognition: the features, CTC decoding and scoring, the synthesiser and data sets,
the model's padding contract, the language-model fusion, and a tiny end-to-end run."""

from __future__ import annotations

import csv
import itertools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlab.cli import main
from rnnlab.tasks.speech import (
    LogMel,
    SpeechRecognizer,
    SpeechSettings,
    SpeechSplit,
    SpeechTrainer,
    error_rates,
    greedy,
    make_dataset,
    mel_filterbank,
    prefix_beam_search,
    read_audio,
    read_manifest,
    write_wav,
)
from rnnlab.tasks.speech.audio import add_noise, change_gain, change_speed
from rnnlab.tasks.speech.corpus import Augmentation, digit_string, speakers
from rnnlab.tasks.speech.ctc import collapse, edit_distance, sequence_log_prob
from rnnlab.tasks.speech.features import augment
from rnnlab.tasks.speech.synthesis import synthesizer
from rnnlab.tasks.speech.training import ctc_steps_needed, split_rows

pytest.importorskip("espeakng_loader", reason="speech needs the espeakng-loader package")


# -- features -------------------------------------------------------------------------------


def _mel(f: float) -> float:
    return 2595 * math.log10(1 + f / 700)


def test_mel_filterbank_follows_the_mel_formula():
    n_mels, n_fft, rate = 10, 64, 8000
    bank = mel_filterbank(n_mels, n_fft, rate).numpy()
    top = _mel(rate / 2)
    corners = [700 * (10 ** (top * i / (n_mels + 1) / 2595) - 1) for i in range(n_mels + 2)]
    for m in range(n_mels):
        low, centre, high = corners[m : m + 3]
        for k in range(n_fft // 2 + 1):
            f = k * rate / n_fft
            expected = max(0.0, min((f - low) / (centre - low), (high - f) / (high - centre)))
            assert bank[m, k] == pytest.approx(expected, abs=1e-6)
    assert _mel(1000) == pytest.approx(1000, abs=0.1)  # the scale's anchor


def test_log_mel_equals_a_direct_computation():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=3217).astype(np.float32)
    logmel = LogMel(sample_rate=16000, n_mels=20)
    got = logmel(torch.tensor(samples)).numpy()
    n_fft, hop, width = 512, 160, 400
    window = np.zeros(n_fft)
    start = (n_fft - width) // 2
    window[start : start + width] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(width) / width)
    padded = np.concatenate([np.zeros(n_fft // 2), samples, np.zeros(n_fft // 2)])
    frames = [padded[t * hop : t * hop + n_fft] for t in range(1 + len(samples) // hop)]
    power = np.abs(np.fft.rfft(np.array(frames) * window, axis=1)) ** 2
    bank = mel_filterbank(20, n_fft, 16000).numpy().astype(np.float64)
    direct = np.log(power @ bank.T + 1e-6)
    direct = (direct - direct.mean(0)) / (direct.std(0) + 1e-5)
    assert got.shape == (logmel.frames(len(samples)), 20) == direct.shape
    np.testing.assert_allclose(got, direct, atol=2e-3)


def test_warp_stretches_the_mel_axis_of_each_utterance():
    bands = 16
    ramp = torch.arange(bands, dtype=torch.float32).expand(4, 9, bands).clone()
    warped = augment(ramp, torch.tensor([9, 9, 9, 9]), warp=0.2)
    for row in warped:
        stretch = 1 / row[0, 1].item()  # band 1 reads band 1 / a
        assert 0.8 <= stretch <= 1.2
        expected = (torch.arange(bands) / stretch).clamp(max=bands - 1)
        torch.testing.assert_close(row, expected.expand(9, bands), atol=1e-5, rtol=0)
    assert torch.equal(augment(ramp, torch.tensor([9] * 4)), ramp)  # nothing asked, nothing done


def test_masks_zero_whole_bands_and_spans_and_leave_padding_alone():
    torch.manual_seed(1)
    features = torch.randn(6, 40, 16) + 5  # no zeros of its own
    lengths = torch.tensor([40, 30, 20, 40, 12, 35])
    features[torch.arange(40) >= lengths.unsqueeze(1)] = 0  # padding
    masked = augment(features, lengths, masks=2)
    changed = masked != features
    assert (masked[changed] == 0).all()  # a mask sets to the normalised mean, 0
    assert changed.any()
    for row, n in zip(masked, lengths.tolist(), strict=True):
        zero = row[:n] == 0
        bands = zero.all(0).sum().item()
        frames = zero.all(1).sum().item()
        assert bands <= 2 * 2  # two masks of at most 16 / 8 bands
        assert frames <= 2 * min(20, n // 10)
        assert (zero.all(0) | zero.all(1).unsqueeze(1) | ~zero).all()  # only whole bands, spans
        assert (row[n:] == 0).all()


# -- CTC ------------------------------------------------------------------------------------


def test_greedy_collapses_repeats_and_drops_blanks():
    # frames: h h - e - l l - l o  (0 is the blank)
    path = [1, 1, 0, 2, 0, 3, 3, 0, 3, 4]
    log_probs = np.log(np.eye(5)[path] * 0.96 + 0.01)
    assert greedy(log_probs) == [1, 2, 3, 3, 4]
    assert collapse([0, 0, 0]) == []


def _exhaustive(log_probs: np.ndarray) -> dict[tuple[int, ...], float]:
    """p(label) for every label: the sum over every alignment that collapses to it."""
    totals: dict[tuple[int, ...], float] = {}
    steps, symbols = log_probs.shape
    for path in itertools.product(range(symbols), repeat=steps):
        p = math.exp(sum(log_probs[t, s] for t, s in enumerate(path)))
        label = tuple(collapse(path))
        totals[label] = totals.get(label, 0.0) + p
    return totals


@pytest.mark.parametrize("seed", range(6))
def test_prefix_beam_search_equals_exhaustive_search(seed):
    rng = np.random.default_rng(seed)
    log_probs = torch.randn(5, 3, generator=torch.Generator().manual_seed(seed)) * 1.5
    log_probs = log_probs.log_softmax(-1).double().numpy()
    totals = _exhaustive(log_probs)
    best = max(totals, key=totals.get)
    assert tuple(prefix_beam_search(log_probs, beam=64, prune=-1e9)) == best
    label = list(best) or [int(rng.integers(1, 3))]
    assert math.exp(sequence_log_prob(log_probs, label)) == pytest.approx(
        totals.get(tuple(label), 0.0), rel=1e-9, abs=1e-15
    )
    torch_loss = F.ctc_loss(
        torch.tensor(log_probs).unsqueeze(1),
        torch.tensor([label]),
        torch.tensor([5]),
        torch.tensor([len(label)]),
        reduction="sum",
    )
    assert -torch_loss.item() == pytest.approx(sequence_log_prob(log_probs, label), rel=1e-9)


def test_beam_search_finds_what_greedy_misses():
    # greedy reads the best frame each time (blank, blank: nothing); the label "1" collects the
    # probability of three alignments (1-, -1, 11) and wins: 0.6 * 0.4 * 2 + 0.16 > 0.36.
    log_probs = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert greedy(log_probs) == []
    assert prefix_beam_search(log_probs, beam=4) == [1]


def test_language_model_fusion_decides_between_sounds():
    # two frames equally "1" or "2" after a "3": a language model that expects "3 1" picks it
    frames = np.log(np.array([[0.02, 0.02, 0.02, 0.94], [0.02, 0.49, 0.47, 0.02]]))
    assert prefix_beam_search(frames, beam=8) == [3, 1]

    def prefers_two(prefix):
        return np.log(np.array([1.0, 0.05, 0.9, 0.05]))

    assert prefix_beam_search(frames, beam=8, lm=prefers_two, lm_weight=1.0) == [3, 2]
    assert prefix_beam_search(frames, beam=8, lm=prefers_two, lm_weight=0.0) == [3, 1]


def test_edit_distance_and_error_rates():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("abc", "") == 3
    assert edit_distance("abc", "abc") == 0
    cer, wer = error_rates([("one two", "one too"), ("three", "three")])
    assert cer == pytest.approx(1 / 12)  # one substitution in 7 + 5 characters
    assert wer == pytest.approx(1 / 3)
    assert ctc_steps_needed([1, 1, 2, 2, 2]) == 8


# -- audio and data ---------------------------------------------------------------------------


def test_synthesiser_speaks_and_refuses_unknown_voices():
    voice = synthesizer()
    samples = voice.speak("three one four one five", "en-us+f3", rate=170, pitch=50)
    assert samples.dtype == np.int16
    assert 1.0 < len(samples) / voice.sample_rate < 3.0
    assert np.abs(samples).max() > 1000
    slower = voice.speak("three one four one five", "en-us+f3", rate=100, pitch=50)
    assert len(slower) > 1.3 * len(samples)
    with pytest.raises(ValueError, match="no voice"):
        voice.speak("one", "xx-nowhere+nobody")


def test_augmentations():
    rng = np.random.default_rng(0)
    clean = np.sin(np.arange(16000) / 5).astype(np.float32) * 0.5
    noisy = add_noise(clean, 10.0, rng)
    snr = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
    assert snr == pytest.approx(10.0, abs=0.2)
    assert len(change_speed(clean, 1.25)) == pytest.approx(16000 / 1.25, abs=2)
    assert np.abs(change_gain(clean, 20)).max() == pytest.approx(1.0)  # clipped at full scale
    assert change_gain(clean, -6.0206)[8] == pytest.approx(clean[8] / 2, rel=1e-3)


def test_read_audio_mixes_down_and_resamples(tmp_path):
    import soundfile

    tone = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050) * 0.5
    stereo = np.stack([tone, 0.5 * tone], axis=1)
    soundfile.write(tmp_path / "s.wav", stereo, 22050, subtype="FLOAT")
    samples = read_audio(tmp_path / "s.wav", 16000)
    assert len(samples) == 16000
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)  # 1 s: bin k is k Hz
    assert np.abs(samples).max() == pytest.approx(0.375, abs=0.01)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"RIFF....WAVEfmt nonsense"), "not a readable audio file"),
        (lambda p: write_wav(p, np.zeros(0, np.float32), 16000), "holds no samples"),
        (lambda p: write_wav(p, np.zeros(8000, np.float32), 16000), "silent"),
        (lambda p: write_wav(p, np.ones(800, np.float32) * 0.5, 2000), "2000 Hz cannot be used"),
    ],
)
def test_read_audio_refuses_what_it_cannot_use(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(ValueError, match=message):
        read_audio(path, 16000)
    with pytest.raises(FileNotFoundError):
        read_audio(tmp_path / "missing.wav", 16000)


def test_made_data_holds_test_voices_out_of_training(tmp_path):
    made = make_dataset(tmp_path / "d", utterances=60, test_fraction=0.3, seed=3)
    assert len(made) == 60
    with open(tmp_path / "d" / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "transcript", "voice", "rate", "pitch", "split"]
    train = {r["voice"].split("+")[1] for r in rows if r["split"] == "train"}
    test = {r["voice"].split("+")[1] for r in rows if r["split"] == "test"}
    assert test and train and not train & test
    assert all((tmp_path / "d" / r["path"]).is_file() for r in rows)
    train_speakers, test_speakers = speakers(0.3, 3)
    assert {v.split("+")[1] for v in test_speakers}.isdisjoint(
        v.split("+")[1] for v in train_speakers
    )
    assert all(
        w in {*digit_string.__globals__["DIGITS"], "oh"}
        for r in rows
        for w in r["transcript"].split()
    )
    assert read_manifest(tmp_path / "d").transcripts == [r["transcript"] for r in rows]


def test_split_by_voice_without_a_split_column(tmp_path):
    made = make_dataset(tmp_path / "d", utterances=40, test_fraction=0.2, seed=1)
    made.splits = [""] * len(made)
    train, test, how = split_rows(made, 0.25, seed=0)
    assert "voices held out" in how
    assert {made.voices[i] for i in train}.isdisjoint(made.voices[i] for i in test)
    assert sorted(train + test) == list(range(len(made)))


# -- the model --------------------------------------------------------------------------------


def test_a_padded_batch_gives_each_utterance_its_own_posteriors():
    torch.manual_seed(0)
    model = SpeechRecognizer("abc ", hidden_size=16, num_layers=2, n_mels=8, subsample=2).eval()
    features = [torch.randn(n, 8) for n in (7, 12, 3)]
    batched = model.posteriors(features, batch_size=3)
    for f, together in zip(features, batched, strict=True):
        alone = model.posteriors([f], batch_size=1)[0]
        assert together.shape == alone.shape == (math.ceil(len(f) / 2), 5)
        np.testing.assert_allclose(together, alone, atol=1e-5)


def test_checkpoint_round_trip_and_unknown_characters(tmp_path):
    model = SpeechRecognizer("ab ", hidden_size=8, num_layers=1, n_mels=8, subsample=3)
    model.save_pretrained(tmp_path / "m")
    loaded = SpeechRecognizer.from_pretrained(tmp_path / "m")
    features = [torch.randn(10, 8)]
    np.testing.assert_allclose(loaded.posteriors(features)[0], model.posteriors(features)[0])
    assert loaded.encode("  AB  a") == [1, 2, 3, 1]
    with pytest.raises(ValueError, match="does not write: 'z'"):
        loaded.encode("abz")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("sample_rate", 10**12, "sample_rate must be an integer in 4000..192000"),
        ("sample_rate", 16000.5, "sample_rate must be an integer"),
        ("n_mels", 100_000, "n_mels must be an integer in 8..128"),
        ("subsample", 0, "subsample must be an integer in 1..4"),
    ],
)
def test_a_tampered_config_is_refused_before_anything_is_built(tmp_path, key, value, message):
    SpeechRecognizer("ab ", hidden_size=8, num_layers=1, n_mels=8).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["model"][key] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        SpeechRecognizer.from_pretrained(tmp_path)


def test_language_scores_follow_the_language_model(tmp_path):
    from rnnlab.data.vocab import Vocabulary
    from rnnlab.tasks.language import LanguageModel
    from rnnlab.tasks.speech.fusion import language_scores

    lm = LanguageModel(Vocabulary.build("char", "\nab Ab"), hidden_size=8, embedding_size=4)
    lm.eval()
    scores = language_scores(lm, "ab ")
    with torch.no_grad():
        logits, _ = lm(lm.vocab.encode("\nab").unsqueeze(0))
    full = logits[0, -1].log_softmax(-1)
    expected = [full[lm.vocab.encode(c)[0]].item() for c in "ab "]
    np.testing.assert_allclose(scores((1, 2))[1:], expected, atol=1e-5)
    assert scores(())[0] == 0.0
    with pytest.raises(ValueError, match="does not know the character 'z'"):
        language_scores(lm, "abz")


# -- end to end -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A few voices saying zero, one, two; seconds of training."""
    root = tmp_path_factory.mktemp("speech")
    words = ["zero", "one", "two", "two one", "one zero", "zero two"]
    made = make_dataset(
        root / "data",
        words,
        utterances=160,
        test_fraction=0.25,
        augmentation=Augmentation(snr=None),
        seed=0,
    )
    settings = SpeechSettings(
        hidden_size=48, num_layers=2, n_mels=32, subsample=3, epochs=30, batch_size=16, lr=5e-3
    )
    split = SpeechSplit.of(made, settings)
    result = SpeechTrainer(split, settings, root / "run", progress=False).fit()
    return root, split, result


def test_tiny_end_to_end_run_learns_to_hear(tiny_run):
    root, split, result = tiny_run
    assert split.alphabet == " enortwz"
    assert len(split.test) and set(split.test.voices).isdisjoint(split.train.voices)
    # chance: a random one of the three words for each spoken word, WER at least 2/3
    assert result.report.wer < 0.4, result.report.to_json()
    assert (root / "run" / "report.json").is_file()
    assert (root / "run" / "alignment.png").stat().st_size > 10_000


def test_transcribe_and_evaluate_commands(tiny_run, tmp_path, capsys):
    root, _, _ = tiny_run
    voice = synthesizer()
    spoken = voice.speak("two", "en+m3", 170, 50).astype(np.float32) / 32768
    write_wav(tmp_path / "two.wav", spoken, voice.sample_rate)
    assert main(["speech", "transcribe", str(root / "run"), str(tmp_path / "two.wav")]) == 0
    text = capsys.readouterr().out.strip()
    model = SpeechRecognizer.from_pretrained(root / "run")
    assert text == model.transcribe([read_audio(tmp_path / "two.wav", model.sample_rate)])[0]
    assert set(text) <= set(" enortwz")
    code = main(
        [
            "speech",
            "evaluate",
            str(root / "run"),
            "--data",
            str(root / "data"),
            "--beam",
            "4",
            "--snr",
            "20",
            "--out",
            str(tmp_path / "eval"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "white noise at 20 dB" in out and "beam 4" in out
    assert (tmp_path / "eval" / "report.json").is_file()


def test_decoding_takes_a_beam_of_8_for_a_language_model_unless_one_is_asked(tiny_run, tmp_path):
    from rnnlab.data.vocab import Vocabulary
    from rnnlab.tasks.language import LanguageModel
    from rnnlab.tasks.speech import SpeechDecoding, evaluate_recognizer

    root, _, _ = tiny_run
    model = SpeechRecognizer.from_pretrained(root / "run")
    LanguageModel(Vocabulary.build("char", "\nzero one two"), hidden_size=8).save_pretrained(
        tmp_path / "lm"
    )
    assert SpeechDecoding().arguments_for(model) == {"beam": 1, "lm": None, "lm_weight": 0.5}
    fused = SpeechDecoding(lm=str(tmp_path / "lm")).arguments_for(model)
    assert fused["beam"] == SpeechDecoding.LM_BEAM == 8 and fused["lm"] is not None
    assert SpeechDecoding(beam=3, lm=str(tmp_path / "lm")).arguments_for(model)["beam"] == 3
    # evaluate_recognizer scores the test rows as score() does on what was heard
    report, heard, posteriors = evaluate_recognizer(
        model, read_manifest(root / "data"), SpeechDecoding(), echo=lambda line: None
    )
    direct = [model.decode(greedy(p)) for p in posteriors]
    pairs = list(zip(heard.transcripts, direct, strict=True))
    assert (report.cer, report.wer) == pytest.approx(error_rates(pairs))
    assert len(heard) == sum(s == "test" for s in read_manifest(root / "data").splits)


def test_a_manifest_with_a_byte_order_mark_reads_like_one_without(tmp_path):
    """Issue 41, finding 4: the mark was read as part of the first column's name."""
    write_wav(tmp_path / "a.wav", np.zeros(1600, dtype=np.float32), 16000)
    text = "path,transcript,voice\na.wav,abc,v1\n"
    (tmp_path / "plain.csv").write_text(text)
    (tmp_path / "marked.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    plain, marked = read_manifest(tmp_path / "plain.csv"), read_manifest(tmp_path / "marked.csv")
    assert marked.paths == plain.paths == [tmp_path / "a.wav"]
    assert marked.transcripts == ["abc"] and marked.voices == ["v1"]


def test_no_training_rows_says_why(tmp_path):
    """Issue 41, finding 4: the line ended at "no usable training utterances;"."""
    write_wav(tmp_path / "a.wav", np.zeros(16000, dtype=np.float32), 16000)
    (tmp_path / "m.csv").write_text("path,transcript,split\na.wav,abc,test\n")
    with pytest.raises(ValueError, match="the manifest's split leaves no row to train on"):
        SpeechSplit.of(read_manifest(tmp_path / "m.csv"), SpeechSettings(n_mels=8))
