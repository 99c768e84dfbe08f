"""The main job, ``rnnlab demo``: a character-level language model trained for about a minute.

With no text given it trains on the built-in default corpus, the running Python's own
standard-library sources (:func:`rnnlab.data.python_sources`), so it works on a fresh machine
with no data files. It prints a sample before training (noise), trains with the settings
recommended for the budget (:func:`rnnlab.tasks.language.settings.recommended_settings`),
then prints the validation loss against the unigram entropy of the text (what a model that
ignores context would get) and a sample after training.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.text import DEFAULT_SOURCE, read_source
from rnnlab.tasks.language.corpus import Corpus
from rnnlab.tasks.language.evaluation import unigram_entropy
from rnnlab.tasks.language.settings import recommended_settings
from rnnlab.tasks.language.training import Trainer

DEMO_BUDGET = 60.0  # seconds: about a minute
SAMPLE_LENGTH = 300
TEMPERATURE = 0.9  # lower tends to lock a one-minute model into runs of spaces
EVALS = 5


@dataclass
class DemoResult:
    before: str  # sample from the untrained model
    after: str  # sample from the trained model
    val_loss: float  # nats per character after training
    unigram: float  # unigram entropy of the validation text, nats per character
    steps: int


def run_demo(
    text: str | Path | None = None,
    budget: float = DEMO_BUDGET,
    out: str | Path | None = None,
    seed: int = 0,
    echo: Callable[[str], object] = print,
    progress: bool = True,
    prime: str | None = None,
) -> DemoResult:
    """Train a character model on ``text`` (a file; default corpus if None) and show samples."""
    corpus_text, source = read_source(text)
    settings = recommended_settings(budget, evals=EVALS, seed=seed)
    corpus = Corpus.from_text(corpus_text, settings)
    shown = "the Python standard library's own sources" if source == DEFAULT_SOURCE else text
    echo(
        f"corpus: {shown}, {len(corpus_text):,} characters, {len(corpus.vocab)} distinct; "
        f"the last {settings.val_fraction:.0%} is held out for validation"
    )
    trainer = Trainer(corpus, settings, out, echo=echo, progress=progress, source=source)
    model = trainer.model
    prime = prime or ("def " if "d" in corpus.vocab.symbols and text is None else None)
    before = model.generate(prime, SAMPLE_LENGTH, temperature=TEMPERATURE, seed=seed)
    echo(f"\n--- sample before training ---\n{prime or ''}{before}\n")
    echo(
        f"training a {settings.num_layers}-layer {settings.cell.upper()} of "
        f"{settings.hidden_size} units "
        f"for {budget:g} s ..."
    )
    result = trainer.fit()
    after = model.generate(prime, SAMPLE_LENGTH, temperature=TEMPERATURE, seed=seed)
    unigram = unigram_entropy(corpus.val, corpus.vocab)
    val = result.evals[-1][1]  # the run ends with a validation pass of the final model
    echo(f"\n--- sample after training ---\n{prime or ''}{after}\n")
    echo(
        result.summary(
            f": validation loss {val:.3f} nats/char ({val / math.log(2):.3f} bits/char); "
            f"unigram entropy {unigram:.3f} nats/char"
        )
    )
    echo(
        "\nnext: watch a model read and play the RNN game in your browser with "
        f"`rnnlab serve {out}`"
        if out
        else "\nnext: watch a model read and play the RNN game in "
        "your browser: `rnnlab serve` (a default model, trained once and cached)"
    )
    return DemoResult(before, after, val, unigram, result.steps)
