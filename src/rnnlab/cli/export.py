"""``rnnlab export``: a checkpoint as ONNX graphs, one HTML page or a model repository's
folder. Parse, call :func:`rnnlab.export.export`, print what was written."""

from __future__ import annotations

import argparse

from rnnlab.export import FORMATS, QUANTIZE, export
from rnnlab.outputs import output_dir, output_file

COMMAND = "export"


def add_commands(commands) -> None:
    parser = commands.add_parser(
        COMMAND,
        help="take a trained model elsewhere: ONNX, one HTML page, a hub folder",
        description="Write the checkpoint in DIR as ONNX graphs with their JSON beside them "
        "(--format onnx; they run without PyTorch: python -m rnnlab.portable), as one HTML file "
        "that generates and plays the RNN game in any browser, offline (--format html; "
        "recurrent language models), or as a model repository's folder with a model card "
        "(--format hub; from_pretrained reads it).",
    )
    parser.add_argument("checkpoint", metavar="DIR")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="the .onnx or .html file to write, or the folder (hub)",
    )
    parser.add_argument(
        "--quantize", choices=QUANTIZE, help="onnx: 8-bit integer weights (about 4x smaller)"
    )
    parser.add_argument("--half", action="store_true", help="html: float16 weights (half size)")
    parser.add_argument(
        "--text",
        metavar="FILE",
        help="html: the held-out text the game plays on (default: "
        "the end of the text the model trained on)",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    out = output_dir(args.out, reports=True) if args.format == "hub" else output_file(args.out)
    written = export(
        args.checkpoint,
        args.format,
        out,
        quantize=args.quantize,
        half=args.half,
        text=args.text,
    )
    for path in written:
        print(f"wrote {path} ({_size(path.stat().st_size)})")
    return 0


def _size(count: int) -> str:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
