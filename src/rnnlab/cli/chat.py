"""The ``rnnlab chat`` commands: ``train`` a chatbot on dialogues, ``evaluate`` it, and talk to
it (``rnnlab chat DIR``: an interactive loop; ``--say TEXT`` for one reply). Parse, call
:mod:`rnnlab.tasks.chat`, print; errors are ValueErrors, as in :mod:`rnnlab.cli`.

The interactive loop keeps the conversation (the model reads its last turns), edits lines with
readline when it is a terminal, and takes commands: ``/reset``, ``/temperature T`` (sample),
``/beam N`` (beam search), ``/diverse L``, ``/help``, ``/quit``; end of input (Ctrl-D) ends it
with status 0. A line it cannot use gets one line of explanation, and the loop goes on.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import torch

from rnnlab.cli.options import add_settings, add_train_action, given
from rnnlab.limits import check_text_length
from rnnlab.tasks.chat import (
    CHAT,
    Chatbot,
    ChatSettings,
    Decoding,
    ReplySampling,
    evaluate_chatbot,
    read_dialogue_options,
)
from rnnlab.tasks.chat.dialogues import BUILTINS, one_line

COMMAND = "chat"
ACTIONS = ("train", "evaluate", "talk")
#: The action ``rnnlab chat`` runs when the next word is not one of its actions.
DEFAULT_ACTION = "talk"
DECODING = ("beam", "alpha", "no_repeat", "diverse")
MAX_INPUT = 10_000  # characters of one typed line
HELP = (
    "commands: /reset (forget the conversation), /temperature T (sample at T), /beam N (beam "
    "search), /diverse L (MMI reranking weight), /quit; Ctrl-D ends"
)


def _add_dialogues(parser: argparse.ArgumentParser, required: bool = True) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--dialogues",
        metavar="PATH",
        help="a transcript (SPEAKER: text lines, blank lines between conversations), a play "
        "(NAME: over each speech), a (context, reply) TSV/CSV, or chatterbot YAML (a file or "
        "a folder)",
    )
    source.add_argument("--builtin", choices=BUILTINS, help="a built-in corpus")
    parser.add_argument("--encoding", help="of the dialogues file (utf-8)")


def _add_decoding(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, ChatSettings, only=DECODING)
    add_settings(parser, ReplySampling)


def add_commands(commands) -> None:
    """Add ``chat`` to the ``rnnlab`` subcommands."""
    chat = commands.add_parser(
        COMMAND,
        help="conversation modelling: train a chatbot on dialogues, talk to it",
        description="An encoder-decoder with attention that reads the conversation so far "
        "and writes a reply. rnnlab chat train ... trains one; rnnlab chat DIR talks to it.",
    )
    which = chat.add_subparsers(dest="chat", metavar="ACTION", required=True)

    train = add_train_action(
        which,
        CHAT,
        help="train a chatbot on dialogues",
        description="Train a chatbot on (context, reply) pairs made from conversations; whole "
        "conversations are held out (seeded). After every epoch: the held-out perplexity and "
        "recall@1 among 10 candidates; at the end generated replies (distinct-1/2, BLEU) and "
        "example exchanges. report.json holds the scores.",
    )
    _add_dialogues(train, required=False)

    evaluate = which.add_parser(
        "evaluate",
        help="score a chatbot on dialogues",
        description="The held-out measures of a checkpoint on every (context, reply) pair of "
        "the dialogues given.",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    _add_dialogues(evaluate)
    _add_decoding(evaluate)
    evaluate.set_defaults(run=_run_evaluate)

    talk = which.add_parser(
        DEFAULT_ACTION,
        help="talk to a chatbot (the default: rnnlab chat DIR)",
        description=f"Talk to a chatbot, one line a turn. {HELP}.",
    )
    talk.add_argument("checkpoint", metavar="DIR")
    talk.add_argument(
        "--say",
        nargs="+",
        metavar="TEXT",
        help="print the reply to this (several: a conversation, replying to the last) and exit",
    )
    _add_decoding(talk)
    talk.set_defaults(run=_run_talk)


def _decoding(args: argparse.Namespace) -> Decoding:
    sampling = ReplySampling(**given(args, ReplySampling))
    return ChatSettings(**given(args, ChatSettings)).decoding(sampling)


def _run_evaluate(args: argparse.Namespace) -> int:
    model = Chatbot.from_pretrained(args.checkpoint)
    dialogues = read_dialogue_options(vars(args))
    report = evaluate_chatbot(model, dialogues, _decoding(args), lambda line: print(line))
    print("\n".join([*report.example_lines(), report.summary()]))
    return 0


def clean(line: str) -> str:
    """A typed line as a turn: control characters dropped, whitespace runs single spaces."""
    return one_line("".join(c if c.isprintable() or c.isspace() else " " for c in line))


def _run_talk(args: argparse.Namespace) -> int:
    model = Chatbot.from_pretrained(args.checkpoint)
    decoding = _decoding(args)
    generator = torch.Generator().manual_seed(getattr(args, "seed", ReplySampling.seed))
    if args.say:
        turns = [clean(t) for t in args.say]
        for turn in turns:
            check_text_length(len(turn), "a turn", MAX_INPUT)
        print(model.reply(turns, decoding, generator).text)
        return 0
    return Conversation(model, decoding, generator).run(sys.stdin, sys.stdout)


class Conversation:
    """The interactive loop (see the module docstring)."""

    def __init__(self, model: Chatbot, decoding: Decoding, generator: torch.Generator) -> None:
        self.model, self.decoding, self.generator = model, decoding, generator
        self.turns: list[str] = []

    def run(self, stdin, stdout) -> int:
        interactive = stdin.isatty() and stdout.isatty()
        if interactive:
            import readline  # noqa: F401  (line editing and history for input())

            print(f"{HELP}.", file=stdout)
        while True:
            try:
                line = input("you> ") if interactive else stdin.readline()
            except EOFError:  # Ctrl-D at the prompt
                print(file=stdout)
                return 0
            if not interactive and not line:  # the end of piped input
                return 0
            try:
                answer = self.answer(line)
            except EOFError:
                return 0
            except ValueError as error:
                answer = f"(rnnlab: {' '.join(str(error).split())})"
            if answer:
                print(answer, file=stdout, flush=True)

    def answer(self, line: str) -> str:
        """What the loop prints for one line of input ("" for nothing)."""
        if len(line) > MAX_INPUT:
            return f"(that line has {len(line):,} characters; at most {MAX_INPUT:,} are read)"
        text = clean(line)
        if not text:
            return ""
        if text.startswith("/"):
            return self.command(text)
        reply = self.model.reply([*self.turns, text], self.decoding, self.generator)
        self.turns += [text, reply.text]
        return f"bot> {reply.text}"

    def command(self, text: str) -> str:
        name, _, value = text.partition(" ")
        value = value.strip()
        if name in ("/quit", "/exit"):
            raise EOFError
        if name == "/help":
            return f"({HELP})"
        if name == "/reset":
            self.turns = []
            return "(the conversation is forgotten)"
        changes = {
            "/temperature": ("temperature", float),
            "/beam": ("beam", int),
            "/diverse": ("diverse", float),
        }
        if name not in changes:
            return f"(unknown command {name}; {HELP})"
        field, kind = changes[name]
        try:
            number = kind(value)
        except ValueError:
            return f"({name} needs a {'whole ' if kind is int else ''}number: got {value!r})"
        updated = replace(self.decoding, **{field: number})  # a bad value: the loop says why
        if field == "beam":
            updated = replace(updated, temperature=None, top_k=None, top_p=None)
        self.decoding = updated
        how = "sampling" if updated.sampling is not None else f"beam {updated.beam}"
        return f"({field} is {number}; replies by {how})"
