"""A trained model leaves rnnlab: ONNX graphs for any runtime (:mod:`.onnx_graphs`,
:mod:`.onnx_files`; int8 on request), one HTML file that runs a recurrent language model in a
browser (:mod:`.html`), and a model repository's folder with a model card (:mod:`.hub`). The
exported ONNX files run without PyTorch in :mod:`rnnlab.portable`.
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.export.models import MODELS, load_checkpoint

FORMATS = ("onnx", "html", "hub")
QUANTIZE = ("int8",)  # --quantize for ONNX

__all__ = ["FORMATS", "MODELS", "QUANTIZE", "export", "load_checkpoint"]


def export(
    directory: str | Path,
    format: str,
    out: str | Path,
    *,
    quantize: str | None = None,
    half: bool = False,
    text: str | None = None,
) -> list[Path]:
    """Export the checkpoint in ``directory`` as ``format`` to ``out``; the paths written.
    ``quantize`` ("int8") applies to ONNX, ``half`` (float16 weights) and ``text`` (the
    held-out text of the game) to HTML; an option for another format is a ValueError."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
    for name, value, applies in (("--quantize", quantize, "onnx"), ("--half", half, "html")):
        if value and format != applies:
            raise ValueError(f"{name} applies to --format {applies}, not {format}")
    if text is not None and format != "html":
        raise ValueError(f"--text applies to --format html, not {format}")
    source = Path(directory).resolve()
    target = Path(out).resolve()
    if target == source or source in target.parents:
        raise ValueError(f"{out} is inside the checkpoint {directory}; write elsewhere")
    model = load_checkpoint(directory)
    # onnx is imported only when it is used: `import onnx` takes 0.6 s, every command would pay it
    if format == "onnx":
        from rnnlab.export.onnx_files import export_onnx

        return export_onnx(model, out, quantize)
    if format == "html":
        from rnnlab.export.html import export_html

        return export_html(model, out, half, text, title=Path(directory).name)
    from rnnlab.export.hub import export_hub

    return export_hub(model, directory, out)
