"""The hidden state as a sequence is read: traces, interpretable units, and an HTML view.

A language model reads a text one symbol at a time; after symbol t its layer l holds h^l_t (and
c^l_t for an LSTM) and predicts symbol t+1. :func:`read_states` records those states and the
top predictions; :func:`best_units` finds, for simple properties of the text (inside double
quotes, inside brackets, position in the line), the unit whose activation has the largest
Pearson correlation |r| with the property, in the manner of Karpathy, Johnson & Fei-Fei (2015),
"Visualizing and Understanding Recurrent Networks"; :func:`states_html` shows the text with
each symbol coloured by one unit's activation.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.checkpoint import atomic_write, write_json
from rnnlab.insight.trace import stacked_layers, trace
from rnnlab.limits import check_text_length
from rnnlab.plots import heatmap
from rnnlab.tasks.language.model import LanguageModel

STATE_NAMES = ("h", "c")
MAX_CHARS = 3000  # characters of a file read, by default: a heatmap stays legible
HEATMAP_UNITS = 64  # units in the heatmap, by default
OPENING, CLOSING = "([{", ")]}"


@dataclass
class StateReport:
    """What the model held after each symbol of a text."""

    symbols: list[str]
    #: per layer, (T, H): the chosen state tensor after each symbol
    activations: list[np.ndarray]
    #: per step, the likeliest next symbols with their probabilities, best first
    predictions: list[list[tuple[str, float]]]
    state: str = "h"


@dataclass
class UnitMatch:
    """The unit whose activation best tracks ``property`` (Pearson r over the text's steps)."""

    property: str
    layer: int
    unit: int
    correlation: float


@torch.no_grad()
def read_states(model: LanguageModel, text: str, state: str = "h", top: int = 5) -> StateReport:
    """Read ``text`` from the zero state; keep state ``h`` (or ``c``, LSTM) of every layer."""
    if state not in STATE_NAMES:
        raise ValueError(f"state must be h or c, got {state!r}")
    rnn = stacked_layers(model)
    if state == "c" and "c" not in rnn.cell.state_names:
        raise ValueError(f"the {rnn.cell_name} cell has no cell state c; use h")
    check_text_length(len(text), "the text to read")
    ids = model.vocab.encode(text, what="the text to read")
    if ids.numel() == 0:
        raise ValueError("the text to read is empty")
    model = model.eval()
    weight = model.head.weight
    if model.embedding is not None:
        x = model.embedding(ids.to(weight.device))
    else:
        x = F.one_hot(ids, len(model.vocab)).to(weight)
    run = trace(rnn, x.unsqueeze(1))
    which = STATE_NAMES.index(state)
    activations = [
        run.stacked(layer, which)[:, 0].float().cpu().numpy() for layer in range(len(run.states))
    ]
    probabilities = torch.softmax(model.head(run.stacked(len(run.states) - 1)[:, 0]).float(), -1)
    best = probabilities.topk(min(top, probabilities.shape[-1]), dim=-1)
    decode = model.vocab.decoder()
    symbols = [decode(i) for i in ids.tolist()]
    names = [model.vocab.decode([i]) for i in range(len(model.vocab))]
    predictions = [
        [(names[i], float(p)) for p, i in zip(row_p.tolist(), row_i.tolist(), strict=True)]
        for row_p, row_i in zip(best.values, best.indices, strict=True)
    ]
    return StateReport(symbols, activations, predictions, state)


def text_properties(symbols: list[str]) -> dict[str, np.ndarray]:
    """Per step, after reading each symbol: inside double quotes (0/1), inside brackets (0/1;
    ( [ { nest), and the position in the line (characters since the last newline)."""
    quoted, bracketed, position = [], [], []
    inside, depth, column = False, 0, 0
    for symbol in symbols:
        for char in symbol:
            if char == '"':
                inside = not inside
            elif char in OPENING:
                depth += 1
            elif char in CLOSING:
                depth = max(depth - 1, 0)
            column = 0 if char == "\n" else column + 1
        quoted.append(float(inside))
        bracketed.append(float(depth > 0))
        position.append(float(column))
    return {
        "inside quotes": np.array(quoted),
        "inside brackets": np.array(bracketed),
        "position in line": np.array(position),
    }


def correlations(activations: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Pearson r of each column of activations (T, H) with values (T,); 0 where either is
    constant."""
    a = activations - activations.mean(0)
    v = values - values.mean()
    scale = np.sqrt((a * a).sum(0) * (v * v).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * v[:, None]).sum(0) / scale
    return np.nan_to_num(r, nan=0.0)


def best_units(report: StateReport, layers: list[int] | None = None) -> list[UnitMatch]:
    """For each text property that varies in the text, the best-tracking unit of ``layers``
    (all if None)."""
    matches = []
    for name, values in text_properties(report.symbols).items():
        if values.std() == 0:
            continue
        candidates = []
        for layer, activations in enumerate(report.activations):
            if layers is not None and layer not in layers:
                continue
            r = correlations(activations, values)
            unit = int(np.abs(r).argmax())
            candidates.append(UnitMatch(name, layer, unit, float(r[unit])))
        matches.append(max(candidates, key=lambda m: abs(m.correlation)))
    return matches


def shown_units(report: StateReport, layer: int, first: int, count: int) -> list[int]:
    """``first``, then the other units of ``layer`` by decreasing variance over the text."""
    order = np.argsort(-report.activations[layer].var(0)).tolist()
    return [first, *(u for u in order if u != first)][:count]


def _colour(value: float, limit: float) -> str:
    """Red for positive, blue for negative, opacity by magnitude relative to ``limit``."""
    alpha = min(abs(value) / limit, 1.0) if limit > 0 else 0.0
    rgb = "214, 39, 40" if value >= 0 else "31, 119, 180"
    return f"rgba({rgb}, {alpha:.3f})"


def _shown(symbol: str) -> str:
    return {"\n": "\\n", "\t": "\\t", " ": "␣"}.get(symbol, symbol)


def states_html(
    report: StateReport, layer: int, unit: int, matches: list[UnitMatch], title: str
) -> str:
    """A self-contained HTML page: the text coloured by one unit's activation (hover a symbol
    for its value and the top predictions), the units that track text properties, and a table
    of the top predictions at every step. All text is escaped."""
    values = report.activations[layer][:, unit]
    limit = float(np.abs(values).max()) or 1.0
    spans = []
    for t, symbol in enumerate(report.symbols):
        guesses = ", ".join(f"{_shown(s)} {p:.2f}" for s, p in report.predictions[t])
        tip = f"{report.state}[{layer}][{unit}] = {values[t]:+.3f}; next: {guesses}"
        text = "↵\n" if symbol == "\n" else symbol
        spans.append(
            f'<span style="background:{_colour(values[t], limit)}" '
            f'title="{html.escape(tip)}">{html.escape(text)}</span>'
        )
    rows = [
        f"<tr><td>{match.property}</td><td>{match.layer}</td><td>{match.unit}</td>"
        f"<td>{match.correlation:+.3f}</td></tr>"
        for match in matches
    ]
    steps = []
    for t, symbol in enumerate(report.symbols):
        guesses = "".join(
            f"<td><code>{html.escape(_shown(s))}</code> {p:.3f}</td>"
            for s, p in report.predictions[t]
        )
        steps.append(
            f"<tr><td>{t}</td><td><code>{html.escape(_shown(symbol))}</code></td>"
            f'<td style="background:{_colour(values[t], limit)}">{values[t]:+.3f}</td>'
            f"{guesses}</tr>"
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 72em; }}
.text {{ font-family: monospace; white-space: pre-wrap; line-height: 1.6; border: 1px solid #ccc;
  padding: 1em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: left; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>Each symbol is coloured by unit {unit} of layer {layer} (state <code>{report.state}</code>)
after reading it: red positive, blue negative, full colour at |{limit:.3f}|. Hover a symbol for
its value and the model's five likeliest next symbols.</p>
<div class="text">{"".join(spans)}</div>
<h2>Units that track a property of the text</h2>
<table><tr><th>property</th><th>layer</th><th>unit</th><th>Pearson r</th></tr>
{"".join(rows) or '<tr><td colspan="4">no property varies in this text</td></tr>'}
</table>
<h2>Top predictions at each step</h2>
<table><tr><th>step</th><th>read</th><th>activation</th><th colspan="5">next symbol, probability
</th></tr>
{"".join(steps)}
</table>
</body>
</html>
"""


def write_report(
    report: StateReport,
    matches: list[UnitMatch],
    layer: int,
    unit: int,
    out: str | Path,
    units: int = 64,
    title: str = "rnnlab: hidden states",
) -> list[Path]:
    """``states.png`` (a heatmap of ``units`` units of ``layer`` over time, ``unit`` on top),
    ``states.html`` (see :func:`states_html`) and ``states.json`` in directory ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shown = shown_units(report, layer, unit, units)
    values = report.activations[layer][:, shown].T
    labels = [_shown(s) if len(s) <= 2 else s[:2] + "…" for s in report.symbols]
    png = heatmap(
        out / "states.png",
        values,
        title=f"{title}: layer {layer}, state {report.state}, {len(shown)} units over "
        f"{len(report.symbols)} steps",
        xticklabels=labels,
        yticklabels=[str(u) for u in shown],
        colorbar=report.state,
    )
    page = out / "states.html"
    atomic_write(page, states_html(report, layer, unit, matches, title).encode("utf-8"))
    data = {
        "state": report.state,
        "layer": layer,
        "unit": unit,
        "symbols": report.symbols,
        "activation": report.activations[layer][:, unit].tolist(),
        "best_units": [asdict(m) for m in matches],
        "predictions": report.predictions,
    }
    write_json(out / "states.json", data)
    return [png, page, out / "states.json"]
