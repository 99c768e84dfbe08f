"""Beam search for one sequence, and the rules around it: the length-normalised score and the
n-gram guard. numpy and the standard library only, so that rnnlab's translator and chatbot and
the portable runtime (:mod:`rnnlab.portable`, which must run without PyTorch) share one copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hypothesis:
    """A decoded sequence: its ids (the end id included when it ended), the total log-probability
    of those ids under the model, and whether it reached the end id."""

    ids: tuple[int, ...]
    log_prob: float
    finished: bool

    def score(self, alpha: float) -> float:
        return length_normalised(self.log_prob, len(self.ids), alpha)


def length_normalised(log_prob: float, length: int, alpha: float) -> float:
    """log p / length^alpha: alpha 0 is the plain log-probability, which favours short
    sequences; alpha 1 the mean log-probability per symbol."""
    return log_prob * max(1, length) ** -alpha  # underflows to 0 for a huge alpha, never overflows


def repeating(path: tuple[int, ...] | list[int], n: int) -> list[int]:
    """The ids that, appended to ``path``, would repeat an n-gram already in it (the guard
    against loops: a decoder may not write any n-gram twice); none for ``n`` < 1."""
    if n < 1 or len(path) < n - 1:
        return []
    tail = tuple(path[len(path) - n + 1 :]) if n > 1 else ()
    return sorted(
        {path[i + n - 1] for i in range(len(path) - n + 1) if tuple(path[i : i + n - 1]) == tail}
    )


LogProbStep = Callable[[np.ndarray, object], tuple[np.ndarray, object]]


def beam_search(
    step: LogProbStep,
    state,
    reorder: Callable[[object, np.ndarray], object],
    start: int,
    end: int,
    beam: int,
    max_length: int,
    alpha: float = 1.0,
    no_repeat: int = 0,
) -> list[Hypothesis]:
    """Beam search for one sequence; the hypotheses found, best first by ``score(alpha)``.

    ``step(ids (K,) int64, state) -> (log_probs (K, V), state)`` advances K = ``beam`` rows at
    once (the state of every row starts equal: the caller repeats it K times);
    ``reorder(state, rows)`` picks the rows (an int64 array) of the state that continue. At
    each step the 2K best one-symbol extensions of the live rows are ranked by log-probability
    (ties: the lower row and symbol first); an extension by ``end`` that ranks among the first K
    is finished, the best K others live on (so ``beam=1`` is exactly greedy decoding). The
    search stops when K hypotheses have finished, or after ``max_length`` symbols, when the
    live rows join the candidates unfinished. With ``no_repeat`` n > 0 no hypothesis repeats an
    n-gram (:func:`repeating`).
    """
    if beam < 1 or max_length < 1:
        raise ValueError("beam and max_length must be >= 1")
    ids = np.full(beam, start, dtype=np.int64)
    totals = np.full(beam, -np.inf)
    totals[0] = 0.0  # all rows start alike; only one may extend, or the beam fills with copies
    paths: list[tuple[int, ...]] = [()] * beam
    finished: list[Hypothesis] = []
    for _ in range(max_length):
        log_probs, state = step(ids, state)
        log_probs = np.array(log_probs, dtype=np.float64)  # a copy: the guard writes into it
        vocab = log_probs.shape[-1]
        for row, path in enumerate(paths if no_repeat > 0 else ()):
            log_probs[row, [i for i in repeating(path, no_repeat) if i != end]] = -np.inf
        candidates = (totals[:, None] + log_probs).ravel()
        ranked = np.argsort(-candidates, kind="stable")[: min(2 * beam, candidates.size)]
        rows, new_paths, new_totals, next_ids = [], [], [], []
        for rank, index in enumerate(ranked.tolist()):
            value = float(candidates[index])
            if value == -np.inf:
                break
            row, symbol = divmod(index, vocab)
            if symbol == end:
                if rank < beam:
                    finished.append(Hypothesis((*paths[row], end), value, True))
                continue
            rows.append(row)
            new_paths.append((*paths[row], symbol))
            new_totals.append(value)
            next_ids.append(symbol)
            if len(rows) == beam:
                break
        if len(finished) >= beam or not rows:
            break
        while len(rows) < beam:  # too few live extensions: pad with dead rows
            rows.append(rows[0])
            new_paths.append(new_paths[0])
            new_totals.append(-np.inf)
            next_ids.append(next_ids[0])
        state = reorder(state, np.array(rows, dtype=np.int64))
        paths, ids = new_paths, np.array(next_ids, dtype=np.int64)
        totals = np.array(new_totals, dtype=np.float64)
    else:
        finished.extend(
            Hypothesis(path, total, False)
            for path, total in zip(paths, totals.tolist(), strict=True)
            if total > -np.inf
        )
    return sorted(finished, key=lambda h: h.score(alpha), reverse=True)
