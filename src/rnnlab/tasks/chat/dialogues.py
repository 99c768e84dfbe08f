"""Dialogues for conversation modelling: reading them, and turning them into (context, reply) pairs.

A :class:`Conversation` is a list of turns, each a (speaker, text) pair, the text with its
whitespace runs made single spaces (so a turn is one line). Readers, by what the file is:

- a transcript (:func:`read_transcript`): each turn a line ``SPEAKER: text`` (the speaker is what
  comes before the first colon that is followed by a space or ends the line, at most 3 words and
  40 characters; any later colon belongs to the text); a line without one continues the turn
  before it; consecutive lines of one speaker are one turn; blank lines separate conversations.
  A transcript without blank lines is one long exchange (a play written as ``NAME: text``
  lines): it is cut into conversations of ``scene`` turns, as a play is.
- a play (:func:`read_play`, the layout of tiny Shakespeare): a line ``NAME:`` alone names the
  speaker of the lines below it, up to a blank line; each speech is a turn. A play has no marks
  between conversations, so every ``scene`` consecutive speeches are one conversation.
- a table (:func:`read_table`, ``.tsv``/``.csv``): a (context, reply) row is a conversation of
  two turns.
- YAML in chatterbot-corpus's layout (:func:`read_yaml`, ``yaml.safe_load``): ``conversations:``
  a list of conversations, each a list of turns (speakers alternate); a folder is all of its
  ``.yml``/``.yaml`` files; an entry that is not a list of turns is skipped and counted.
  ``builtin("smalltalk")`` reads the English files of the installed
  ``chatterbot-corpus`` package, ``builtin("shakespeare")`` tiny Shakespeare from the shared data.

Identical conversations are kept once (chatterbot-corpus repeats some many times; a copy on both
sides of the split would be a held-out conversation seen in training).

:func:`dialogue_pairs`: every turn after the first is a reply, and its context is the turn
before it with up to ``context`` earlier turns before that, oldest first, joined by
:data:`TURN` (a line break, which no turn contains; :func:`~rnnlab.tasks.translate.pairs.
sentence_tokens` makes it a token of its own). The pairs remember their conversation, the unit of
the held-out split.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from rnnlab.data.tables import rows as table_rows
from rnnlab.data.text import SHARED_DATA, read_text

TURN = "\n"  # between the turns of a context
BUILTINS = ("smalltalk", "shakespeare")
SCENE = 20  # speeches per conversation of a play
MAX_SPEAKER = 40
_SPEAKER = re.compile(rf"^((?=[^:]{{1,{MAX_SPEAKER}}}:)[^:\s]+(?: [^:\s]+){{0,2}}):(?:\s+|$)(.*)$")
_PLAY_SPEAKER = re.compile(rf"^([^\s:][^:]{{0,{MAX_SPEAKER - 1}}}):$")
TABLES = (".tsv", ".csv")
YAMLS = (".yml", ".yaml")


def one_line(text: str) -> str:
    """``text`` with every whitespace run a single space, stripped."""
    return " ".join(str(text).split())


@dataclass
class Conversation:
    """Turns in order: (speaker, text), the texts non-empty single lines."""

    turns: list[tuple[str, str]]

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.turns]


@dataclass
class Dialogues:
    """Conversations (duplicates dropped) and where they came from."""

    conversations: list[Conversation]
    source: str
    duplicates: int = 0  # identical conversations left out
    malformed: int = 0  # entries that are not a list of turns, left out

    def __len__(self) -> int:
        return len(self.conversations)

    @property
    def turns(self) -> int:
        return sum(len(c.turns) for c in self.conversations)

    def describe(self) -> str:
        """``N conversations, T turns``, and what was left out."""
        left = []
        if self.duplicates:
            left.append(f"{self.duplicates:,} repeated conversations")
        if self.malformed:
            left.append(f"{self.malformed:,} malformed entries")
        return f"{len(self):,} conversations, {self.turns:,} turns" + (
            f" ({' and '.join(left)} left out)" if left else ""
        )


def _dialogues(conversations: list[Conversation], source: str) -> Dialogues:
    """Keep each conversation with 2+ turns once, in order of first appearance."""
    seen: set[tuple[str, ...]] = set()
    kept, duplicates = [], 0
    for conversation in conversations:
        key = tuple(conversation.texts)
        if len(key) < 2:
            continue
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        kept.append(conversation)
    if not kept:
        raise ValueError(f"{source} holds no conversation of two or more turns")
    return Dialogues(kept, source, duplicates)


def _add_turn(turns: list[tuple[str, str]], speaker: str, text: str) -> None:
    """Append a turn, or extend the last one when the same speaker goes on."""
    if turns and turns[-1][0] == speaker:
        turns[-1] = (speaker, one_line(f"{turns[-1][1]} {text}"))
    elif one_line(text):
        turns.append((speaker, one_line(text)))


def read_transcript(path: str | Path, encoding: str = "utf-8", scene: int = SCENE) -> Dialogues:
    """The conversations of a ``SPEAKER: text`` transcript (see the module docstring)."""
    return _transcript(read_text(path, "char", encoding).splitlines(), path, scene)


def _transcript(lines: list[str], path: str | Path, scene: int = SCENE) -> Dialogues:
    conversations: list[Conversation] = []
    turns: list[tuple[str, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            if turns:
                conversations.append(Conversation(turns))
            turns = []
            continue
        match = _SPEAKER.match(line.strip())
        if match:
            _add_turn(turns, one_line(match[1]), match[2])
        elif turns:
            _add_turn(turns, turns[-1][0], line)
        else:
            raise ValueError(
                f"{path}, line {number}: a conversation must start with a 'SPEAKER: text' line"
            )
    if turns:
        conversations.append(Conversation(turns))
    if len(conversations) == 1:  # no blank line: one long exchange, cut as a play is
        conversations = _scenes(conversations[0].turns, scene)
    return _dialogues(conversations, str(Path(path).resolve()))


def _scenes(turns: list[tuple[str, str]], scene: int) -> list[Conversation]:
    """``turns`` as conversations of ``scene`` consecutive turns."""
    return [Conversation(turns[i : i + scene]) for i in range(0, len(turns), scene)]


def read_play(path: str | Path, encoding: str = "utf-8", scene: int = SCENE) -> Dialogues:
    """The speeches of a play laid out as ``NAME:`` lines over their speeches, every ``scene``
    of them a conversation (see the module docstring)."""
    return _play(read_text(path, "char", encoding).splitlines(), path, scene)


def _play(lines: list[str], path: str | Path, scene: int = SCENE) -> Dialogues:
    speeches: list[tuple[str, str]] = []
    speaker, speech = None, []
    for line in [*lines, ""]:
        match = _PLAY_SPEAKER.match(line.strip())
        if match and not speech:
            speaker = one_line(match[1])
        elif line.strip() and speaker is not None:
            speech.append(line)
        elif not line.strip():
            if speaker is not None and speech:
                _add_turn(speeches, speaker, " ".join(speech))
            speaker, speech = None, []
    if not speeches:
        raise ValueError(f"{path} has no speeches laid out as a 'NAME:' line over its lines")
    return _dialogues(_scenes(speeches, scene), str(Path(path).resolve()))


def read_table(path: str | Path, encoding: str = "utf-8") -> Dialogues:
    """(context, reply) rows of a two-column TSV or CSV file (a header row ``context, reply``
    is skipped), each a conversation of two turns."""
    text = read_text(path, "char", encoding)
    delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","
    conversations = []
    for number, row in enumerate(table_rows(io.StringIO(text), path, delimiter), 1):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2:
            raise ValueError(f"{path}, row {number}: a (context, reply) row needs two columns")
        if number == 1 and [c.strip().lower() for c in row[:2]] == ["context", "reply"]:
            continue
        turns = [("A", one_line(row[0])), ("B", one_line(row[1]))]
        conversations.append(Conversation([t for t in turns if t[1]]))
    return _dialogues(conversations, str(Path(path).resolve()))


def read_yaml(path: str | Path, encoding: str = "utf-8") -> Dialogues:
    """The conversations of a chatterbot-corpus YAML file, or of every such file in a folder
    (in name order)."""
    import yaml

    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix in YAMLS) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path} holds no .yml or .yaml file")
    conversations, malformed = [], 0
    for file in files:
        try:
            document = yaml.safe_load(read_text(file, "char", encoding))
        except yaml.YAMLError as error:
            raise ValueError(f"{file} is not valid YAML: {one_line(error)}") from None
        listed = document.get("conversations") if isinstance(document, dict) else None
        if not isinstance(listed, list):
            raise ValueError(f"{file} has no 'conversations:' list (chatterbot-corpus layout)")
        for turns in listed:
            if not isinstance(turns, list) or not all(
                isinstance(t, str | int | float) for t in turns
            ):
                malformed += 1  # chatterbot-corpus 1.3.3's trivia.yml has one
                continue
            texts = [one_line(t) for t in turns]
            conversations.append(Conversation([("AB"[i % 2], t) for i, t in enumerate(texts) if t]))
    dialogues = _dialogues(conversations, str(path.resolve()))
    dialogues.malformed = malformed
    return dialogues


def read_dialogues(path: str | Path, encoding: str = "utf-8") -> Dialogues:
    """A dialogues file by its kind: a folder or ``.yml``/``.yaml`` is chatterbot YAML, a
    ``.tsv``/``.csv`` a (context, reply) table, any other file a transcript, unless (in its
    first 200 lines) speakers alone on a line are at least as many as ``SPEAKER: text`` lines
    (a play)."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in YAMLS:
        return read_yaml(path, encoding)
    if path.suffix.lower() in TABLES:
        return read_table(path, encoding)
    lines = read_text(path, "char", encoding).splitlines()
    alone = sum(bool(_PLAY_SPEAKER.match(line.strip())) for line in lines[:200])
    inline = sum(bool((m := _SPEAKER.match(line.strip())) and m[2]) for line in lines[:200])
    return _play(lines, path) if alone and alone >= inline else _transcript(lines, path)


