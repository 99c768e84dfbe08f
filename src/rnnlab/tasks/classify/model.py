"""The sequence classifier (many-to-one): read a whole sequence, give one answer.

A text's symbols s_t, or a numeric series' steps v_t (C channels, standardised per channel by
statistics of the training series: z_t = (v_t - mean) / std, see
:class:`~rnnlab.data.series.SeriesScaling`):

    x_t = dropout(E[s_t])  (learned embedding)   or   x_t = onehot(s_t)
    x_t = dropout(P z_t)   (learned projection)  or   x_t = z_t
    o_1..o_n, h_n = RNN(x_1..x_n)                (stacked, optionally bidirectional; n = length)
    v = pool(o_1..o_n)
    p(class | s) = softmax(W dropout(v) + b)

Pooling over the n real steps of each sequence (padding never enters):

- ``last``: the final state of the top layer, h_n (bidirectional: [forward h_n; reverse h_1]);
- ``mean``: (1/n) sum_t o_t;
- ``max``: the element-wise max over t of o_t;
- ``attention``: a_t = softmax_t(u^T tanh(W o_t + b)), v = sum_t a_t o_t (additive attention
  over the outputs, as in Yang et al. 2016's hierarchical attention networks).

A batch is padded to its longest sequence and the lengths go to the recurrent layer, so a
sequence gets the same prediction alone and in any padded batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.checks import check_choice
from rnnlab.data.batches import pad
from rnnlab.data.labelled import tokens
from rnnlab.data.series import SeriesScaling
from rnnlab.data.vocab import Vocabulary
from rnnlab.limits import check_text_length
from rnnlab.modes import evaluating
from rnnlab.pretrained import Pretrained
from rnnlab.recurrent import Recurrent

FORMAT = "rnnlab.sequence_classifier"
POOLS = ("last", "mean", "max", "attention")


class AttentionPool(nn.Module):
    """v = sum_t a_t o_t with a_t = softmax over real steps of u^T tanh(W o_t + b)."""

    def __init__(self, width: int, size: int | None = None) -> None:
        super().__init__()
        self.project = nn.Linear(width, size or width)
        self.score = nn.Linear(size or width, 1, bias=False)

    def weights(self, output: Tensor, mask: Tensor) -> Tensor:
        """(B, T) attention weights, zero at padded steps."""
        scores = self.score(torch.tanh(self.project(output))).squeeze(-1)
        scores = scores.to(torch.promote_types(scores.dtype, torch.float32))  # softmax in >= fp32
        return scores.masked_fill(~mask, float("-inf")).softmax(dim=1)

    def forward(self, output: Tensor, mask: Tensor) -> Tensor:
        weights = self.weights(output, mask).to(output.dtype)
        return torch.einsum("bt,btd->bd", weights, output)


class SequenceClassifier(Pretrained, nn.Module):
    """A recurrent classifier of texts or numeric series into ``labels`` (see the module
    docstring).

    Args:
        vocab: the symbols (characters or words) the model reads; None for series.
        labels: the class names; class i is ``labels[i]``.
        cell, hidden_size, num_layers, bidirectional, init, forget_bias: of the recurrent
            layers (see :class:`rnnlab.Recurrent`).
        pool: how the outputs become one vector: ``last``, ``mean``, ``max`` or ``attention``.
        embedding_size: size of the learned embedding (series: projection), or None for
            one-hot inputs (series: the standardised values).
        dropout: on the embedded inputs, between stacked layers, and before the output layer.
        series: for a classifier of numeric series, the channels' standardisation.
    """

    FORMAT = FORMAT
    KIND = "sequence classifier"
    DATA = ("vocab", "labels", "series")

    def __init__(
        self,
        vocab: Vocabulary | None,
        labels: Sequence[str],
        cell: str = "lstm",
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        pool: str = "max",
        embedding_size: int | None = 64,
        dropout: float = 0.3,
        init: str = "default",
        forget_bias: float | None = None,
        series: SeriesScaling | None = None,
    ) -> None:
        super().__init__()
        check_choice("pool", pool, POOLS)
        if (vocab is None) == (series is None):
            raise ValueError("a classifier reads either symbols (a vocabulary) or series")
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"a classifier needs 2 or more distinct labels, got {list(labels)}")
        if embedding_size is not None and embedding_size < 1:
            raise ValueError(f"embedding_size must be positive or None, got {embedding_size}")
        self.vocab, self.series = vocab, series
        self.labels = tuple(labels)
        self.settings = self.constructor_arguments(locals())
        self.pool = pool
        inputs = len(vocab) if series is None else len(series.channels)
        self.embedding = None
        if embedding_size and series is None:
            self.embedding = nn.Embedding(inputs, embedding_size)
        elif embedding_size:
            self.embedding = nn.Linear(inputs, embedding_size)
        self.rnn = Recurrent(
            cell,
            embedding_size or inputs,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            init=init,
            forget_bias=forget_bias,
        )
        width = hidden_size * self.rnn.num_directions
        self.attention = AttentionPool(width) if pool == "attention" else None
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, len(self.labels))

    # -- the function -------------------------------------------------------------------------

    def features(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """ids (B, T) padded (series: values (B, T, C)), lengths (B,) -> the pooled vector v
        (B, D*H)."""
        if self.embedding is not None:
            x = self.drop(self.embedding(ids))
        elif self.series is not None:
            x = ids.to(self.head.weight.dtype)
        else:
            x = F.one_hot(ids, len(self.vocab)).to(self.head.weight.dtype)
        lengths = lengths.cpu()
        padded = bool((lengths < ids.shape[1]).any())
        output, state = self.rnn(x, lengths=lengths if padded else None)
        if self.pool == "last":
            h = state[0] if isinstance(state, tuple) else state
            top = h[-self.rnn.num_directions :]  # (D, B, H), each at its sequence's end
            return top.transpose(0, 1).flatten(1)
        mask = torch.arange(ids.shape[1], device=ids.device) < lengths.to(ids.device)[:, None]
        if self.pool == "mean":
            # the outputs at padded steps are zero, so the sum runs over the real steps
            return output.sum(1) / lengths.to(output.device, output.dtype)[:, None]
        if self.pool == "max":
            return output.masked_fill(~mask[..., None], float("-inf")).amax(dim=1)
        return self.attention(output, mask)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """ids (B, T) padded (series: values (B, T, C)), lengths (B,) -> class logits."""
        return self.head(self.drop(self.features(ids, lengths)))

    # -- texts or series in, labels out -------------------------------------------------------

    def encode(self, text, what: str = "the text") -> Tensor:
        """(n,) ids of one text, or (n, C) standardised values of one series ((n, C) raw
        values); an empty one is a ValueError naming ``what``."""
        if self.series is not None:
            if isinstance(text, str):
                raise ValueError(f"this classifier reads numeric series, and {what} is a text")
            return self.series.apply(text, what)
        symbols = tokens(text, self.vocab.level)
        check_text_length(len(symbols), what)
        ids = self.vocab.encode_tokens(symbols)
        if ids.numel() == 0:
            raise ValueError(f"{what} is empty; there is nothing to classify")
        return ids

    @torch.no_grad()
    def predict_proba(self, texts: Sequence, batch_size: int = 256) -> Tensor:
        """(N, C) class probabilities of ``texts`` (or series), in batches of similar lengths."""
        what = "text" if self.series is None else "series"
        encoded = [self.encode(text, f"{what} {i + 1}") for i, text in enumerate(texts)]
        return self.proba_of_ids(encoded, batch_size)

    @torch.no_grad()
    def proba_of_ids(
        self, encoded: Sequence[Tensor], batch_size: int = 256, autocast=nullcontext
    ) -> Tensor:
        """(N, C) class probabilities of already encoded sequences; ``autocast()`` gives the
        context the network runs in (the trainer's precision)."""
        device = self.head.weight.device
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        probs = torch.empty(len(encoded), len(self.labels))
        with evaluating(self, no_grad=False):
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                ids, lengths = pad([encoded[i] for i in rows])
                with autocast():
                    logits = self(ids.to(device), lengths)
                probs[rows] = logits.float().softmax(-1).cpu()
        return probs

    def top_labels(self, texts: Sequence[str], k: int = 1) -> list[list[tuple[str, float]]]:
        """For each text, its ``k`` likeliest labels (at most all) with their probabilities."""
        values, indices = self.predict_proba(texts).topk(min(k, len(self.labels)), dim=1)
        return [
            [(self.labels[i], p) for p, i in zip(pv, iv, strict=True)]
            for pv, iv in zip(values.tolist(), indices.tolist(), strict=True)
        ]

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """For each text, its likeliest label and that label's probability."""
        values, indices = self.predict_proba(texts).max(dim=1)
        return [(self.labels[i], p) for p, i in zip(values.tolist(), indices.tolist(), strict=True)]

    # -- checkpoints (save_pretrained, from_pretrained: see rnnlab.pretrained) ----------

    def config(self) -> dict:
        config = {"format": FORMAT, "model": dict(self.settings), "labels": list(self.labels)}
        if self.series is None:
            return config | {"vocab": self.vocab.to_json()}
        return config | {"series": self.series.to_json()}

    @classmethod
    def _from_config(cls, config: dict) -> SequenceClassifier:
        if "series" in config:
            series = SeriesScaling.from_json(config["series"])
            return cls(None, config["labels"], series=series, **config["model"])
        return cls(Vocabulary.from_json(config["vocab"]), config["labels"], **config["model"])
