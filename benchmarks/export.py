"""What leaving rnnlab costs: ONNX float32 and int8 against PyTorch, in size, quality and speed,
and the HTML page's speed in chromium, all in one run on this machine.

    python benchmarks/export.py                     # trains a char LSTM for 300 s first (once)
    python benchmarks/export.py --checkpoint DIR    # a language model already trained
    python benchmarks/export.py --budget 60 --skip-classifier

The language model is what ``rnnlab train --text tinyshakespeare.txt --budget 300`` makes (a
2 x 512 LSTM at that budget). Its held-out loss is measured the same way for all three: the
validation part (the last 10%) cut into 16 contiguous streams, each read from a zero state in
chunks of 256 with the state carried, nats per character. Generation speed is characters per
second after a 10-character prime, sampling at temperature 1: rnnlab's own generation
(``LanguageModel.generate`` / ``generate_batch``, ``auto`` precision and float32) beside the
portable runtime (``rnnlab.portable``, onnxruntime on this machine's threads) for 1 stream
(2,000 characters) and 64 streams (500 each), best of two; the HTML page's greedy generation of
1,000 characters, timed inside chromium. The classifier is names -> language (``rnnlab
classify train`` defaults, seed 0), scored on its held-out 10% by PyTorch and both exports.
The transformer row is the bench's 4 x 128 transformer (context 64), one stream, rnnlab's
cached step against the exported cached step graph.

Prints a Markdown table and writes ``benchmarks/export/results.json``; RESULTS.md records it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from rnnlab.bench.machine import describe, peaks
from rnnlab.cli import main as rnnlab
from rnnlab.data.labelled import read_labelled
from rnnlab.data.text import SHARED_DATA
from rnnlab.data.vocab import Vocabulary
from rnnlab.explore.chromium import CHROMIUM, FLAGS
from rnnlab.export import export, load_checkpoint
from rnnlab.export.onnx_files import export_onnx
from rnnlab.portable import Classifier
from rnnlab.portable import LanguageModel as PortableLM
from rnnlab.tasks.classify.training import (
    ClassifierTrainer,
    Split,
    _parts,
    recommended_classifier_settings,
)
from rnnlab.tasks.language.transformer import TransformerLM

HERE = Path(__file__).resolve().parent
WORK = HERE.parents[0] / "build" / "export-bench"
TEXT = SHARED_DATA / "tinyshakespeare.txt"
PRIME = "ROMEO:\nWhat"
STREAMS, CHUNK = 16, 256


def size(path: Path) -> int:
    """Bytes of the export's main graph (a language model's step graph; the sequence graph
    beside it holds the same weights)."""
    return path.stat().st_size


def streams_of(ids: np.ndarray) -> np.ndarray:
    length = len(ids) // STREAMS
    return ids[: length * STREAMS].reshape(STREAMS, length)


def nats_torch(model, rows: np.ndarray) -> float:
    total, state = 0.0, None
    with torch.no_grad():
        for start in range(0, rows.shape[1] - 1, CHUNK):
            x = torch.from_numpy(rows[:, start : start + CHUNK + 1])
            logits, state = model(x[:, :-1], state)
            flat = logits.reshape(-1, logits.shape[-1]).double()
            total += float(F.cross_entropy(flat, x[:, 1:].reshape(-1), reduction="sum"))
    return total / (rows.shape[0] * (rows.shape[1] - 1))


def nats_onnx(path: Path, rows: np.ndarray) -> float:
    sess = ort.InferenceSession(str(path.with_name(path.stem + ".sequence.onnx")))
    names = [i.name for i in sess.get_inputs() if i.name != "ids"]
    meta = json.loads(path.with_suffix(".json").read_text())["config"]["model"]
    shape = (meta["num_layers"], STREAMS, meta["hidden_size"])
    state = {n: np.zeros(shape, np.float32) for n in names}
    total = 0.0
    for start in range(0, rows.shape[1] - 1, CHUNK):
        x = rows[:, start : start + CHUNK + 1]
        out = sess.run(None, {"ids": x[:, :-1], **state})
        logits = out[0].astype(np.float64)
        top = logits.max(-1, keepdims=True)
        log_z = np.log(np.exp(logits - top).sum(-1)) + top[..., 0]
        picked = np.take_along_axis(logits, x[:, 1:, None], -1)[..., 0]
        total += float((log_z - picked).sum())
        state = dict(zip(names, out[1:], strict=True))
    return total / (rows.shape[0] * (rows.shape[1] - 1))


def best_rate(function, symbols: int, repeats: int = 2) -> float:
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = max(best, symbols / (time.perf_counter() - started))
    return best


def html_rate(page_path: Path, length: int = 1000) -> float | None:
    if not CHROMIUM.exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(FLAGS))
        page = browser.new_page()
        page.goto(page_path.resolve().as_uri())
        seconds = page.evaluate(
            """(length) => {
                window.rnnlab.generate({prime: "ROMEO:", length: 50, greedy: true});  // warm-up
                const started = performance.now();
                window.rnnlab.generate({prime: "ROMEO:", length, greedy: true});
                return (performance.now() - started) / 1000;
            }""",
            length,
        )
        browser.close()
    return length / seconds


def language(checkpoint: Path) -> dict:
    model = load_checkpoint(checkpoint).float()
    text = TEXT.read_text(encoding="utf-8")
    heldout = model.vocab.encode(text[int(len(text) * 0.9) :]).numpy()
    rows = streams_of(heldout)
    results = {"model": model.settings | {"weights": sum(p.numel() for p in model.parameters())}}
    files = {}
    for name, quantize in (("float32", None), ("int8", "int8")):
        path = WORK / name / "lm.onnx"
        started = time.perf_counter()
        export(checkpoint, "onnx", path, quantize=quantize)
        files[name] = path
        results[name] = {"export_seconds": time.perf_counter() - started, "bytes": size(path)}
        results[name]["nats_per_char"] = nats_onnx(path, rows)
    results["pytorch"] = {
        "bytes": (checkpoint / "model.safetensors").stat().st_size,
        "nats_per_char": nats_torch(model, rows),
    }
    for precision in ("auto", "float32"):
        results["pytorch"][f"chars_per_second_1_{precision}"] = best_rate(
            lambda p=precision: model.generate(PRIME, 2000, seed=0, precision=p), 2000
        )
        results["pytorch"][f"chars_per_second_64_{precision}"] = best_rate(
            lambda p=precision: model.generate_batch(64, PRIME, 500, seed=0, precision=p), 64 * 500
        )
    for name, path in files.items():
        portable = PortableLM(path)
        results[name]["chars_per_second_1"] = best_rate(
            lambda m=portable: m.generate(PRIME, 2000, seed=0), 2000
        )
        results[name]["chars_per_second_64"] = best_rate(
            lambda m=portable: m.generate(PRIME, 500, streams=64, seed=0), 64 * 500
        )
    page = WORK / "lm.html"
    export(checkpoint, "html", page)
    results["html"] = {"bytes": page.stat().st_size, "chars_per_second_1": html_rate(page)}
    return results


def transformer() -> dict:
    """Generation speed of the bench's transformer (4 x 128, context 64; speed does not depend
    on the weights, so these are untrained): rnnlab's cached step against the exported one."""
    vocab = shakespeare_vocabulary()
    model = TransformerLM(vocab, 128, 4, heads=4, context=64, dropout=0.0).eval()
    path = WORK / "float32" / "transformer.onnx"
    export_onnx(model, path)
    portable = PortableLM(path)
    return {
        "pytorch_chars_per_second_1": best_rate(lambda: model.generate(PRIME, 2000, seed=0), 2000),
        "onnx_chars_per_second_1": best_rate(lambda: portable.generate(PRIME, 2000, seed=0), 2000),
    }


