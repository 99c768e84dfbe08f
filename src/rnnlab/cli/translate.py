"""The ``rnnlab translate`` commands: ``train`` an encoder-decoder on sentence pairs,
``evaluate`` it on pairs, and translate sentences (``rnnlab translate DIR TEXT ...``). Parse,
call :mod:`rnnlab.tasks.translate.training` and :class:`rnnlab.Seq2Seq`, print; errors are
ValueErrors, as in :mod:`rnnlab.cli`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnlab.cli.options import add_epoch_options, add_recurrent_options, given_settings
from rnnlab.tasks.translate.model import ATTENTIONS

#: The action ``rnnlab translate`` runs when the next word is not one of its actions.
DEFAULT_ACTION = "text"


def _add_pair_options(parser: argparse.ArgumentParser, d) -> None:
    from rnnlab.cli import _positive_int

    parser.add_argument(
        "--pairs", required=True, metavar="FILE", help="tab-separated pairs, one per line"
    )
    parser.add_argument(
        "--source-column", type=int, help=f"0-based column of the source ({d.source_column})"
    )
    parser.add_argument(
        "--target-column", type=int, help=f"0-based column of the target ({d.target_column})"
    )
    parser.add_argument("--encoding", default="utf-8", help="of the pairs file (utf-8)")
    parser.add_argument(
        "--max-length",
        type=_positive_int,
        help=f"skip pairs with a side longer than this many tokens ({d.max_length})",
    )


def _add_decoding_options(parser: argparse.ArgumentParser, beam: int) -> None:
    from rnnlab.cli import _non_negative_float, _positive_int

    parser.add_argument(
        "--beam", type=_positive_int, help=f"beam width; 1 is greedy decoding ({beam})"
    )
    parser.add_argument(
        "--alpha",
        type=_non_negative_float,
        help="length normalisation: hypotheses ranked by log p / length^alpha (1.0)",
    )


def add_commands(commands) -> None:
    """Add ``translate`` to the ``rnnlab`` subcommands."""
    from rnnlab.cli import _positive_int, _unit_interval
    from rnnlab.tasks.translate.training import Seq2SeqSettings

    d = Seq2SeqSettings()
    translate = commands.add_parser(
        "translate",
        help="sequence to sequence: train a translator on sentence pairs, translate",
        description="An encoder-decoder with attention (or without) that reads a sentence "
        "and writes another. rnnlab translate train ... trains one; "
        "rnnlab translate DIR TEXT ... translates with it.",
    )
    which = translate.add_subparsers(dest="translate", metavar="ACTION", required=True)

    train = which.add_parser(
        "train",
        help="train a translator on sentence pairs",
        description="Train an encoder-decoder on tab-separated sentence pairs. Whole groups of "
        "pairs sharing a source sentence are held out (seeded); after every epoch their "
        "perplexity, token accuracy and BLEU (greedy) are printed, at the end BLEU with beam "
        "search too and a few example translations. The checkpoint is the model at the end "
        "of the run; report.json holds the scores.",
        argument_default=argparse.SUPPRESS,
    )
    _add_pair_options(train, d)
    train.add_argument("--out", required=True, metavar="DIR", help="checkpoint directory to write")
    model = train.add_argument_group("model")
    model.add_argument("--level", choices=["word", "char"], help=f"tokens ({d.level})")
    model.add_argument(
        "--attention", choices=ATTENTIONS, help=f"luong, bahdanau or none ({d.attention})"
    )
    add_recurrent_options(model, d, bidirectional="encoder reads both ways")
    model.add_argument("--embedding", type=_positive_int, help=f"embedding size ({d.embedding})")
    model.add_argument(
        "--min-count",
        type=_positive_int,
        help=f"tokens seen fewer times in training become <unk> ({d.min_count})",
    )
    training = train.add_argument_group("training")
    add_epoch_options(training, d, epochs="20 without --budget")
    training.add_argument(
        "--teacher-forcing",
        type=_unit_interval,
        help="probability of feeding the decoder the true previous token rather than its "
        f"own choice, at the start ({d.teacher_forcing})",
    )
    training.add_argument(
        "--teacher-forcing-end",
        type=_unit_interval,
        help="... at the end of the run, reached linearly (the start value)",
    )
    _add_decoding_options(training, d.beam)
    train.set_defaults(run=_run_train)

    evaluate = which.add_parser(
        "evaluate",
        help="score a translator on sentence pairs",
        description="Perplexity, token accuracy and BLEU of a checkpoint on all the pairs of a "
        "file (each source against all of its references).",
    )
    evaluate.add_argument("checkpoint", metavar="DIR")
    _add_pair_options(evaluate, d)
    _add_decoding_options(evaluate, 1)
    evaluate.set_defaults(run=_run_evaluate)

    text = which.add_parser(
        DEFAULT_ACTION,
        help="translate sentences (the default: rnnlab translate DIR TEXT ...)",
        description="Translate each sentence given (and each line of --file), one "
        "translation per line.",
    )
    text.add_argument("checkpoint", metavar="DIR")
    text.add_argument("texts", nargs="*", metavar="TEXT")
    text.add_argument("--file", metavar="FILE", help="also translate each line of FILE")
    text.add_argument("--encoding", default="utf-8")
    _add_decoding_options(text, 1)
    text.add_argument(
        "--attention-plot",
        metavar="FILE",
        help="write the first sentence's attention weights as a PNG heat map",
    )
    text.add_argument(
        "--scores", action="store_true", help="also print each translation's log-probability"
    )
    text.set_defaults(run=_run_text)


def _run_train(args: argparse.Namespace) -> int:
    from rnnlab.tasks.translate.pairs import read_pairs
    from rnnlab.tasks.translate.training import PairSplit, Seq2SeqSettings, Seq2SeqTrainer

    settings = Seq2SeqSettings(**given_settings(args, Seq2SeqSettings))
    out = Path(args.out)
    pairs = read_pairs(
        args.pairs,
        settings.level,
        settings.source_column,
        settings.target_column,
        settings.max_length,
        args.encoding,
    )
    split = PairSplit.of(pairs, settings)
    print(
        f"{len(pairs):,} pairs ({pairs.empty} with an empty side and {pairs.too_long} over "
        f"{settings.max_length} tokens skipped); {len(split.train):,} for training, "
        f"{len(split.test):,} held out ({len(split.sentences):,} distinct sources)",
        flush=True,
    )
    trainer = Seq2SeqTrainer(
        split, settings, out, progress=sys.stderr.isatty(), sources=[pairs.path]
    )
    parameters = sum(p.numel() for p in trainer.model.parameters())
    print(
        f"vocabularies: {len(split.source_vocab):,} source, {len(split.target_vocab):,} target "
        f"{settings.level}s; attention {settings.attention}; {parameters:,} parameters; "
        f"{trainer.device.type}, {trainer.precision}",
        flush=True,
    )
    result = trainer.fit()
    _print_report(result.report)
    print(
        f"trained {result.steps} steps ({result.epochs:.2f} epochs) in {result.elapsed:.0f} s; "
        f"{split.scored}: {result.report.summary()}; checkpoint: {out}"
    )
    return 0


def _print_report(report) -> None:
    for source, references, translation in report.examples:
        print(f"  {source}\n    -> {translation}\n    reference: {' | '.join(references)}")
    if report.signature:
        print(f"BLEU: sacrebleu {report.signature}")


def _run_evaluate(args: argparse.Namespace) -> int:
    from rnnlab.tasks.translate.model import Seq2Seq
    from rnnlab.tasks.translate.pairs import read_pairs
    from rnnlab.tasks.translate.training import (
        Seq2SeqSettings,
        encode_pairs,
        grouped_references,
        translation_report,
    )

    model = Seq2Seq.from_pretrained(args.checkpoint)
    d = Seq2SeqSettings()
    pairs = read_pairs(
        args.pairs,
        model.source_vocab.level,
        args.source_column if args.source_column is not None else d.source_column,
        args.target_column if args.target_column is not None else d.target_column,
        args.max_length or model.max_length,
        args.encoding,
    )
    if pairs.empty or pairs.too_long:
        print(
            f"skipped {pairs.empty} pair(s) with an empty side and {pairs.too_long} over "
            f"{args.max_length or model.max_length} tokens",
            flush=True,
        )
    for number, source in enumerate(pairs.sources, 1):
        model.encode_source(source, f"the source of pair {number}")  # empty or over-long
    sources, targets = encode_pairs(pairs, model.source_vocab, model.target_vocab)
    report = translation_report(
        model,
        sources,
        targets,
        *grouped_references(pairs),
        beam=args.beam or 1,
        alpha=args.alpha if args.alpha is not None else 1.0,
    )
    _print_report(report)
    print(report.summary())
    return 0


def _run_text(args: argparse.Namespace) -> int:
    from rnnlab.data.text import read_text
    from rnnlab.tasks.translate.model import Seq2Seq

    model = Seq2Seq.from_pretrained(args.checkpoint)
    texts = list(args.texts)
    if args.file is not None:
        lines = [line.strip() for line in read_text(args.file, "char", args.encoding).splitlines()]
        kept = [line for line in lines if line]
        if len(kept) < len(lines):
            print(f"skipped {len(lines) - len(kept)} empty line(s) of {args.file}", file=sys.stderr)
        texts.extend(kept)
    if not texts:
        raise ValueError("nothing to translate: give sentences or --file FILE")
    if args.attention_plot and model.attention is None:
        raise ValueError("--attention-plot: this model has no attention (--attention none)")
    alpha = args.alpha if args.alpha is not None else 1.0
    translations = model.translate(texts, beam=args.beam or 1, alpha=alpha)
    for translation in translations:
        score = f"\t{translation.log_prob:.4f}" if args.scores else ""
        print(f"{translation.text}{score}")
    if args.attention_plot:
        from rnnlab.plots import attention_plot
        from rnnlab.tasks.translate.pairs import sentence_tokens

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
