"""The chatbot: dialogue readers, pairs and the conversation split, the measures, the repetition
guard, MMI reranking, learning fixed exchanges, and the command line with its REPL."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections import Counter

import pytest
import torch

from conftest import SHARED_DATA
from rnnlab.cli import main
from rnnlab.cli.chat import MAX_INPUT, Conversation
from rnnlab.data.vocab import Vocabulary, target_vocabulary
from rnnlab.generation import beam_search, repeating
from rnnlab.tasks.chat import Chatbot, ChatSettings, Decoding, builtin, chat_split
from rnnlab.tasks.chat.dialogues import (
    TURN,
    dialogue_pairs,
    read_dialogues,
    read_play,
    read_table,
    read_transcript,
    read_yaml,
)
from rnnlab.tasks.chat.training import distinct, distractors, recall_at
from rnnlab.tasks.translate.pairs import sentence_tokens

EXCHANGES = {
    "hello": "hi there",
    "how are you": "fine thanks",
    "what is your name": "my name is bot",
    "goodbye": "see you soon",
}


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


# -- readers -------------------------------------------------------------------------------


def test_transcript_speakers_breaks_colons_and_continuations(tmp_path):
    path = write(
        tmp_path / "talk.txt",
        "ALICE: Note: the train leaves at 10:30\n"
        "BOB: Thanks.\n"
        "BOB:   I will be   there.\n"
        "ALICE: Good\n"
        "and bring the map: the old one\n"
        "\n\n"
        "Dr. Who:    Where am I?\n"
        "ALICE:\n"
        "ALICE: Here.\n",
    )
    dialogues = read_transcript(path)
    assert [c.turns for c in dialogues.conversations] == [
        [
            ("ALICE", "Note: the train leaves at 10:30"),
            ("BOB", "Thanks. I will be there."),
            ("ALICE", "Good and bring the map: the old one"),
        ],
        [("Dr. Who", "Where am I?"), ("ALICE", "Here.")],
    ]
    assert read_dialogues(path).conversations == dialogues.conversations


def test_a_transcript_without_blank_lines_is_cut_into_scenes_as_a_play_is(tmp_path, capsys):
    lines = "".join(f"{'AB'[i % 2]}: line number {i}\n" for i in range(45))
    dialogues = read_transcript(write(tmp_path / "play.txt", lines), scene=20)
    assert [len(c.turns) for c in dialogues.conversations] == [20, 20, 5]
    assert dialogues.conversations[1].turns[0] == ("A", "line number 20")
    one = read_transcript(write(tmp_path / "one.txt", "A: hi\nB: hello\n"), scene=20)
    assert [len(c.turns) for c in one.conversations] == [2]  # shorter than a scene: kept whole
    # what the audit ran: training on it holds conversations out instead of failing
    out = tmp_path / "bot"
    path = write(tmp_path / "long.txt", lines * 3)
    argv = ["chat", "train", "--dialogues", str(path), "--out", str(out), "--epochs", "1"]
    assert main([*argv, "--hidden", "8", "--embedding", "4", "--beam", "1"]) == 0
    assert re.search(r"[1-9][\d,]* held out", capsys.readouterr().out)


def test_transcript_must_start_with_a_speaker(tmp_path):
    path = write(tmp_path / "talk.txt", "no speaker here\nA: hi\n")
    with pytest.raises(ValueError, match="line 1: a conversation must start"):
        read_transcript(path)


def test_play_speeches_and_scenes(tmp_path):
    speeches = [f"SPEAKER {i % 3}:\nline {i} a\nline {i} b: more\n" for i in range(5)]
    path = write(tmp_path / "play.txt", "\n".join(speeches))
    play = read_play(path, scene=2)
    assert [len(c.turns) for c in play.conversations] == [2, 2]  # the last scene has 1 turn
    assert play.conversations[0].turns[1] == ("SPEAKER 1", "line 1 a line 1 b: more")
    assert read_dialogues(path).turns == read_play(path).turns == 5


def test_yaml_layout_duplicates_and_malformed_entries(tmp_path):
    write(
        tmp_path / "a.yml",
        "categories: [x]\nconversations:\n- - Hello\n  - Hi\n  - How are you?\n"
        "- - Hello\n  - Hi\n  - How are you?\n- just a string\n- - 1963\n  - a year\n",
    )
    write(tmp_path / "b.yaml", "conversations:\n- - Bye\n  - See you\n")
    dialogues = read_yaml(tmp_path)
    assert [c.texts for c in dialogues.conversations] == [
        ["Hello", "Hi", "How are you?"],
        ["1963", "a year"],
        ["Bye", "See you"],
    ]
    assert (dialogues.duplicates, dialogues.malformed) == (1, 1)
    assert [s for s, _ in dialogues.conversations[0].turns] == ["A", "B", "A"]


def test_yaml_is_read_safely(tmp_path):
    path = write(tmp_path / "evil.yml", "conversations: !!python/object/apply:os.system [id]\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        read_yaml(path)


def test_table_rows_are_conversations(tmp_path):
    path = write(tmp_path / "pairs.tsv", "context\treply\nhi\thello\n\nhow are you?\tfine\n")
    assert [c.texts for c in read_table(path).conversations] == [
        ["hi", "hello"],
        ["how are you?", "fine"],
    ]
    with pytest.raises(ValueError, match="row 1: a \\(context, reply\\) row needs two"):
        read_table(write(tmp_path / "bad.csv", "only one column\n"))


def test_builtin_smalltalk_reads_the_installed_package():
    pytest.importorskip("chatterbot_corpus", reason="chatterbot-corpus is not installed")
    dialogues = builtin("smalltalk")
    assert len(dialogues) > 500
    assert all(len(c.turns) >= 2 for c in dialogues.conversations)
    texts = [tuple(c.texts) for c in dialogues.conversations]
    assert len(set(texts)) == len(texts)


@pytest.mark.skipif(
    not (SHARED_DATA / "tinyshakespeare.txt").is_file(), reason="shared data is not present"
)
def test_builtin_shakespeare_speeches():
    play = builtin("shakespeare")
    first = play.conversations[0].turns
    assert first[0] == ("First Citizen", "Before we proceed any further, hear me speak.")
    assert first[1] == ("All", "Speak, speak.")
    assert play.turns > 7000


# -- pairs and the split ------------------------------------------------------------------


def test_pairs_carry_up_to_context_earlier_turns(tmp_path):
    path = write(tmp_path / "t.txt", "A: one\nB: two\nA: three\nB: four\n")
    dialogues = read_transcript(path)
    with_context = dialogue_pairs(dialogues, 1)
    assert with_context.contexts == ["one", f"one{TURN}two", f"two{TURN}three"]
    assert with_context.replies == ["two", "three", "four"]
    assert dialogue_pairs(dialogues, 0).contexts == ["one", "two", "three"]
    assert sentence_tokens(f"how are{TURN}you", "word") == ["how", " are", TURN, "you"]


def test_split_never_puts_a_conversation_on_both_sides(tmp_path):
    lines = [f"A: question {i} part {j}\nB: answer {i} part {j}" for i in range(30) for j in (1, 2)]
    conversations = "\n\n".join("\n".join(lines[2 * i : 2 * i + 2]) for i in range(len(lines) // 2))
    dialogues = read_transcript(write(tmp_path / "t.txt", conversations))
    settings = ChatSettings(test_fraction=0.3, epochs=1)
    split, groups = chat_split(dialogues, settings)
    train_contexts = set(split.train.sources)
    held = set(split.test.sources)
    assert held and not held & train_contexts
    assert len(groups) == len(split.test) and len(set(groups)) >= 2
    assert TURN in split.source_vocab.symbols


# -- measures -----------------------------------------------------------------------------


def test_recall_at_k_by_hand():
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.2],  # first
            [0.5, 0.7, 0.1],  # second
            [0.3, 0.3, 0.1],  # a tie counts against: second
            [0.1, 0.2, 0.3],  # third
        ],
        dtype=torch.float64,
    )
    assert recall_at(scores, 1) == 0.25
    assert recall_at(scores, 2) == 0.75
    assert recall_at(scores, 3) == 1.0


def test_distinct_n_by_hand():
    replies = ["i am fine", "i am here", ""]
    assert distinct(replies, 1) == 4 / 6  # i, am, fine, here of 6 words
    assert distinct(replies, 2) == 3 / 4  # (i am) twice
    assert distinct([], 2) == 0.0


def test_distractors_come_from_other_conversations():
    groups = [0, 0, 1, 2, 3]
    replies = ["a", "b", "c", "a", "d"]
    chosen = distractors(groups, replies, seed=0)
    assert sorted(chosen[0]) == [2, 4]  # not its own conversation, not its own reply
    assert all(groups[j] != groups[i] for i, row in enumerate(chosen) for j in row)


# -- the repetition guard and MMI ---------------------------------------------------------


def test_repeating_ngrams_by_hand():
    assert repeating([1, 2, 3, 1, 2], 3) == [3]
    assert repeating([1, 2, 1, 3, 1], 2) == [2, 3]
    assert repeating([4, 4], 1) == [4]
    assert repeating([1, 2], 0) == []


def test_beam_search_with_the_guard_never_repeats_an_ngram():
    # a model that always prefers 1 then 2, in a loop, and ends only late: without the guard
    # the best hypothesis is 1 2 1 2 ...
    def step(ids, state):
        ids = torch.from_numpy(ids)  # beam search hands the step numpy ids
        log_probs = torch.full((len(ids), 5), -5.0)
        log_probs[:, 1] = torch.where(ids == 2, -0.1, -1.0)
        log_probs[:, 2] = torch.where(ids == 1, -0.1, -1.0)
        log_probs[:, 4] = -3.0  # the end
        return log_probs.numpy(), state

    reorder = lambda state, rows: state  # noqa: E731
    loose = beam_search(step, None, reorder, 0, 4, beam=2, max_length=8)[0]
    assert loose.ids[:4] == (1, 2, 1, 2)
    guarded = beam_search(step, None, reorder, 0, 4, beam=2, max_length=8, no_repeat=2)
    for hypothesis in guarded:
        pairs = list(zip(hypothesis.ids, hypothesis.ids[1:], strict=False))
        assert len(pairs) == len(set(pairs))


def toy_chatbot(**options) -> Chatbot:
    words = Counter(t for text in [*EXCHANGES, *EXCHANGES.values()] for t in text.split())
    source = Vocabulary.from_counts("word", words, reserved=(TURN,))
    target = target_vocabulary("word", words)
    return Chatbot(source, target, hidden_size=8, embedding_size=4, max_length=6, **options).eval()


def test_mmi_reranking_demotes_the_generic_reply(monkeypatch):
    model = toy_chatbot()
    replies = [model.encode_reply("fine thanks"), model.encode_reply("my name is bot")]
    source = model.encode_history(["what is your name"])
    # log p(r | c) (empty False): the generic reply (3 tokens with </s>) a little likelier per
    # token; log p(r) (empty True): the generic one far likelier
    given = {False: [-3.0, -6.0], True: [-2.0, -12.0]}

    def log_probs(sources, targets, autocast=None):
        empty = all(torch.equal(s, model.empty) for s in sources)
        return torch.tensor(given[empty], dtype=torch.float64)

    monkeypatch.setattr(model, "target_log_probs", log_probs)
    plain = model.reply_scores(source, replies, diverse=0.0)
    mmi = model.reply_scores(source, replies, diverse=1.0)
    assert int(plain.argmax()) == 0 and int(mmi.argmax()) == 1


def test_target_log_probs_are_the_teacher_forced_sum_alone_or_padded():
    torch.manual_seed(0)
    model = toy_chatbot().double()
    sources = [model.encode_history(["hello"]), model.encode_history(["how are you", "fine"])]
    targets = [model.encode_reply("hi there"), model.encode_reply("my name is bot")]
    together = model.target_log_probs(sources, targets)
    for source, target, value in zip(sources, targets, together, strict=True):
        previous = torch.cat([torch.tensor([model.start]), target[:-1]])
        with torch.no_grad():
            logits = model(source[None], torch.tensor([len(source)]), previous[None])[0]
        direct = logits.log_softmax(-1).gather(1, target[:, None]).sum()
        assert float(value) == pytest.approx(float(direct), rel=1e-10)
        assert float(model.target_log_probs([source], [target])[0]) == pytest.approx(float(value))


def test_scoring_is_in_eval_mode_whatever_the_model_is_in():
    torch.manual_seed(0)
    model = toy_chatbot(dropout=0.5)
    sources, targets = [model.encode_history(["hello"])] * 2, [model.encode_reply("hi there")] * 2
    expected = model.target_log_probs(sources, targets)
    model.train()
    assert torch.equal(model.target_log_probs(sources, targets), expected)  # no dropout
    assert model.training  # and the mode is given back


def test_checkpoint_round_trip(tmp_path):
    model = toy_chatbot(context=1)
    model.save_pretrained(tmp_path / "bot")
    loaded = Chatbot.from_pretrained(tmp_path / "bot")
    assert loaded.context == 1 and loaded.checkpoint_config["format"] == "rnnlab.chat"
    source, reply = model.encode_history(["hello"]), [model.encode_reply("hi there")]
    assert torch.equal(
        model.target_log_probs([source], reply), loaded.target_log_probs([source], reply)
    )


def test_decoding_refuses_bad_values():
    bad_values = [
        {"beam": 0},
        {"temperature": 0.0},
        {"temperature": float("nan")},
        {"top_p": 2.0},
        {"diverse": float("inf")},
        {"alpha": -1.0},
        {"no_repeat": -1},
    ]
    for bad in bad_values:
        with pytest.raises(ValueError):
            Decoding(**bad)


# -- learning and the command line --------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A chatbot that has learned the fixed exchanges (nothing held out)."""
    folder = tmp_path_factory.mktemp("chat")
    transcript = "\n\n".join(f"USER: {q}\nBOT: {a}" for q, a in EXCHANGES.items())
    path = write(folder / "talk.txt", transcript + "\n")
    out = folder / "bot"
    options = ["--test-fraction", "0", "--epochs", "60", "--hidden", "48", "--embedding", "32"]
    options += ["--dropout", "0", "--lr", "0.01", "--warmup", "5", "--batch-size", "4"]
    options += ["--unconditional", "0", "--seed", "1"]
    code = main(["chat", "train", "--dialogues", str(path), "--out", str(out), *options])
    assert code == 0
    return out