def shakespeare_vocabulary() -> Vocabulary:
    return Vocabulary.build("char", TEXT.read_text(encoding="utf-8"))


def classifier() -> dict:
    data = read_labelled([SHARED_DATA / "names"])
    settings = recommended_classifier_settings(level="char", seed=0)
    split = Split.of(data, settings)
    out = WORK / "names"
    shutil.rmtree(out, ignore_errors=True)  # the benchmark's own run of the last time
    trainer = ClassifierTrainer(split, settings, out=out, progress=False, echo=lambda line: None)
    trainer.fit()
    model = load_checkpoint(out)
    _, test = _parts(data, settings)
    truth = np.array([split.labels.index(label) for label in test.labels])
    results = {"held_out": len(truth)}
    probs = model.proba_of_ids(split.test_ids).numpy()
    results["pytorch"] = {"accuracy": float((probs.argmax(1) == truth).mean())}
    for name, quantize in (("float32", None), ("int8", "int8")):
        path = WORK / name / "names.onnx"
        export(out, "onnx", path, quantize=quantize)
        got = Classifier(path).probabilities(test.texts)
        results[name] = {
            "bytes": size(path),
            "accuracy": float((got.argmax(1) == truth).mean()),
            "same_label_as_pytorch": float((got.argmax(1) == probs.argmax(1)).mean()),
        }
    results["pytorch"]["bytes"] = (out / "model.safetensors").stat().st_size
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="a language model checkpoint to use")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of training")
    parser.add_argument("--skip-classifier", action="store_true")
    parser.add_argument("--json", type=Path, default=HERE / "export" / "results.json")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    machine = describe() | {"peaks": peaks(quick=True)}
    p = machine["peaks"]
    print(
        f"{machine['cpu']}, {machine['cores']} cores; peaks {p['float32_gflops']:.0f} / "
        f"{p['bfloat16_gflops']:.0f} GFLOP/s float32 / bfloat16, {p['read_gbps']:.0f} GB/s"
    )
    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = WORK / f"lm-{args.budget:g}s"  # trained once per budget, then reused
    if not (checkpoint / "model.safetensors").is_file():
        with contextlib.redirect_stdout(io.StringIO()):
            train = ["train", "--text", str(TEXT), "--budget", str(args.budget)]
            code = rnnlab([*train, "--out", str(checkpoint), "--sample-length", "0"])
        assert code == 0
    results = {"machine": machine, "host": platform.node(), "language": language(checkpoint)}
    results["transformer"] = transformer()
    if not args.skip_classifier:
        results["classifier"] = classifier()
    lm = results["language"]
    print(
        "| language model | file | held-out nats/char | chars/s, 1 stream | chars/s, 64 streams |"
    )
    print("| --- | --- | --- | --- | --- |")
    t = lm["pytorch"]
    print(
        f"| PyTorch (rnnlab, auto / float32) | {t['bytes'] / 1e6:.1f} MB | "
        f"{t['nats_per_char']:.4f} | {t['chars_per_second_1_auto']:,.0f} / "
        f"{t['chars_per_second_1_float32']:,.0f} | {t['chars_per_second_64_auto']:,.0f} / "
        f"{t['chars_per_second_64_float32']:,.0f} |"
    )
    for name in ("float32", "int8"):
        row = lm[name]
        print(
            f"| ONNX {name} (rnnlab.portable) | {row['bytes'] / 1e6:.1f} MB | "
            f"{row['nats_per_char']:.4f} | {row['chars_per_second_1']:,.0f} | "
            f"{row['chars_per_second_64']:,.0f} |"
        )
    tf = results["transformer"]
    print(
        f"| 4 x 128 transformer, PyTorch / ONNX float32 | | | "
        f"{tf['pytorch_chars_per_second_1']:,.0f} / {tf['onnx_chars_per_second_1']:,.0f} | |"
    )
    rate = lm["html"]["chars_per_second_1"]
    print(f"| HTML page (chromium) | {lm['html']['bytes'] / 1e6:.1f} MB | | {rate or 0:,.0f} | |")
    if "classifier" in results:
        c = results["classifier"]
        for name in ("pytorch", "float32", "int8"):
            same = c[name].get("same_label_as_pytorch")
            print(
                f"names classifier, {name}: {c[name]['bytes'] / 1e6:.2f} MB, accuracy "
                f"{c[name]['accuracy']:.4f}"
                + (f", same label as PyTorch {same:.4f}" if same else "")
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