def smalltalk_folder() -> Path:
    """The English dialogues of the installed chatterbot-corpus package."""
    try:
        import chatterbot_corpus
    except ImportError:
        raise ValueError(
            "--builtin smalltalk reads the chatterbot-corpus package: pip install chatterbot-corpus"
        ) from None
    return Path(chatterbot_corpus.__file__).parent / "data" / "english"


def builtin(name: str) -> Dialogues:
    """A built-in corpus: ``smalltalk`` (chatterbot-corpus, English) or ``shakespeare``."""
    if name == "smalltalk":
        return read_yaml(smalltalk_folder())
    if name == "shakespeare":
        path = SHARED_DATA / "tinyshakespeare.txt"
        if not path.is_file():
            raise ValueError(f"--builtin shakespeare reads {path}, which is not there")
        return read_play(path)
    raise ValueError(f"the built-in dialogues are {', '.join(BUILTINS)}; got {name!r}")


@dataclass
class DialoguePairs:
    """(context, reply) pairs and, for each, the index of its conversation."""

    contexts: list[str]
    replies: list[str]
    conversation: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.replies)


def context_text(turns: list[str], context: int) -> str:
    """The model's input for a reply to ``turns[-1]``: that turn and up to ``context`` turns
    before it, joined by :data:`TURN`."""
    return TURN.join(one_line(t) for t in turns[-(context + 1) :])


def dialogue_pairs(dialogues: Dialogues, context: int) -> DialoguePairs:
    """Every reply of every conversation with its context (see the module docstring)."""
    pairs = DialoguePairs([], [])
    for index, conversation in enumerate(dialogues.conversations):
        texts = conversation.texts
        for i in range(1, len(texts)):
            pairs.contexts.append(context_text(texts[:i], context))
            pairs.replies.append(texts[i])
            pairs.conversation.append(index)
    return pairs
