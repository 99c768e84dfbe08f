"""The encoder-decoder: pairs and tokens, masking, greedy and beam search, learning, the CLI."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter

import pytest
import torch

from conftest import SHARED_DATA
from rnnlab.cli import main
from rnnlab.data.batches import pad
from rnnlab.data.vocab import Vocabulary, target_vocabulary
from rnnlab.generation import beam_search
from rnnlab.tasks.translate.model import ATTENTIONS, Seq2Seq
from rnnlab.tasks.translate.pairs import Pairs, grouped_split, read_pairs, sentence_tokens
from rnnlab.tasks.translate.training import (
    PairSplit,
    Seq2SeqSettings,
    Seq2SeqTrainer,
    _teacher_forced,
    corpus_bleu,
    encode_pairs,
)

PAIRS = [
    ("one", "un"),
    ("two", "deux"),
    ("three", "trois"),
    ("four", "quatre"),
    ("one two", "un deux"),
    ("two three four", "deux trois quatre"),
    ("four one", "quatre un"),
    ("three three", "trois trois"),
]


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def random_model(attention: str, cell: str = "lstm", level: str = "word", **options) -> Seq2Seq:
    """An untrained float64 model over the vocabulary of PAIRS (plus some noise words)."""
    sources = Counter(t for s, _ in PAIRS for t in sentence_tokens(s, level))
    targets = Counter(t for _, s in PAIRS for t in sentence_tokens(s, level))
    model = Seq2Seq(
        Vocabulary.from_counts(level, sources),
        target_vocabulary(level, targets),
        cell=cell,
        hidden_size=12,
        embedding_size=6,
        attention=attention,
        max_length=12,
        **options,
    )
    return model.double().eval()


# -- data -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Je suis là !", "J'ai faim.", "Souriez\u202f!", "  a  b ", "Hi."])
def test_word_tokens_join_back_to_the_sentence(text):
    tokens = sentence_tokens(text, "word")
    assert "".join(tokens) == text.strip()
    assert all(t.strip() for t in tokens)  # no whitespace-only token
    assert sentence_tokens(text, "char") == list(text.strip())


def test_read_pairs_columns_skips_and_errors(tmp_path):
    path = write(
        tmp_path / "p.txt",
        "Go.\tVa !\tattribution\n\tvide\tx\nHi.\t \tx\n\nA b c d.\tUn deux.\tx\n",
    )
    pairs = read_pairs(path, max_length=4)
    assert pairs.sources == ["Go."] and pairs.targets == ["Va !"]
    assert pairs.empty == 2 and pairs.too_long == 1
    flipped = read_pairs(path, source_column=1, target_column=0)
    assert flipped.sources == ["Va !", "Un deux."]
    with pytest.raises(ValueError, match=r"line 2: 2 tab-separated column\(s\).*need 3"):
        read_pairs(write(tmp_path / "q.txt", "a\tb\tc\nd\te\n"), source_column=2)
    with pytest.raises(ValueError, match="must differ"):
        read_pairs(path, source_column=1, target_column=1)
    with pytest.raises(ValueError, match="no usable pairs"):
        read_pairs(write(tmp_path / "e.txt", "a\t\n\tb\n"))


def test_grouped_split_keeps_each_source_on_one_side():
    keys = [f"s{i // 3}" for i in range(60)] + [f"t{i}" for i in range(40)]
    train, held = grouped_split(keys, 0.1, seed=3)
    assert sorted(train + held) == list(range(100))
    assert not {keys[i] for i in train} & {keys[i] for i in held}
    assert 10 <= len(held) <= 12
    assert grouped_split(keys, 0.1, seed=3) == (train, held)
    assert grouped_split(keys, 0.1, seed=4) != (train, held)
    assert grouped_split(["a", "a"], 0.5)[1] == []  # one group: it trains


def test_bleu_takes_a_varying_number_of_references():
    score, signature = corpus_bleu(
        ["Je suis là .", "Va !"], [["Je suis là .", "Je suis ici ."], ["Va !"]]
    )
    assert score == pytest.approx(100.0) and "nrefs:var" in signature
    assert corpus_bleu(["Je suis ici ."], [["Tu es là-bas ."]])[0] < 20


# -- the model --------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_translation_is_the_same_alone_and_in_a_padded_batch(attention, cell):
    model = random_model(attention, cell)
    sentences = ["one", "two three four one two", "four", "three one"]
    together = model.translate(sentences)
    for sentence, batched in zip(sentences, together, strict=True):
        alone = model.translate(sentence)[0]
        assert alone.tokens == batched.tokens
        assert alone.log_prob == pytest.approx(batched.log_prob, abs=1e-10)
    # and the teacher-forced logits of each row match too
    sources = [model.encode_source(s) for s in sentences]
    ids, lengths = pad(sources)
    previous = torch.randint(0, len(model.target_vocab), (len(sentences), 5))
    logits = model(ids, lengths, previous)
    for row, source in enumerate(sources):
        single = model(source[None], torch.tensor([len(source)]), previous[row : row + 1])
        torch.testing.assert_close(logits[row : row + 1], single, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_scheduled_sampling_feeds_the_models_own_argmax(attention):
    model = random_model(attention)
    source = model.encode_source("two three")[None]
    lengths = torch.tensor([source.shape[1]])
    steps = 6
    previous = torch.randint(3, len(model.target_vocab), (1, steps))
    previous[0, 0] = model.start
    gold_fed = model(source, lengths, previous)
    never_own = model(source, lengths, previous, torch.zeros(1, steps, dtype=torch.bool))
    torch.testing.assert_close(never_own, gold_fed, rtol=1e-10, atol=1e-12)
    always_own = model(source, lengths, previous, torch.ones(1, steps, dtype=torch.bool))
    chosen = always_own.argmax(-1)  # each step fed the argmax of the step before
    fed = torch.cat([previous[:, :1], chosen[:, :-1]], 1)
    torch.testing.assert_close(model(source, lengths, fed), always_own, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_beam_of_one_is_greedy_decoding(attention):
    model = random_model(attention)
    for sentence in ["one", "two three", "four four one", "three"]:
        greedy = model.translate(sentence)[0]
        best = model.beam(model.encode_source(sentence), beam=1)[0]
        assert [model.target_vocab.symbols[i] for i in best.ids if i != model.end] == greedy.tokens
        assert best.log_prob == pytest.approx(greedy.log_prob, abs=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_beam_never_scores_below_greedy(attention, alpha):
    torch.manual_seed(1)
    model = random_model(attention)
    for sentence in ["one", "two three", "four four one", "three two one", "one one"]:
        greedy = model.translate(sentence)[0]
        for beam in (2, 3, 5):
            best = model.translate(sentence, beam=beam, alpha=alpha)[0]
            assert best.score(alpha) >= greedy.score(alpha) - 1e-12


def test_beam_search_finds_the_best_sequence_when_wide_enough():
    """A toy model: the next symbol's log-probabilities depend on the last symbol; with a beam
    as wide as every sequence, beam search returns the exhaustive best (alpha 0 and 1)."""
    torch.manual_seed(5)
    vocab, end, start, length = 4, 3, 0, 4
    table = torch.randn(vocab, vocab, dtype=torch.float64).log_softmax(-1)

    def step(ids, state):  # numpy ids in, numpy log-probabilities out
        return table[ids].numpy(), state

    def exhaustive(alpha):
        best = -math.inf
        for n in range(1, length + 1):
            for body in itertools.product(range(vocab), repeat=n):
                if end in body[:-1] or (body[-1] != end and n < length):
                    continue  # only finished sequences, or unfinished ones at the length limit
                previous = (start, *body)
                total = sum(float(table[a, b]) for a, b in itertools.pairwise(previous))
                best = max(best, total / len(body) ** alpha)
        return best

    for alpha in (0.0, 1.0):
        found = beam_search(step, None, lambda s, i: s, start, end, 64, length, alpha)
        assert found[0].score(alpha) == pytest.approx(exhaustive(alpha), abs=1e-12)
        assert all(a.score(alpha) >= b.score(alpha) for a, b in itertools.pairwise(found))


def test_alignment_rows_are_distributions_over_the_source():
    model = random_model("bahdanau")
    translation = model.translate("two three four")[0]
    weights = model.alignment(model.encode_source("two three four"), translation)
    assert weights.shape == (len(translation.tokens) + translation.finished, 3)
    torch.testing.assert_close(weights.sum(1), torch.ones(len(weights)), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="no attention"):
        random_model("none").alignment(model.encode_source("one"), translation)


def test_empty_and_over_long_sentences_are_refused():
    model = random_model("luong")
    with pytest.raises(ValueError, match="sentence 2 is empty"):
        model.translate(["one", "  "])
    with pytest.raises(ValueError, match="13 word tokens; this model translates at most 12"):
        model.translate(" ".join(["one"] * 13))


# -- learning ---------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_a_short_run_learns_a_handful_of_pairs_exactly(attention, tmp_path):
    pairs = Pairs([s for s, _ in PAIRS], [t for _, t in PAIRS])
    settings = Seq2SeqSettings(
        attention=attention,
        hidden_size=48,
        embedding_size=24,
        dropout=0.0,
        epochs=120,
        batch_size=8,
        lr=1e-2,
        warmup=5,
        test_fraction=0.0,
        beam=2,
        precision="float32",
    )
    trainer = Seq2SeqTrainer(
        PairSplit.of(pairs, settings),
        settings,
        tmp_path / "m",
        progress=False,
        echo=lambda line: None,
    )
    result = trainer.fit()
    assert result.report.token_accuracy == 1.0  # (too few 4-grams here for BLEU to mean much)
    assert [e[2] for e in result.report.examples] == pairs.targets[:5]
    model = Seq2Seq.from_pretrained(tmp_path / "m")
    assert [t.text for t in model.translate(pairs.sources)] == pairs.targets
    assert [t.text for t in model.translate(pairs.sources, beam=3)] == pairs.targets
    report = json.loads((tmp_path / "m" / "report.json").read_text())
    assert report["final"]["beam"] == 2 and report["final"]["token_accuracy"] == 1.0


def test_word_dropout_feeds_the_decoder_unknown_tokens_after_the_start(monkeypatch):
    model = random_model("luong")
    seen = []
    monkeypatch.setattr(model, "forward", lambda ids, lengths, previous, own: seen.append(previous))
    sources = [torch.tensor([3, 4]), torch.tensor([5])]
    targets = [torch.tensor([3, 4, 5, model.end]), torch.tensor([6, model.end])]
    unknown = model.target_vocab.symbols.index(model.target_vocab.unknown)
    _teacher_forced(model, sources, targets, "cpu", word_dropout=1.0)
    assert seen[0][:, 0].tolist() == [model.start] * 2 and (seen[0][:, 1:] == unknown).all()
    _teacher_forced(model, sources, targets, "cpu", word_dropout=0.0)
    assert seen[1][0].tolist() == [model.start, 3, 4, 5]
    torch.manual_seed(0)
    _teacher_forced(model, sources * 200, targets * 200, "cpu", word_dropout=0.3)
    share = float((seen[2][::2, 1:] == unknown).double().mean())
    assert 0.25 < share < 0.35


def test_teacher_forcing_goes_linearly_from_start_to_end():
    pairs = Pairs([s for s, _ in PAIRS], [t for _, t in PAIRS])
    settings = Seq2SeqSettings(
        hidden_size=8,
        embedding_size=4,
        epochs=4,
        batch_size=4,
        teacher_forcing=1.0,
        teacher_forcing_end=0.5,
        test_fraction=0.0,
    )
    trainer = Seq2SeqTrainer(PairSplit.of(pairs, settings), settings, progress=False)
    assert trainer.teacher_forcing() == 1.0
    trainer.step = trainer.total_steps // 2
    assert trainer.teacher_forcing() == pytest.approx(0.75)
    trainer.step = trainer.total_steps
    assert trainer.teacher_forcing() == pytest.approx(0.5)
    sources, targets = encode_pairs(pairs, trainer.split.source_vocab, trainer.split.target_vocab)
    assert [len(s) for s in sources] == [len(s.split()) for s in pairs.sources]
    assert all(int(t[-1]) == trainer.model.end for t in targets)


@pytest.mark.skipif(
    not (SHARED_DATA / "eng-fra.txt").is_file(), reason="needs ../shared/data/eng-fra.txt"
)
def test_eng_fra_split_holds_out_unseen_sources():
    pairs = read_pairs(SHARED_DATA / "eng-fra.txt")
    split = PairSplit.of(pairs, Seq2SeqSettings())
    assert len(pairs) == 5000 and 490 <= len(split.test) <= 520
    assert not set(split.train.sources) & set(split.sentences)
    assert sum(len(r) for r in split.references) == len(split.test)


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def pairs_file(tmp_path):
    return write(tmp_path / "pairs.tsv", "".join(f"{s}\t{t}\tCC\n" for s, t in PAIRS * 2))


def test_cli_train_translate_evaluate(pairs_file, tmp_path, capsys):
    out = tmp_path / "model"
    options = ["--hidden", "16", "--embedding", "8", "--epochs", "2", "--test-fraction", "0.25"]
    assert (
        main(["translate", "train", "--pairs", str(pairs_file), "--out", str(out), *options]) == 0
    )
    printed = capsys.readouterr().out
    assert "BLEU" in printed and "beam 5 BLEU" in printed and "sacrebleu" in printed
    assert {"config.json", "model.safetensors", "report.json"} <= {p.name for p in out.iterdir()}

    plot = tmp_path / "attention.png"
    assert (
        main(
            [
                "translate",
                str(out),
                "one two",
                "four",
                "--beam",
                "2",
                "--scores",
                "--attention-plot",
                str(plot),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(float(line.split("\t")[1]) <= 0 for line in lines)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["translate", "evaluate", str(out), "--pairs", str(pairs_file), "--beam", "2"]) == 0
    assert "over 8 sentences" in capsys.readouterr().out
