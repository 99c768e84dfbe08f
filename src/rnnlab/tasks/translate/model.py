"""The encoder-decoder (many-to-many of a different length): read a sentence, write another.

Encoder (x_1..x_S the source tokens; bidirectional: m_s = [forward h_s; reverse h_s]):

    m_1..m_S, h_S = RNN_enc(E_src[x_1..x_S])
    s_0 = tanh(W_b h_S + b_b)                          per layer (and for the LSTM's c as well)

Decoder, one step per target token y_t (y_0 = <s>; training feeds the true y_{t-1}, or with
scheduled sampling sometimes the model's own previous choice):

- ``none`` (the "thought vector" model, Sutskever et al. 2014): everything the decoder knows of
  the source is s_0.
      s_t = RNN_dec(E_tgt[y_{t-1}], s_{t-1});   o_t = s_t
- ``bahdanau`` (additive attention, Bahdanau et al. 2015): attend with the previous state, and
  read the context as input.
      e_ts = v^T tanh(W_q s_{t-1} + W_k m_s);   a_t = softmax_s(e_t);   c_t = sum_s a_ts m_s
      s_t = RNN_dec([E_tgt[y_{t-1}]; c_t], s_{t-1});   o_t = tanh(W_c [s_t; c_t])
- ``luong`` (multiplicative "general" attention, Luong et al. 2015, without input feeding):
  attend with the new state.
      s_t = RNN_dec(E_tgt[y_{t-1}], s_{t-1})
      e_ts = s_t^T W_a m_s;   a_t = softmax_s(e_t);   c_t = sum_s a_ts m_s
      o_t = tanh(W_c [s_t; c_t])

Then p(y_t | y_<t, x) = softmax(W_o dropout(o_t) + b_o). Padded source steps get no attention
(their scores are -inf) and do not reach h_S (the lengths go to the encoder), so a sentence is
translated the same alone and in a padded batch. With every input the true previous token,
``none`` and ``luong`` run the decoder over the whole target in one call of the recurrent layer;
``bahdanau`` and scheduled sampling step through time.

Decoding: greedy (batched) or beam search (:func:`rnnlab.generation.beam_search`, one sentence
at a time), up to the end token or ``max_length`` tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab.checks import check_choice
from rnnlab.data.batches import pad
from rnnlab.data.vocab import END, START, Vocabulary
from rnnlab.generation import Hypothesis, beam_search, length_normalised
from rnnlab.limits import MAX_BEAM
from rnnlab.modes import evaluating
from rnnlab.pretrained import Pretrained
from rnnlab.recurrent import Recurrent
from rnnlab.tasks.translate.pairs import sentence_tokens

FORMAT = "rnnlab.seq2seq"
ATTENTIONS = ("luong", "bahdanau", "none")


class AdditiveAttention(nn.Module):
    """Bahdanau: e_ts = v^T tanh(W_q q_t + W_k m_s)."""

    def __init__(self, query_size: int, memory_size: int, size: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_size, size, bias=False)
        self.key = nn.Linear(memory_size, size)
        self.v = nn.Linear(size, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """(B, S, A) W_k m_s, computed once per source."""
        return self.key(memory)

    def scores(self, keys: Tensor, query: Tensor) -> Tensor:
        """query (B, T, Q) -> scores (B, T, S)."""
        return self.v(torch.tanh(keys[:, None] + self.query(query)[:, :, None])).squeeze(-1)


class MultiplicativeAttention(nn.Module):
    """Luong "general": e_ts = q_t^T W_a m_s."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        self.weight = nn.Linear(memory_size, query_size, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """(B, S, Q) W_a m_s, computed once per source."""
        return self.weight(memory)

    def scores(self, keys: Tensor, query: Tensor) -> Tensor:
        """query (B, T, Q) -> scores (B, T, S)."""
        return query @ keys.transpose(1, 2)


@dataclass
class Memory:
    """What the decoder reads of a batch of sources."""

    outputs: Tensor  # (B, S, D*H) the encoder's outputs m_s
    mask: Tensor  # (B, S) True at real source steps
    keys: Tensor | None  # (B, S, .) the attention's precomputed keys
    state: Tensor | tuple[Tensor, ...]  # s_0, as the decoder's recurrent layer takes it

    def rows(self, index: Tensor) -> Memory:
        """The memory of the sources ``index`` (repeats allowed: beam search)."""
        pick = _rows(index)
        return Memory(
            pick(self.outputs), pick(self.mask), pick(self.keys), _state_rows(self.state, index)
        )


def _rows(index: Tensor):
    return lambda t: None if t is None else t.index_select(0, index.to(t.device))


def _state_rows(state, index: Tensor):
    """Rows ``index`` of a recurrent state (L, B, H) or a tuple of them."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index.to(s.device)) for s in state)
    return state.index_select(1, index.to(state.device))


