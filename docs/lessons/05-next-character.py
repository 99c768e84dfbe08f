# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # 5. Predicting the next character
#
# A language model is trained on nothing but the text itself: at every position, the input is
# the text so far (the **context**) and the target is the **next symbol**. A recurrent network
# reads the context one symbol at a time, so one pass over a chunk of T symbols gives T
# (context, next symbol) pairs at once: input x_1..x_T, targets x_2..x_(T+1). The loss is the
# cross-entropy of the true next symbol, in nats per character; a model that ignores the
# context can do no better than the entropy of the character frequencies (the **unigram
# entropy**), so that is the bar to get under.
#
# This is char-rnn's job, and `rnnlab train`'s. We train on the built-in corpus (Python's own
# standard-library sources, so nothing is downloaded).

# %%
import os
import shutil

import matplotlib.pyplot as plt

import rnnlab
from rnnlab.data import python_sources
from rnnlab.tasks.language import Corpus, Trainer, TrainSettings, unigram_entropy

QUICK = os.environ.get("RNNLAB_QUICK") == "1"  # the test suite's small setting

text = python_sources(1_000_000)
chunk = text[1000:1013]
print("inputs :", list(chunk[:-1]))
print("targets:", list(chunk[1:]))

# %% [markdown]
# Every target is the input one step later. `Corpus` turns the text into ids and holds out
# the last 10% for validation; the trainer lays the training part out as 32 parallel streams
# read in chunks of 64 steps, carrying the hidden state from one chunk to the next (truncated
# BPTT, lesson 2).

# %%
settings = TrainSettings(
    cell="lstm",
    hidden_size=256,
    num_layers=2,
    dropout=0.0,
    lr=0.008,
    budget=15 if QUICK else 60,
)
corpus = Corpus.from_text(text, settings)
baseline = unigram_entropy(corpus.val, corpus.vocab)
print(f"{len(corpus.vocab)} characters; unigram entropy of the validation text: {baseline:.3f}")

shutil.rmtree("runs/chars", ignore_errors=True)
result = Trainer(corpus, settings, out="runs/chars", progress=False).fit()
print(result.summary())

# %%
steps, validation = zip(*result.evals, strict=True)  # (step, validation loss) pairs
plt.figure(figsize=(6, 3))
plt.plot(result.history, alpha=0.5, label="training (each update)")
plt.plot(steps, validation, marker="o", label="validation")
plt.axhline(baseline, color="grey", linestyle="--", label="unigram entropy")
plt.xlabel("update")
plt.ylabel("nats per character")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Within seconds the loss falls far below the unigram entropy: the network is using the
# context. What it predicts after a context, as probabilities of the next character:

# %%
model = rnnlab.LanguageModel.from_pretrained("runs/chars")  # the best weights by validation
for context in ["import o", "def __init__(sel", "return Non"]:
    top = model.next_symbols(context, 3)
    print(f"{context!r:22} ->", ", ".join(f"{s!r} {p:.2f}" for s, p in top))

# %% [markdown]
# ## Exercise
#
# Train a model with `cell="rnn"` (the tanh RNN of lesson 1) for the same time and compare
# the validation losses. The check below confirms what the plot shows: the LSTM's best
# validation loss is well under the unigram entropy.

# %%
best = result.best_val
print(f"best validation loss {best:.3f} nats/char against {baseline:.3f} without context")
assert best < baseline - 1.0
