"""A recurrent language model as one HTML file that runs it by itself: in any modern browser,
opened from disk, with no server, no network and nothing to fetch.

The page (``static/page.html``) holds the network's weights (float32, or float16 with
``half``), the vocabulary and up to ``HELDOUT`` symbols of held-out text for the RNN game, as
one JSON document; its script computes the cell's step in plain JavaScript beside the
equations it implements, samples with temperature and top-k, and plays the explorer's game.
Scripts reach the generator as ``window.rnnlab.generate({prime, length, greedy, temperature,
topK, seed})``, which returns the text, and a round as ``new window.rnnlab.Round(seed)``.

The recurrent language models of every cell export, plain stacks or residual blocks; a
transformer or another kind of model is refused with one line.
"""

from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path

import torch

from rnnlab.checkpoint import atomic_write
from rnnlab.tasks.language.corpus import heldout_text
from rnnlab.tasks.language.model import LanguageModel

HELDOUT = 20_000  # symbols of held-out text the page keeps for the game
TEMPLATE = "page.html"


def model_spec(model: LanguageModel, half: bool = False, heldout: str | None = None) -> dict:
    """What the page's script reads: the architecture, the vocabulary, the weights (base64 of
    their little-endian bytes, each tensor at an ``offset``) and the held-out ids (-1 where the
    model has no symbol)."""
    if not isinstance(model, LanguageModel):
        kind = getattr(model, "KIND", type(model).__name__)
        raise ValueError(f"an HTML page runs recurrent language models; this is a {kind}")
    dtype, size = (torch.float16, 2) if half else (torch.float32, 4)
    chunks, tensors, offset = [], {}, 0
    for name, tensor in model.state_dict().items():
        data = tensor.detach().to(dtype).contiguous().numpy().astype(f"<f{size}").tobytes()
        tensors[name] = {"shape": list(tensor.shape), "dtype": str(dtype)[6:], "offset": offset}
        chunks.append(data)
        offset += len(data)
    settings, vocab = model.settings, model.vocab
    ids = None
    if heldout:
        found = vocab.lookup(vocab.tokens(heldout)[:HELDOUT])
        ids = [-1 if i is None or unknown else i for i, unknown in found]
    cell = settings["cell"]
    return {
        "cell": cell,
        "block": settings["block"],
        "hidden": settings["hidden_size"],
        "layers": settings["num_layers"],
        "embedding": settings["embedding_size"],
        "level": vocab.level,
        "symbols": list(vocab.symbols),
        "unknown": vocab.unknown,
        "prime": model.default_prime(),
        "about": (
            f"A {vocab.level}-level {cell.upper()} language model: {settings['num_layers']} x "
            f"{settings['hidden_size']} ({settings['block']}), "
            f"{sum(p.numel() for p in model.parameters()):,} weights in {str(dtype)[6:]}, "
            "computed in this page by plain JavaScript."
        ),
        "heldout": ids,
        "tensors": tensors,
        "data": base64.b64encode(b"".join(chunks)).decode("ascii"),
    }


def page(model: LanguageModel, title: str, half: bool = False, heldout: str | None = None) -> str:
    """The HTML of the page for ``model``."""
    template = resources.files("rnnlab.export").joinpath("static", TEMPLATE).read_text("utf-8")
    document = json.dumps(model_spec(model, half, heldout), ensure_ascii=True)
    document = document.replace("</", "<\\/")  # stays inside its <script> element
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return template.replace("__TITLE__", escaped).replace("__MODEL__", document)


def export_html(
    model: LanguageModel,
    out: str | Path,
    half: bool = False,
    text: str | None = None,
    title: str | None = None,
) -> list[Path]:
    """Write the page for ``model`` to ``out``; the game plays on its held-out text (the end of
    the text it trained on, or the file ``text``), and is left out when none can be read."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{out}: an HTML file's name ends in .html")
    try:
        heldout = heldout_text(model, text) if isinstance(model, LanguageModel) else None
    except ValueError:
        if text is not None:
            raise
        heldout = None
    html = page(model, title or out.stem, half, heldout)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, html.encode("utf-8"))
    return [out]
