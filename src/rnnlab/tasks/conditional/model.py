"""The conditional generator (one-to-many): one vector in, a sequence out.

A character-level language model of p(s | v) for a condition vector v of size K: a label's
learned embedding (names by language of origin), or any float vector given directly (the
captioning shape, where v would be an image's features). The condition enters in one or both of
two ways (``condition``):

    init:   s_0 = tanh(W_0 v + b_0)                      (every layer, and the LSTM's c)
    input:  x_t = [E[y_{t-1}]; v]                        (else x_t = E[y_{t-1}])
    s_t = RNN(x_t, s_{t-1});   p(y_t | y_<t, v) = softmax(W_o dropout(s_t) + b_o)

with y_0 = ``<s>`` and a sequence ending at ``</s>``. Generating: choose y_t from p (with a
temperature), feed it back, stop at ``</s>`` or ``max_length`` characters; ``prime`` fixes the
first characters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnlab.checks import check_choice
from rnnlab.data.vocab import END, START, Vocabulary
from rnnlab.generation import Sampling, sample_next
from rnnlab.limits import check_text_length
from rnnlab.modes import evaluating
from rnnlab.pretrained import Pretrained
from rnnlab.recurrent import Recurrent

FORMAT = "rnnlab.conditional_generator"
CONDITIONS = ("both", "init", "input")


class ConditionalGenerator(Pretrained, nn.Module):
    """Generates ``vocab`` sequences given a label of ``labels`` or a vector of
    ``condition_size`` floats (see the module docstring).

    Args:
        vocab: the characters written (with ``<s>`` and ``</s>``: see
            :func:`rnnlab.tasks.translate.model.target_vocabulary`).
        labels: the label names; label i's vector is row i of ``label_embedding``.
        condition: ``both``, ``init`` or ``input``.
        condition_size, embedding_size, cell, hidden_size, num_layers, dropout, init,
        forget_bias: sizes and the recurrent layers (see :class:`rnnlab.Recurrent`).
        max_length: the most characters a generated sequence may have.
    """

    FORMAT = FORMAT
    KIND = "conditional generator"
    DATA = ("vocab", "labels")

    def __init__(
        self,
        vocab: Vocabulary,
        labels: Sequence[str],
        cell: str = "lstm",
        hidden_size: int = 256,
        num_layers: int = 1,
        condition: str = "both",
        condition_size: int = 32,
        embedding_size: int = 32,
        dropout: float = 0.1,
        init: str = "default",
        forget_bias: float | None = None,
        max_length: int = 40,
    ) -> None:
        super().__init__()
        check_choice("condition", condition, CONDITIONS)
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"a conditional generator needs distinct labels, got {list(labels)}")
        for marker in (START, END):
            if marker not in vocab.symbols:
                raise ValueError(f"the vocabulary has no {marker} token")
        self.vocab, self.labels = vocab, tuple(labels)
        self.start, self.end = vocab.symbols.index(START), vocab.symbols.index(END)
        self.never = [self.start] + ([vocab.symbols.index(vocab.unknown)] if vocab.unknown else [])
        self.condition, self.condition_size, self.max_length = condition, condition_size, max_length
        self.settings = self.constructor_arguments(locals())
        self.label_embedding = nn.Embedding(len(labels), condition_size)
        self.embedding = nn.Embedding(len(vocab), embedding_size)
        feeds = condition in ("both", "input")
        self.rnn = Recurrent(
            cell,
            embedding_size + (condition_size if feeds else 0),
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            init=init,
            forget_bias=forget_bias,
        )
        parts = len(self.rnn.cell.state_names)
        starts = condition in ("both", "init")
        self.initial = (
            nn.Linear(condition_size, parts * num_layers * hidden_size) if starts else None
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(vocab))

    # -- the function -------------------------------------------------------------------------

    def vectors(self, labels: Tensor) -> Tensor:
        """(B,) label indices -> (B, K) their condition vectors."""
        return self.label_embedding(labels)

    def initial_state(self, v: Tensor):
        """s_0 for condition vectors v (B, K): tanh(W_0 v + b_0), or None (zeros) without."""
        if self.initial is None:
            return None
        layers, hidden = self.rnn.num_layers, self.rnn.hidden_size
        parts = torch.tanh(self.initial(v)).view(v.shape[0], -1, layers, hidden)
        states = tuple(p.transpose(0, 1).contiguous() for p in parts.transpose(0, 1))
        return states if len(states) > 1 else states[0]

    def forward(self, previous: Tensor, v: Tensor, state=None) -> tuple[Tensor, object]:
        """previous (B, T) ids (``<s>`` first), v (B, K) -> logits (B, T, V) and the state.
        ``state`` None starts from s_0 of v."""
        x = self.drop(self.embedding(previous))
        if self.condition != "init":
            x = torch.cat([x, v[:, None].to(x.dtype).expand(-1, x.shape[1], -1)], -1)
        if state is None:
            state = self.initial_state(v)
        output, state = self.rnn(x, state)
        return self.head(self.drop(output)), state

    # -- generating ---------------------------------------------------------------------------

    def label_vector(self, label: str) -> Tensor:
        """(K,) the condition vector of ``label`` (a ValueError naming the known labels)."""
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}; the model knows {', '.join(self.labels)}")
        index = torch.tensor([self.labels.index(label)], device=self.head.weight.device)
        return self.vectors(index)[0].detach()

    @torch.no_grad()
    def generate(
        self,
        condition: str | Tensor,
        count: int = 1,
        prime: str = "",
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        max_length: int | None = None,
    ) -> list[str]:
        """``count`` sequences for a label name or a condition vector (K,), each starting with
        ``prime``, sampled at ``temperature``."""
        v = self.label_vector(condition) if isinstance(condition, str) else condition
        v = torch.as_tensor(v, dtype=self.head.weight.dtype, device=self.head.weight.device)
        if v.shape != (self.condition_size,):
            raise ValueError(
                f"the condition vector must have {self.condition_size} numbers, "
                f"got shape {tuple(v.shape)}"
            )
        if not torch.isfinite(v).all():
            raise ValueError("the condition vector holds NaN or infinity")
        check_text_length(len(prime), "the prime")  # it is read at once
        limit = max_length or self.max_length
        sampling = Sampling(temperature=temperature)
        with evaluating(self, no_grad=False):
            primed = self.vocab.encode_tokens(list(prime))
            if self.vocab.unknown_count(primed):
                unseen = sorted({c for c in prime if c not in self.vocab.symbols})
                raise ValueError(f"the prime has characters never seen in training: {unseen}")
            start = torch.tensor([self.start, *primed.tolist()], device=v.device)
            logits, state = self(start.expand(count, -1), v.expand(count, -1))
            rows = [[] for _ in range(count)]
            done = torch.zeros(count, dtype=torch.bool)
            for _ in range(max(0, limit - len(prime))):
                last = logits[:, -1].float().cpu()
                last[:, self.never] = -math.inf  # never the unknown or the start symbol
                chosen = sample_next(last, sampling, generator)
                for row in (~done).nonzero().flatten().tolist():
                    if int(chosen[row]) != self.end:
                        rows[row].append(int(chosen[row]))
                done |= chosen == self.end
                if bool(done.all()):
                    break
                logits, state = self(chosen.view(-1, 1).to(v.device), v.expand(count, -1), state)
        return [prime + self.vocab.decode(row) for row in rows]

    # -- checkpoints (save_pretrained, from_pretrained: see rnnlab.pretrained) ----------

    def config(self) -> dict:
        return {
            "format": FORMAT,
            "model": dict(self.settings),
            "labels": list(self.labels),
            "vocab": self.vocab.to_json(),
        }

    @classmethod
    def _from_config(cls, config: dict) -> ConditionalGenerator:
        return cls(Vocabulary.from_json(config["vocab"]), config["labels"], **config["model"])