@dataclass
class Translation:
    """One decoded sentence: the text, its tokens, the model's log-probability of them (with
    the end token when it was reached: ``finished``)."""

    text: str
    tokens: list[str]
    log_prob: float
    finished: bool

    def score(self, alpha: float) -> float:
        """The length-normalised score, as beam search ranks hypotheses."""
        return length_normalised(self.log_prob, len(self.tokens) + self.finished, alpha)


class Seq2Seq(Pretrained, nn.Module):
    """A recurrent encoder-decoder translating ``source_vocab`` text into ``target_vocab`` text
    (see the module docstring).

    Args:
        source_vocab, target_vocab: the tokens read and written (the target's holds ``<s>`` and
            ``</s>``; see :func:`target_vocabulary`).
        cell, hidden_size, num_layers, init, forget_bias: of both recurrent layers.
        bidirectional: whether the encoder reads both ways (the decoder reads forwards).
        attention: ``luong``, ``bahdanau`` or ``none``.
        embedding_size: of both embeddings; dropout: on embeddings, between stacked layers and
            before the output layer.
        max_length: the longest sentence (in tokens) accepted to translate, and the most tokens
            a translation may have.
    """

    FORMAT = FORMAT
    KIND = "translation model"
    DATA = ("source_vocab", "target_vocab")

    def __init__(
        self,
        source_vocab: Vocabulary,
        target_vocab: Vocabulary,
        cell: str = "lstm",
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        attention: str = "luong",
        embedding_size: int = 256,
        dropout: float = 0.2,
        init: str = "default",
        forget_bias: float | None = None,
        max_length: int = 50,
    ) -> None:
        super().__init__()
        check_choice("attention", attention, ATTENTIONS)
        for marker in (START, END):
            if marker not in target_vocab.symbols:
                raise ValueError(f"the target vocabulary has no {marker} token")
        self.source_vocab, self.target_vocab = source_vocab, target_vocab
        self.start = target_vocab.symbols.index(START)
        self.end = target_vocab.symbols.index(END)
        self.attention_type = attention
        self.max_length = max_length
        self.settings = self.constructor_arguments(locals())
        recurrent = {
            "num_layers": num_layers,
            "batch_first": True,
            "dropout": dropout if num_layers > 1 else 0.0,
            "init": init,
            "forget_bias": forget_bias,
        }
        self.source_embedding = nn.Embedding(len(source_vocab), embedding_size)
        self.target_embedding = nn.Embedding(len(target_vocab), embedding_size)
        self.encoder = Recurrent(
            cell, embedding_size, hidden_size, bidirectional=bidirectional, **recurrent
        )
        memory = hidden_size * self.encoder.num_directions
        self.bridge = nn.ModuleList(
            nn.Linear(memory, hidden_size) for _ in self.encoder.cell.state_names
        )
        context = memory if attention == "bahdanau" else 0
        self.decoder = Recurrent(cell, embedding_size + context, hidden_size, **recurrent)
        self.attention: AdditiveAttention | MultiplicativeAttention | None = None
        if attention == "bahdanau":
            self.attention = AdditiveAttention(hidden_size, memory, hidden_size)
        elif attention == "luong":
            self.attention = MultiplicativeAttention(hidden_size, memory)
        self.combine = nn.Linear(hidden_size + memory, hidden_size) if self.attention else None
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(target_vocab))

    # -- the function -------------------------------------------------------------------------

    def encode(self, source: Tensor, lengths: Tensor) -> Memory:
        """source (B, S) padded ids, lengths (B,) -> the :class:`Memory` the decoder reads."""
        lengths = lengths.cpu()
        padded = bool((lengths < source.shape[1]).any())
        x = self.drop(self.source_embedding(source))
        outputs, final = self.encoder(x, lengths=lengths if padded else None)
        parts = final if isinstance(final, tuple) else (final,)
        layers, directions = self.encoder.num_layers, self.encoder.num_directions
        state = []
        for bridge, part in zip(self.bridge, parts, strict=True):
            _, batch, hidden = part.shape  # (L*D, B, H) -> (L, B, D*H)
            joined = part.view(layers, directions, batch, hidden).permute(0, 2, 1, 3)
            state.append(torch.tanh(bridge(joined.reshape(layers, batch, directions * hidden))))
        mask = (
            torch.arange(source.shape[1], device=source.device) < lengths.to(source.device)[:, None]
        )
        keys = self.attention.keys(outputs) if self.attention is not None else None
        return Memory(outputs, mask, keys, tuple(state) if len(state) > 1 else state[0])

    def attend(self, memory: Memory, query: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, T, H) -> context (B, T, D*H) and weights (B, T, S) over the real steps."""
        scores = self.attention.scores(memory.keys, query).float()  # softmax in fp32
        weights = scores.masked_fill(~memory.mask[:, None, :], float("-inf")).softmax(-1)
        return weights.to(memory.outputs.dtype) @ memory.outputs, weights

    def _logits(self, s: Tensor, context: Tensor | None) -> Tensor:
        o = s if context is None else torch.tanh(self.combine(torch.cat([s, context], -1)))
        return self.head(self.drop(o))

    def step(self, previous: Tensor, state, memory: Memory) -> tuple[Tensor, object, Tensor | None]:
        """One decoder step: previous (B,) ids -> logits (B, V), the new state, and the
        attention weights (B, S) (None without attention)."""
        x = self.drop(self.target_embedding(previous))[:, None]  # (B, 1, E)
        context = weights = None
        if self.attention_type == "bahdanau":
            top = (state[0] if isinstance(state, tuple) else state)[-1]  # s_{t-1} (B, H)
            context, weights = self.attend(memory, top[:, None].to(x.dtype))
            x = torch.cat([x, context.to(x.dtype)], -1)
        s, state = self.decoder(x, state)
        if self.attention_type == "luong":
            context, weights = self.attend(memory, s)
        logits = self._logits(s, context)[:, 0]
        return logits, state, None if weights is None else weights[:, 0]

    def forward(
        self,
        source: Tensor,
        lengths: Tensor,
        previous: Tensor,
        own: Tensor | None = None,
    ) -> Tensor:
        """Teacher-forced logits (B, T, V) of the target tokens, given source (B, S) with
        lengths (B,) and previous (B, T), the target shifted right (<s> first).

        ``own`` (B, T) bool, for scheduled sampling: where True the decoder is fed its own
        previous choice (the argmax of its last logits) instead of ``previous``."""
        memory = self.encode(source, lengths)
        if own is None and self.attention_type != "bahdanau":
            s, _ = self.decoder(self.drop(self.target_embedding(previous)), memory.state)
            context = self.attend(memory, s)[0] if self.attention is not None else None
            return self._logits(s, context)
        state, logits, chosen = memory.state, [], None
        for t in range(previous.shape[1]):
            ids = previous[:, t]
            if own is not None and chosen is not None:
                ids = torch.where(own[:, t], chosen, ids)
            step_logits, state, _ = self.step(ids, state, memory)
            logits.append(step_logits)
            chosen = step_logits.argmax(-1)
        return torch.stack(logits, 1)

    @torch.no_grad()
    def target_log_probs(
        self, sources: Sequence[Tensor], targets: Sequence[Tensor], autocast=nullcontext
    ) -> Tensor:
        """(B,) float64: log p(target | source) of each encoded pair, teacher-forced, in eval
        mode (no dropout); a target is scored as given (end it with ``</s>`` to score a whole
        sentence)."""
        device = self.head.weight.device
        ids, lengths = pad(list(sources))
        gold, target_lengths = pad(list(targets))
        previous = torch.cat([torch.full((len(targets), 1), self.start), gold[:, :-1]], 1)
        with evaluating(self, no_grad=False), autocast():
            logits = self(ids.to(device), lengths, previous.to(device))
        log_probs = logits.double().log_softmax(-1).gather(-1, gold.to(device)[..., None])[..., 0]
        real = torch.arange(gold.shape[1], device=device) < target_lengths.to(device)[:, None]
        return log_probs.masked_fill(~real, 0.0).sum(1).cpu()

    # -- sentences in, sentences out ----------------------------------------------------------

    def encode_source(self, text: str, what: str = "the sentence") -> Tensor:
        """(n,) ids of one source sentence; empty or over-long ones are a ValueError."""
        tokens = sentence_tokens(text, self.source_vocab.level)
        if not tokens:
            raise ValueError(f"{what} is empty; there is nothing to translate")
        if len(tokens) > self.max_length:
            raise ValueError(
                f"{what} has {len(tokens)} {self.source_vocab.level} tokens; this model "
                f"translates at most {self.max_length} (its training --max-length)"
            )
        return self.source_vocab.encode_tokens(tokens)

    @torch.no_grad()
    def greedy(
        self, sources: Sequence[Tensor], max_length: int | None = None, autocast=nullcontext
    ) -> list[Translation]:
        """Greedy decoding of encoded sources (a list of (n,) ids), all at once."""
        limit = max_length or self.max_length + 1
        device = self.head.weight.device
        ids, lengths = pad(list(sources))
        batch = len(sources)
        with autocast():
            memory = self.encode(ids.to(device), lengths)
            previous = torch.full((batch,), self.start, dtype=torch.long, device=device)
            state, done = memory.state, torch.zeros(batch, dtype=torch.bool, device=device)
            chosen, log_probs = [], []
            for _ in range(limit):
                logits, state, _ = self.step(previous, state, memory)
                step_log_probs = logits.float().log_softmax(-1)
                previous = step_log_probs.argmax(-1)
                chosen.append(previous)
                log_probs.append(step_log_probs.gather(1, previous[:, None])[:, 0])
                done |= previous == self.end
                if bool(done.all()):
                    break
        chosen_ids, lp = torch.stack(chosen, 1).tolist(), torch.stack(log_probs, 1).cpu().double()
        results = []
        for row, row_ids in enumerate(chosen_ids):
            n = row_ids.index(self.end) + 1 if self.end in row_ids else len(row_ids)
            results.append(self._translation(row_ids[:n], float(lp[row, :n].sum())))
        return results

    def _translation(self, ids: Sequence[int], log_prob: float) -> Translation:
        tokens = [self.target_vocab.symbols[i] for i in ids if i != self.end]
        finished = bool(ids) and ids[-1] == self.end
        return Translation("".join(tokens).strip(), tokens, log_prob, finished)

    @torch.no_grad()
    def alignment(self, source: Tensor, translation: Translation) -> Tensor:
        """(target tokens [+ </s>], source tokens) attention weights of the decoder reading
        ``translation`` of the encoded ``source``; a ValueError without attention."""
        if self.attention is None:
            raise ValueError("this model has no attention (it was trained with --attention none)")
        ids = self.target_vocab.encode_tokens(translation.tokens).tolist()
        ids += [self.end] if translation.finished else []
        device = self.head.weight.device
        memory = self.encode(source.view(1, -1).to(device), torch.tensor([len(source)]))
        previous, state, rows = self.start, memory.state, []
        for token in ids:
            _, state, weights = self.step(torch.tensor([previous], device=device), state, memory)
            rows.append(weights[0].float().cpu())
            previous = token
        return torch.stack(rows) if rows else torch.zeros(0, len(source))

    @torch.no_grad()
    def beam(
        self,
        source: Tensor,
        beam: int,
        alpha: float = 1.0,
        max_length: int | None = None,
        autocast=nullcontext,
        no_repeat: int = 0,
    ) -> list[Hypothesis]:
        """Beam search for one encoded source (n,); hypotheses best first by their
        length-normalised score log p / len^alpha; none repeats an n-gram of ``no_repeat``
        tokens (0: no such guard)."""
        limit = max_length or self.max_length + 1
        device = self.head.weight.device
        with autocast():
            one = self.encode(source.view(1, -1).to(device), torch.tensor([len(source)]))
            memory = one.rows(torch.zeros(beam, dtype=torch.long))

            def step(ids: np.ndarray, state):
                logits, state, _ = self.step(torch.from_numpy(ids).to(device), state, memory)
                return logits.float().log_softmax(-1).cpu().numpy(), state

            def reorder(state, rows: np.ndarray):
                return _state_rows(state, torch.from_numpy(rows))

            return beam_search(
                step, memory.state, reorder, self.start, self.end, beam, limit, alpha, no_repeat
            )

    def widen(
        self,
        source: Tensor,
        greedy: Translation,
        beam: int,
        alpha: float = 1.0,
        max_length: int | None = None,
        autocast=nullcontext,
    ) -> Translation:
        """The beam search translation of the encoded ``source``, or its ``greedy`` one when
        that scores higher (length-normalised): widening the beam never loses to greedy."""
        hypotheses = self.beam(source, beam, alpha, max_length, autocast)
        if not hypotheses or hypotheses[0].score(alpha) < greedy.score(alpha):
            return greedy
        return self._translation(hypotheses[0].ids, hypotheses[0].log_prob)

    def translate(
        self,
        texts: str | Sequence[str],
        beam: int = 1,
        alpha: float = 1.0,
        max_length: int | None = None,
        autocast=nullcontext,
    ) -> list[Translation]:
        """Translate each text: greedy decoding for ``beam=1``, else beam search of that width,
        whose answer is never scored below the greedy one (the greedy hypothesis competes
        with the beam's)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not 1 <= beam <= MAX_BEAM:
            raise ValueError(f"the beam width must be in 1..{MAX_BEAM}, got {beam}")
        with evaluating(self, no_grad=False):
            sources = [self.encode_source(t, f"sentence {i + 1}") for i, t in enumerate(texts)]
            greedy = self.greedy(sources, max_length, autocast)
            if beam == 1:
                return greedy
            return [
                self.widen(source, first, beam, alpha, max_length, autocast)
                for source, first in zip(sources, greedy, strict=True)
            ]

    # -- checkpoints (save_pretrained, from_pretrained: see rnnlab.pretrained) ----------

    def config(self) -> dict:
        return {
            "format": self.FORMAT,
            "model": dict(self.settings),
            "source_vocab": self.source_vocab.to_json(),
            "target_vocab": self.target_vocab.to_json(),
        }

    @classmethod
    def _from_config(cls, config: dict) -> Seq2Seq:
        return cls(
            Vocabulary.from_json(config["source_vocab"]),
            Vocabulary.from_json(config["target_vocab"]),
            **config["model"],
        )