def test_tiny_run_learns_the_exchanges_and_say_prints_them(trained, capsys):
    model = Chatbot.from_pretrained(trained)
    assert (model.settings["hidden_size"], model.settings["embedding_size"]) == (48, 32)
    assert (model.settings["dropout"], model.max_length) == (0.0, 40)  # as given, chat's default
    for question, answer in EXCHANGES.items():
        assert model.reply(question, Decoding(beam=1)).text == answer
    capsys.readouterr()
    assert main(["chat", str(trained), "--say", "goodbye", "--beam", "1"]) == 0
    assert capsys.readouterr().out == "see you soon\n"
    report = json.loads((trained / "report.json").read_text())
    assert report["split"] == "training" and report["final"]["bleu"] > 90


def test_repl_survives_awkward_input_and_exits_on_end_of_input(trained):
    lines = [
        "",
        "   ",
        "hello",
        "zzyzx qwerty unknown words",
        "x" * (MAX_INPUT + 1),
        "how \x1b[31mare\x07 you\x00",
        "/temperature 0.7",
        "/temperature abc",
        "/temperature -1",
        "/beam 1",
        "/beam 0",
        "/diverse 0.5",
        "/nonsense",
        "/reset",
        "/",
        "goodbye",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "rnnlab", "chat", str(trained)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "bot> hi there"
    assert out[1].startswith("bot> ")  # unknown words still get a reply
    assert "at most 10,000 are read" in out[2]
    assert out[3].startswith("bot> ")  # control characters dropped
    assert "replies by sampling" in out[4]
    assert "needs a number" in out[5]
    assert out[6].startswith("(rnnlab: temperature must be > 0")
    assert "replies by beam 1" in out[7]
    assert out[8].startswith("(rnnlab: the beam width must be in")
    assert "diverse is 0.5" in out[9]
    assert out[10].startswith("(unknown command /nonsense")
    assert out[11] == "(the conversation is forgotten)"
    assert out[12].startswith("(unknown command /")
    assert out[13] == "bot> see you soon"
    assert len(out) == 14 and done.stderr == ""


def test_conversation_keeps_turns_until_reset(trained):
    loop = Conversation(Chatbot.from_pretrained(trained), Decoding(beam=1), torch.Generator())
    assert loop.answer("hello") == "bot> hi there"
    assert loop.turns == ["hello", "hi there"]
    loop.answer("/reset")
    assert loop.turns == []
    with pytest.raises(EOFError):
        loop.answer("/quit")
    assert loop.run(io.StringIO("hello\n"), io.StringIO()) == 0


def test_evaluate_prints_the_measures(trained, tmp_path, capsys):
    path = write(tmp_path / "held.txt", "A: hello\nB: hi there\n\nA: goodbye\nB: see you soon\n")
    assert main(["chat", "evaluate", str(trained), "--dialogues", str(path), "--beam", "1"]) == 0
    out = capsys.readouterr().out
    assert "recall@1 1.000" in out and "of 2" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["chat", "train", "--dialogues", "missing.txt", "--out", "o"], "not found"),
        (
            ["chat", "DIR", "--say", "hi", "--temperature", "-1"],
            "--temperature: must be a positive",
        ),
        (["chat", "DIR", "--say", "   "], "empty; there is nothing to reply to"),
        (["chat", "DIR", "--say", "hi", "--top-k", "0"], "--top-k: must be a positive integer"),
        (["chat", "TRANSLATOR", "--say", "hi"], "is not a chatbot"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, trained, tmp_path, capsys):
    from rnnlab.tasks.translate.model import Seq2Seq

    translator = Seq2Seq(
        Vocabulary.from_counts("word", Counter(["a"])), target_vocabulary("word", Counter(["b"]))
    )
    translator.save_pretrained(tmp_path / "translator")
    places = {"DIR": str(trained), "TRANSLATOR": str(tmp_path / "translator")}
    argv = [places.get(a, a) for a in argv]
    if "--out" in argv:
        argv[argv.index("--out") + 1] = str(tmp_path / "out")
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit:  # the parser's refusal of an option's value
        status = exit.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
