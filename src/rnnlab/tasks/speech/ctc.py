"""Reading text out of CTC posteriors, and scoring it.

CTC (Graves et al. 2006) gives, per frame t, log-probabilities over the alphabet plus a blank
(id 0). An alignment π is one symbol per frame; B(π) collapses repeats and then drops blanks
("--hh-e-ll-lo" -> "hello"), and p(y | x) = Σ_{π : B(π) = y} Π_t p_t(π_t).

- Greedy decoding takes the likeliest symbol of each frame and collapses: B(argmax_t).
- Prefix beam search (Hannun et al. 2014) keeps, per prefix y, the probability of the frames
  so far ending in a blank, p_b(y), and ending in y's last symbol, p_nb(y); a frame extends a
  prefix by a symbol c (a repeat of the last symbol extends only from p_b, otherwise from both),
  or keeps it (blank, or the last symbol again). With a language model (shallow fusion) an
  extension by c adds λ log p_LM(c | y). The ``beam`` best prefixes by p_b + p_nb are kept.

Error rates are edit distances (insertions, deletions, substitutions) over characters or
words, summed over the utterances and divided by the reference's length.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

BLANK = 0
NEG_INF = -math.inf


def collapse(ids: Sequence[int]) -> list[int]:
    """B(π): repeats merged, then blanks dropped."""
    out, previous = [], None
    for i in ids:
        if i != previous and i != BLANK:
            out.append(int(i))
        previous = i
    return out


def greedy(log_probs: np.ndarray) -> list[int]:
    """The collapsed best path of ``log_probs`` (T, C)."""
    return collapse(np.asarray(log_probs).argmax(axis=1).tolist())


def _add(a: float, b: float) -> float:
    """log(e^a + e^b)."""
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


#: next-symbol log-probabilities of a language model: ``lm(prefix)`` -> (C,) over the alphabet
#: ids (index 0, the blank, unused)
LanguageScores = Callable[[tuple[int, ...]], np.ndarray]


def prefix_beam_search(
    log_probs: np.ndarray,
    beam: int = 8,
    lm: LanguageScores | None = None,
    lm_weight: float = 0.0,
    prune: float = -12.0,
) -> list[int]:
    """The best prefix of ``log_probs`` (T, C) by CTC prefix beam search (module docstring);
    symbols with a frame log-probability below ``prune`` are not tried at that frame."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    fused = lm is not None and lm_weight != 0

    for frame in log_probs:
        blank = frame[BLANK]
        tried = [c for c in np.flatnonzero(frame > prune).tolist() if c != BLANK]
        following: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [NEG_INF, NEG_INF])
        for prefix, (p_b, p_nb) in beams.items():
            total = _add(p_b, p_nb)
            kept = following[prefix]
            kept[0] = _add(kept[0], total + blank)
            scores = lm(prefix) if fused else None
            for c in tried:
                p = frame[c]
                bonus = lm_weight * scores[c] if fused else 0.0
                extended = following[(*prefix, c)]
                if prefix and prefix[-1] == c:
                    extended[1] = _add(extended[1], p_b + p + bonus)
                    kept[1] = _add(kept[1], p_nb + p)  # the same symbol, still one
                else:
                    extended[1] = _add(extended[1], total + p + bonus)
        ranked = sorted(following.items(), key=lambda kv: _add(*kv[1]), reverse=True)
        beams = {prefix: (p_b, p_nb) for prefix, (p_b, p_nb) in ranked[:beam]}
    return list(max(beams.items(), key=lambda kv: _add(*kv[1]))[0])


def sequence_log_prob(log_probs: np.ndarray, label: Sequence[int]) -> float:
    """log p(label | x): the CTC forward algorithm over the blank-interleaved label."""
    extended = [BLANK]
    for c in label:
        extended += [c, BLANK]
    alpha = np.full(len(extended), NEG_INF)
    alpha[0] = log_probs[0, BLANK]
    if len(extended) > 1:
        alpha[1] = log_probs[0, extended[1]]
    for frame in log_probs[1:]:
        previous = alpha.copy()
        for s, c in enumerate(extended):
            total = previous[s]
            if s >= 1:
                total = _add(total, previous[s - 1])
            if s >= 2 and c != BLANK and c != extended[s - 2]:
                total = _add(total, previous[s - 2])
            alpha[s] = total + frame[c]
    return _add(alpha[-1], alpha[-2]) if len(extended) > 1 else float(alpha[-1])


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """The fewest insertions, deletions and substitutions that turn ``reference`` into
    ``hypothesis`` (Levenshtein, one row at a time)."""
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1]


@dataclass
class ErrorRate:
    """Edit operations and reference length, added over utterances."""

    errors: int = 0
    length: int = 0

    def add(self, reference: Sequence, hypothesis: Sequence) -> None:
        self.errors += edit_distance(reference, hypothesis)
        self.length += len(reference)

    @property
    def rate(self) -> float:
        return self.errors / self.length if self.length else 0.0


def error_rates(pairs: Sequence[tuple[str, str]]) -> tuple[float, float]:
    """(character error rate, word error rate) of (reference, hypothesis) pairs."""
    chars, words = ErrorRate(), ErrorRate()
    for reference, hypothesis in pairs:
        chars.add(reference, hypothesis)
        words.add(reference.split(), hypothesis.split())
    return chars.rate, words.rate
