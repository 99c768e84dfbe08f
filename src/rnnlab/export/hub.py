"""A checkpoint as a model repository's folder: the weights and the config as rnnlab saves
them (so ``from_pretrained(FOLDER)`` loads it), the ONNX export where the kind has one, and a
model card, ``README.md``, that says what the model is, the data it learned from (by name and
SHA-256), its held-out scores, the command that trains it again, and how to load it with
rnnlab and with onnxruntime alone. Nothing is uploaded: the folder is ready for whoever does.
"""

from __future__ import annotations

import shlex
from dataclasses import fields
from pathlib import Path

from rnnlab.checkpoint import CONFIG, WEIGHTS, atomic_write
from rnnlab.export.onnx_files import export_onnx
from rnnlab.export.onnx_graphs import has_graphs
from rnnlab.outputs import is_checkpoint_dir, output_file
from rnnlab.tasks.chat import CHAT
from rnnlab.tasks.classify import CLASSIFY
from rnnlab.tasks.conditional import CONDITIONAL
from rnnlab.tasks.forecast import FORECAST
from rnnlab.tasks.language import LANGUAGE
from rnnlab.tasks.speech import SPEECH
from rnnlab.tasks.translate import TRANSLATE

TASKS = (LANGUAGE, CLASSIFY, TRANSLATE, CHAT, SPEECH, CONDITIONAL, FORECAST)
CARD = "README.md"
ONNX = "model.onnx"
PORTABLE_VERBS = {
    "rnnlab.language_model": 'generate model.onnx --prime "..." --length 200',
    "rnnlab.transformer_lm": 'generate model.onnx --prime "..." --length 200',
    "rnnlab.sequence_classifier": 'classify model.onnx "a text to label"',
    "rnnlab.seq2seq": 'translate model.onnx "a sentence"',
    "rnnlab.chat": 'translate model.onnx "what the other side said"',
    "rnnlab.forecaster": "forecast model.onnx --history history.csv",
    "rnnlab.speech_recognizer": "transcribe model.onnx recording.wav",
    "rnnlab.conditional_generator": "generate-from-label model.onnx --label LABEL",
}


def training_task(model):
    """The :class:`~rnnlab.training.run.TrainingTask` that trains models like ``model``."""
    return next(task for task in TASKS if type(model) in task.models)


def command_line(model) -> str | None:
    """The ``rnnlab`` command that trains this model again: its data options as recorded and
    every setting the config holds (None where the config records no training)."""
    config = model.checkpoint_config
    if "training" not in config:
        return None
    task = training_task(model)
    settings = task.settings.from_config(config)
    words = ["rnnlab", *task.command.split()]
    options = ((config.get("data") or {}).get("options")) or {}
    for name, value in options.items():
        if value is None or value is False:
            continue
        words.append("--" + name.replace("_", "-"))
        if value is not True:
            words.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    kept = {f.name for f in task.settings.options()}
    for item in fields(settings):
        value = getattr(settings, item.name)
        if item.name not in kept or (value is None and item.name != "embedding_size"):
            continue
        flag = task.settings.flag(item.name)
        if item.name == "embedding_size" and value is None:
            words.append("--one-hot")
        elif isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        else:
            words.extend([flag, str(value)])
    words.extend(["--out", "FOLDER"])
    return shlex.join(words)


def model_card(model, name: str, onnx: bool) -> str:
    """The README.md of the folder (see the module docstring)."""
    config = model.checkpoint_config
    settings = config.get("model", {})
    cls = type(model)
    package = cls.__module__.rsplit(".", 1)[0] if ".tasks." in cls.__module__ else "rnnlab"
    weights = sum(p.numel() for p in model.parameters())
    shape = ""
    if "num_layers" in settings and "hidden_size" in settings:
        cell = settings.get("cell", "transformer")
        shape = f", {settings['num_layers']} x {settings['hidden_size']} {cell.upper()}"
    lines = [
        "---",
        "library_name: rnnlab",
        f"tags: [rnnlab, {config['format'].split('.', 1)[1].replace('_', '-')}]",
        "---",
        "",
        f"# {name}",
        "",
        f"A {model.KIND} trained with rnnlab{shape}, {weights:,} weights.",
        "",
        "## Training data",
        "",
    ]
    data = config.get("data") or {}
    sources = [data["source"]] if data.get("source") else list(data.get("sources") or [])
    if sources:  # by name: a path on the machine that trained it means nothing elsewhere
        names = ", ".join(f"`{Path(str(source)).name}`" for source in sources)
        digest = data.get("sha256")
        lines.append(f"- {names}" + (f", SHA-256 `{digest}`" if digest else ""))
    else:
        lines.append("- not recorded in the checkpoint")
    lines += ["", "## Held-out scores", ""]
    scores = {k: v for k, v in (model.checkpoint_meta or {}).items() if k != "step"}
    if scores:
        step = (model.checkpoint_meta or {}).get("step")
        lines += [f"- {k.replace('_', ' ')}: {_shown(v)}" for k, v in scores.items()]
        lines.append(f"- (of the model saved at step {step})" if step is not None else "")
    else:
        lines.append("- not recorded in the checkpoint")
    command = command_line(model)
    lines += ["", "## How it was trained", ""]
    lines += ["```", command, "```"] if command else ["Not recorded in the checkpoint."]
    lines += [
        "",
        "## Use it",
        "",
        "With rnnlab installed, from this folder:",
        "",
        "```python",
        f"from {package} import {cls.__name__}",
        "",
        f'model = {cls.__name__}.from_pretrained("FOLDER")',
        "```",
    ]
    if onnx:
        verb = PORTABLE_VERBS.get(config["format"])
        lines += [
            "",
            f"Without PyTorch: `{ONNX}` and `model.json` (and any `model.*.onnx`) run with "
            "numpy and onnxruntime, through rnnlab's portable runtime or any ONNX runtime:",
            "",
            "```",
            f"python -m rnnlab.portable {verb}" if verb else "see model.json for the graphs",
            "```",
        ]
    return "\n".join(lines) + "\n"


def _shown(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def export_hub(model, source: str | Path, out: str | Path) -> list[Path]:
    """Write the folder ``out`` for the model loaded from checkpoint ``source``."""
    source, out = Path(source), Path(out)
    if is_checkpoint_dir(out):
        raise ValueError(f"{out} already holds a checkpoint; give a new folder")
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise ValueError(f"{out} is inside the checkpoint {source}; write elsewhere")
    for name in (CARD, WEIGHTS, CONFIG):  # the ONNX export checks its own files
        output_file(out / name)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    onnx = has_graphs(model)
    if onnx:
        written += export_onnx(model, out / ONNX)
    atomic_write(out / CARD, model_card(model, source.name, onnx).encode("utf-8"))
    written.append(out / CARD)
    for name in (WEIGHTS, CONFIG):  # the config last: it makes the folder a checkpoint
        atomic_write(out / name, (source / name).read_bytes())
        written.append(out / name)
    return written
