"""Gradient flow through time: how much the loss at the last step still feels a state k steps back.

For a language model read over a window of text, the loss at the last step T is
L_T = -log p(s_{T+1} | s_<=T), and backpropagation through time gives

    dL_T/dh_{T-k} = dL_T/dh_T · Π_{j=T-k+1..T} ∂h_j/∂h_{j-1},
    ∂h_j/∂h_{j-1} = diag(f'(a_j)) W_hh                   (vanilla RNN),

a product of k Jacobians. Its norm shrinks (or grows) roughly geometrically in k: the measured
per-step rate is fitted as exp(slope) of log ||dL_T/dh_{T-k}|| against k. The two factors the
textbook bound names are reported next to it: the spectral radius ρ(W_hh) (of the candidate
block for gated cells) and the mean derivative of the candidate's nonlinearity; for gated cells
also the mean "keep" gate (LSTM: f_t, whose product carries dc_T/dc_{T-k}; GRU: z_t). For
minGRU and minLSTM the Jacobian is exactly diag(a_t) (1 - z_t, or f'_t): there is no W_hh (ρ is
reported as none) and the keep gate is a_t itself.

Norms are per sequence (over hidden units) and averaged over many sequences; everything runs in
float64 so that decays of hundreds of orders of magnitude stay representable.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.cells import Cell, GRUCell, LSTMCell, MinimalCell, RNNCell
from rnnlab.checkpoint import checkpoint_dir, write_json
from rnnlab.data.text import read_source
from rnnlab.data.vocab import Vocabulary
from rnnlab.insight.networks import DEFAULT_NETWORKS, GradientSettings, NetworkSpec
from rnnlab.insight.trace import layer_states, stacked_layers, trace
from rnnlab.limits import require_memory
from rnnlab.plots import line_plot
from rnnlab.tasks.language.model import LanguageModel

#: distances at which the printed table shows the norm
TABLE_DISTANCES = (1, 10, 50, 100, 200)


@dataclass
class GradientFlow:
    """The measurement for one network; lists are per layer, ``norms[l][k]`` at distance k."""

    name: str
    cell: str
    norms: list[list[float]]
    decay: list[float]
    spectral_radius: list[float]
    mean_derivative: list[float]
    keep_gate: list[float | None]
    sequences: int
    warmup: int

    @property
    def distance(self) -> int:
        return len(self.norms[0]) - 1

    def to_json(self) -> dict:
        return asdict(self)


def candidate_block(cell: Cell) -> int:
    """Which H-row block of W_hh feeds the candidate state: all of it for the vanilla RNN,
    g (third of i, f, g, o) for the LSTM, n (third of r, z, n) for the GRU."""
    return 2 if isinstance(cell, LSTMCell | GRUCell) else 0


def step_factors(cell: Cell, gi: Tensor, gh: Tensor) -> tuple[Tensor, Tensor | None]:
    """For one step: the derivative of the candidate's nonlinearity at its pre-activation,
    and the keep gate (LSTM f_t, GRU z_t; None for the vanilla RNN), each (B, H)."""
    if isinstance(cell, RNNCell):
        z = gi + gh
        if cell.nonlinearity == "relu":
            return (z > 0).to(z.dtype), None
        return 1 - torch.tanh(z) ** 2, None
    if isinstance(cell, LSTMCell):
        _, f, g, _ = (gi + gh).chunk(4, dim=-1)
        return 1 - torch.tanh(g) ** 2, torch.sigmoid(f)
    if isinstance(cell, MinimalCell):
        v = gi.chunk(cell.gates, dim=-1)[-1]
        slope = torch.where(v >= 0, torch.ones_like(v), torch.sigmoid(v) * torch.sigmoid(-v))
        return slope, cell.coefficients(gi)[0]
    if isinstance(cell, GRUCell):
        ir, iz, in_ = gi.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        n = torch.tanh(in_ + torch.sigmoid(ir + hr) * hn)
        return 1 - n**2, torch.sigmoid(iz + hz)
    raise ValueError(f"no gradient factors known for {type(cell).__name__}")


def spectral_radius(matrix: Tensor) -> float:
    """max |λ| over the eigenvalues of a square matrix (NaN for a cell without W_hh)."""
    if matrix.numel() == 0:
        return math.nan
    return float(torch.linalg.eigvals(matrix.double()).abs().max())


def fitted_decay(norms: list[float]) -> float:
    """exp(slope) of the least-squares line through log norm_k against k, over k >= 1 where
    the norm is positive: the mean factor per step. NaN if fewer than two usable points."""
    k = np.arange(len(norms), dtype=np.float64)
    values = np.asarray(norms, dtype=np.float64)
    usable = (k >= 1) & (values > 0) & np.isfinite(values)
    if usable.sum() < 2:
        return math.nan
    slope = np.polyfit(k[usable], np.log(values[usable]), 1)[0]
    return float(np.exp(slope))


def text_windows(ids: Tensor, count: int, length: int, seed: int = 0) -> Tensor:
    """``count`` windows of ``length`` consecutive ids at seeded random offsets, (count, length)."""
    if ids.numel() < length:
        raise ValueError(
            f"the text is too short: {ids.numel()} symbols, and a window needs {length} "
            "(lower --distance or --warmup, or give a longer text)"
        )
    require_memory(count * length * 8, f"{count:,} windows of {length:,} symbols")
    generator = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, ids.numel() - length + 1, (count,), generator=generator)
    return torch.stack([ids[s : s + length] for s in starts.tolist()])


def gradient_flow(
    model: LanguageModel, windows: Tensor, warmup: int = 50, name: str | None = None
) -> GradientFlow:
    """Measure ||dL_T/dh_{T-k}|| for every layer and k = 0..K on ``windows`` (B, warmup+K+2) of
    ids: the first ``warmup`` symbols set the state (no gradient), the next K+1 are traced, and
    the last is the target of L_T. The model is copied to float64; it is not changed."""
    distance = windows.shape[1] - warmup - 2
    if distance < 1:
        raise ValueError(f"windows of {windows.shape[1]} symbols leave no distance to measure")
    stacked_layers(model)
    model = copy.deepcopy(model).double().eval()
    rnn = stacked_layers(model)
    cell = rnn.cell
    inputs, target = windows[:, :-1], windows[:, -1]
    if model.embedding is not None:
        x = model.embedding(inputs)
    else:
        x = F.one_hot(inputs, len(model.vocab)).double()
    x = x.transpose(0, 1).detach()  # (T, B, I)
    with torch.no_grad():
        state = None
        if warmup:
            prefix = x[:warmup]
            _, final = rnn(prefix.transpose(0, 1) if rnn.batch_first else prefix)
            state = layer_states(rnn, final)
    run = trace(rnn, x[warmup:], state)
    top = run.states[-1][-1][0]
    loss = F.cross_entropy(model.head(top), target, reduction="sum")  # each sequence its own
    hs = [step[0] for layer in run.states for step in layer]
    grads = torch.autograd.grad(loss, hs, allow_unused=True)
    steps = distance + 1
    norms, derivative, keep = [], [], []
    for layer in range(rnn.num_layers):
        per_step = grads[layer * steps : (layer + 1) * steps]
        row = [
            0.0 if g is None else float(g.norm(dim=-1).mean()) for g in reversed(per_step)
        ]  # row[k]: distance k from the last step
        norms.append(row)
        with torch.no_grad():
            factors = [step_factors(cell, gi, gh) for gi, gh in run.projections[layer]]
        derivative.append(float(torch.stack([d for d, _ in factors]).mean()))
        gates = [g for _, g in factors if g is not None]
        keep.append(float(torch.stack(gates).mean()) if gates else None)
    H, block = rnn.hidden_size, candidate_block(cell)
    radius = [
        spectral_radius(weight_hh.detach()[block * H : (block + 1) * H])
        for _, weight_hh, _, _ in rnn.weight_groups()
    ]
    return GradientFlow(
        name=name or rnn.cell_name,
        cell=rnn.cell_name,
        norms=norms,
        decay=[fitted_decay(row) for row in norms],
        spectral_radius=radius,
        mean_derivative=derivative,
        keep_gate=keep,
        sequences=windows.shape[0],
        warmup=warmup,
    )


def measure_gradients(
    settings: GradientSettings,
    cells: str | None = None,
    checkpoint: str | Path | None = None,
    text: str | Path | None = None,
) -> tuple[list[GradientFlow], str]:
    """The gradient flow of a trained ``checkpoint`` and of fresh networks (``cells``, a list
    of :class:`~rnnlab.insight.networks.NetworkSpec`; the defaults when neither is given) over
    windows of ``text`` (default: the checkpoint's training text, else the built-in corpus),
    and the name of the text read."""
    s = settings
    cells = cells or (None if checkpoint else DEFAULT_NETWORKS)
    specs = NetworkSpec.parse_list(cells, s.init) if cells else []
    window = s.warmup + s.distance + 2
    flows, read, source = [], None, None
    if checkpoint:
        directory = checkpoint_dir(checkpoint)
        model = LanguageModel.from_pretrained(directory)
        text = text or model.checkpoint_config.get("data", {}).get("source")
        read, source = read_source(text, model.vocab.level)
        what = f"{source} (pass the text the model was trained on with --text)"
        ids = model.vocab.encode(read, what=what)
        windows = text_windows(ids, s.sequences, window, s.seed)
        flows.append(gradient_flow(model, windows, s.warmup, name=directory.name))
    if specs:
        if not isinstance(read, str):  # the same text as the checkpoint, read as characters
            read, source = read_source(text)
        vocab = Vocabulary.build("char", read)
        windows = text_windows(vocab.encode(read), s.sequences, window, s.seed)
        for spec in specs:
            torch.manual_seed(s.seed)
            model = spec.language_model(vocab, s.hidden_size, s.num_layers, s.forget_bias)
            flows.append(gradient_flow(model, windows, s.warmup, name=spec.name))
    return flows, source


def format_table(flows: list[GradientFlow]) -> str:
    """A Markdown table: norms at the table distances, fitted decay per step and the factors."""
    distances = [k for k in TABLE_DISTANCES if k <= max(f.distance for f in flows)]
    head = ["network", *(f"k={k}" for k in distances), "decay/step", "ρ(W_hh)", "mean f'", "keep"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for flow in flows:
        for layer, row in enumerate(flow.norms):
            label = flow.name if len(flow.norms) == 1 else f"{flow.name} layer {layer}"
            keep = flow.keep_gate[layer]
            cells = [
                label,
                *(f"{row[k]:.3g}" if k < len(row) else "" for k in distances),
                f"{flow.decay[layer]:.4f}",
                "none" if math.isnan(radius := flow.spectral_radius[layer]) else f"{radius:.3f}",
                f"{flow.mean_derivative[layer]:.3f}",
                "" if keep is None else f"{keep:.3f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(flows: list[GradientFlow], out: str | Path, settings: dict) -> list[Path]:
    """``gradients.json`` (settings and every norm) and ``gradients.png`` (log norm against
    distance, one line per network and layer) in directory ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = {}
    for flow in flows:
        for layer, row in enumerate(flow.norms):
            label = flow.name if len(flow.norms) == 1 else f"{flow.name} layer {layer}"
            lines[f"{label} ({flow.decay[layer]:.3f}/step)"] = (range(len(row)), row)
    write_json(
        out / "gradients.json", {"settings": settings, "networks": [f.to_json() for f in flows]}
    )
    plot = line_plot(
        out / "gradients.png",
        lines,
        title="Gradient flow through time: ||dL_T / dh_(T-k)||, mean over sequences",
        xlabel="k: steps back from the last step",
        ylabel="gradient norm (log scale)",
    )
    return [out / "gradients.json", plot]
