"""The ``rnnlab translate`` commands: ``train`` an encoder-decoder on sentence pairs,
``evaluate`` it on pairs, and translate sentences (``rnnlab translate DIR TEXT ...``). Parse,
call :mod:`rnnlab.tasks.translate`, print; errors are ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
import sys

from rnnlab.cli.options import (
    add_settings,
    add_texts,
    add_train_action,
    out_file,
    texts_given,
)
from rnnlab.plots import attention_plot
from rnnlab.tasks.translate import TRANSLATE, Seq2Seq, Seq2SeqSettings, evaluate_translator
from rnnlab.tasks.translate.pairs import sentence_tokens

COMMAND = "translate"
ACTIONS = ("train", "evaluate", "text")
#: The action ``rnnlab translate`` runs when the next word is not one of its actions.
DEFAULT_ACTION = "text"
PAIRS = ("source_column", "target_column", "max_length")  # how a pairs file is read
DECODING = ("beam", "alpha")


def _add_pairs(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--pairs", required=required, metavar="FILE", help="tab-separated pairs, one per line"
    )
    parser.add_argument("--encoding", help="of the pairs file (utf-8)")


def add_commands(commands) -> None:
    """Add ``translate`` to the ``rnnlab`` subcommands."""
    translate = commands.add_parser(
        COMMAND,
        help="sequence to sequence: train a translator on sentence pairs, translate",
        description="An encoder-decoder with attention (or without) that reads a sentence "
        "and writes another. rnnlab translate train ... trains one; "
        "rnnlab translate DIR TEXT ... translates with it.",
    )
    which = translate.add_subparsers(dest="translate", metavar="ACTION", required=True)

    train = add_train_action(
        which,
        TRANSLATE,
        help="train a translator on sentence pairs",
        description="Train an encoder-decoder on tab-separated sentence pairs. Whole groups of "
        "pairs sharing a source sentence are held out (seeded); after every epoch their "
        "perplexity, token accuracy and BLEU (greedy) are printed, at the end BLEU with beam "
        "search too and a few example translations. The checkpoint is the model at the end "
        "of the run; report.json holds the scores.",
    )
    _add_pairs(train, required=False)

    evaluate = which.add_parser(
        "evaluate",
        help="score a translator on sentence pairs",
        description="Perplexity, token accuracy and BLEU of a checkpoint on all the pairs of a "
        "file (each source against all of its references).",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    _add_pairs(evaluate)
    add_settings(evaluate, Seq2SeqSettings, only=PAIRS, defaults={"max_length": "the model's"})
    add_settings(evaluate, Seq2SeqSettings, only=DECODING, defaults={"beam": 1})
    evaluate.set_defaults(run=_run_evaluate)

    text = which.add_parser(
        DEFAULT_ACTION,
        help="translate sentences (the default: rnnlab translate DIR TEXT ...)",
        description="Translate each sentence given (and each line of --file), one "
        "translation per line.",
    )
    text.add_argument("checkpoint", metavar="DIR")
    add_texts(text, "translate")
    add_settings(text, Seq2SeqSettings, only=DECODING, defaults={"beam": 1})
    text.add_argument(
        "--attention-plot",
        type=out_file,
        metavar="FILE",
        help="write the first sentence's attention weights as a PNG heat map",
    )
    text.add_argument(
        "--scores", action="store_true", help="also print each translation's log-probability"
    )
    text.set_defaults(run=_run_text)


def _run_evaluate(args: argparse.Namespace) -> int:
    model = Seq2Seq.from_pretrained(args.checkpoint)
    d = Seq2SeqSettings
    report = evaluate_translator(
        model,
        {"pairs": args.pairs, "encoding": args.encoding},
        (
            getattr(args, "source_column", d.source_column),
            getattr(args, "target_column", d.target_column),
        ),
        getattr(args, "max_length", None),
        beam=getattr(args, "beam", 1),
        alpha=getattr(args, "alpha", d.alpha),
        echo=lambda line: print(line, flush=True),
    )
    print("\n".join([*report.example_lines(), report.summary()]))
    return 0


def _run_text(args: argparse.Namespace) -> int:

    model = Seq2Seq.from_pretrained(args.checkpoint)
    texts = texts_given(args, "translate")
    if args.attention_plot and model.attention is None:
        raise ValueError("--attention-plot: this model has no attention (--attention none)")
    alpha = getattr(args, "alpha", Seq2SeqSettings.alpha)
    translations = model.translate(texts, beam=getattr(args, "beam", 1), alpha=alpha)
    for translation in translations:
        score = f"\t{translation.log_prob:.4f}" if args.scores else ""
        print(f"{translation.text}{score}")
    if args.attention_plot:
        source = model.encode_source(texts[0])
        first = translations[0]
        weights = model.alignment(source, first).numpy()
        target = [*first.tokens, "</s>"] if first.finished else first.tokens
        attention_plot(
            args.attention_plot,
            weights,
            sentence_tokens(texts[0], model.source_vocab.level),
            target,
            title=f"{model.attention_type} attention",
        )
        print(f"attention weights: {args.attention_plot}", file=sys.stderr)
    return 0
