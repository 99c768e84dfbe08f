"""Sentence pairs for sequence-to-sequence tasks: reading, tokens, and a split by source.

:func:`read_pairs` reads a tab-separated file with one pair per line (``eng-fra.txt``: English,
French, attribution); which columns are the source and the target is chosen by 0-based index.
Pairs with an empty side, or a side longer than ``max_length`` tokens, are skipped and counted;
a line with too few columns is an error naming it.

Tokens (:func:`sentence_tokens`): at the ``char`` level every character; at the ``word`` level
every word or punctuation mark *with the whitespace before it* (regex ``\\s*(?:\\w+|[^\\w\\s])``),
so ``"Je suis là !"`` is ``["Je", " suis", " là", " !"]`` and joining the tokens gives the sentence
back exactly; a translation is therefore a plain string, ready for BLEU. A line break is a token
of its own at both levels (a chatbot's context is turns joined by line breaks).

:func:`grouped_split` holds out whole groups of pairs that share a source sentence (Tatoeba gives
one English sentence several French translations), so no held-out source was seen in training,
and every held-out source is scored against all of its translations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.data.text import read_text

PAIR_LEVELS = ("word", "char")
_SPACED_WORD = re.compile(r"\n|[^\S\n]*(?:\w+|[^\w\s])")


def sentence_tokens(text: str, level: str) -> list[str]:
    """``text`` as a translator reads and writes it (see the module docstring); the tokens
    join back to ``text`` with its surrounding whitespace stripped."""
    text = text.strip()
    if level == "char":
        return list(text)
    if level == "word":
        return _SPACED_WORD.findall(text)
    raise ValueError(f"level must be one of {', '.join(PAIR_LEVELS)}, got {level!r}")


@dataclass
class Pairs:
    """Source and target sentences (stripped), in file order, and what was left out."""

    sources: list[str]
    targets: list[str]
    path: str = ""
    empty: int = 0  # pairs with an empty side, skipped
    too_long: int = 0  # pairs with a side over max_length tokens, skipped

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices: Sequence[int]) -> Pairs:
        return Pairs([self.sources[i] for i in indices], [self.targets[i] for i in indices])


def read_pairs(
    path: str | Path,
    level: str = "word",
    source_column: int = 0,
    target_column: int = 1,
    max_length: int | None = None,
    encoding: str = "utf-8",
) -> Pairs:
    """The sentence pairs of the tab-separated file ``path`` (see the module docstring)."""
    if source_column == target_column:
        raise ValueError("the source and target columns must differ")
    if min(source_column, target_column) < 0:
        raise ValueError("columns are 0-based indices, >= 0")
    path = Path(path)
    lines = read_text(path, "char", encoding).splitlines()
    needed = max(source_column, target_column) + 1
    pairs = Pairs([], [], str(path.resolve()))
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < needed:
            raise ValueError(
                f"{path}, line {number}: {len(fields)} tab-separated column(s), but the source "
                f"and target columns ({source_column}, {target_column}) need {needed}"
            )
        source, target = fields[source_column].strip(), fields[target_column].strip()
        if not source or not target:
            pairs.empty += 1
            continue
        if max_length is not None and any(
            len(sentence_tokens(side, level)) > max_length for side in (source, target)
        ):
            pairs.too_long += 1
            continue
        pairs.sources.append(source)
        pairs.targets.append(target)
    if not pairs.sources:
        raise ValueError(
            f"{path} has no usable pairs ({pairs.empty} with an empty side, "
            f"{pairs.too_long} over the maximum length)"
        )
    return pairs


def grouped_split(
    keys: Sequence[str | int], fraction: float, seed: int = 0
) -> tuple[list[int], list[int]]:
    """(train, held-out) indices: the distinct ``keys`` in a seeded order, whole groups held out
    until at least round(n * fraction) items are (never all of them when there are 2+ groups)."""
    groups: dict[str | int, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    names = sorted(groups)
    order = [names[j] for j in np.random.default_rng(seed).permutation(len(names))]
    wanted = round(len(keys) * fraction)
    held: list[int] = []
    for name in order[:-1]:  # the last group always trains
        if len(held) >= wanted:
            break
        held.extend(groups[name])
    held_set = set(held)
    return [i for i in range(len(keys)) if i not in held_set], sorted(held)
