"""Shallow fusion: a character language model from ``rnnlab train`` guiding CTC beam search.

For a prefix y the beam search asks for log p_LM(c | y) over the recogniser's alphabet. The
language model reads its start symbol (a line break, where it knows one) and then y; its state
after each prefix is kept, so extending a prefix by one character costs one step. A character
the language model spells in upper case only is scored as that; a character it never saw is an
error, named, before any decoding.
"""

from __future__ import annotations

import numpy as np
import torch

from rnnlab.tasks.language import LanguageModel
from rnnlab.tasks.speech.ctc import LanguageScores

MAX_CACHED = 50_000  # prefixes whose state is kept; then the cache starts again


def language_scores(lm: LanguageModel, alphabet: str) -> LanguageScores:
    """``scores(prefix) -> (len(alphabet) + 1,)`` log-probabilities of each next character under
    ``lm`` (index 0, the blank, is 0); prefixes are tuples of alphabet ids (1-based)."""
    if lm.vocab.level == "word":
        raise ValueError("shallow fusion needs a character or byte language model, not words")
    ids = []
    for c in alphabet:
        spellings = [lm.vocab.tokens(v) for v in dict.fromkeys((c, c.upper()))]
        known = [i for t in spellings if len(t) == 1 for i, unk in lm.vocab.lookup(t) if not unk]
        if not known:
            raise ValueError(f"the language model does not know the character {c!r}")
        ids.append(known[0])
    columns = torch.tensor(ids)
    step = lm.step_function(batch_size=1, precision="float32")
    start = torch.tensor([lm.vocab.lookup(lm.vocab.tokens(lm.default_prime()))[0][0]])
    cache: dict[tuple[int, ...], tuple[object, np.ndarray]] = {}

    def advance(symbol: torch.Tensor, state) -> tuple[object, np.ndarray]:
        logits, state = step(symbol.view(1, 1), state)
        scores = logits[0, -1].log_softmax(-1)[columns].numpy()
        return state, np.concatenate([[0.0], scores])

    def scores(prefix: tuple[int, ...]) -> np.ndarray:
        if prefix not in cache:
            if len(cache) > MAX_CACHED:
                cache.clear()
            if prefix:
                scores(prefix[:-1])  # the beam extends prefixes it scored: one step, no deeper
                cache[prefix] = advance(columns[prefix[-1] - 1], cache[prefix[:-1]][0])
            else:
                cache[prefix] = advance(start, None)
        return cache[prefix][1]

    return scores
