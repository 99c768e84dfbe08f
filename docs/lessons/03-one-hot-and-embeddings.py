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
# # 3. One-hot vectors and embeddings
#
# A network reads numbers, so every symbol (a character, a word) must become a vector first.
# Two ways:
#
# - **One-hot**: symbol number i of a vocabulary of V becomes the vector of V zeros with a 1 at
#   place i. Nothing is learned, every symbol is equally far from every other, and the vector is
#   as long as the vocabulary (50,000 for words).
# - **An embedding**: a learned table E of V rows of a small width D; symbol i becomes row i. It
#   is the one-hot vector times E, computed as a lookup, and training moves rows of symbols that
#   are used alike close together.

# %%
import os
import shutil

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import rnnlab
from rnnlab.data import Vocabulary, python_sources
from rnnlab.tasks.language import Corpus, Trainer, TrainSettings

QUICK = os.environ.get("RNNLAB_QUICK") == "1"  # the test suite's small setting

sentence = "The movie was not good"
words = Vocabulary.build("word", "the movie was not good the film was good " + sentence)
ids = words.encode(sentence)
print("tokens:", words.tokens(sentence))
print("ids:   ", ids.tolist())

# %% [markdown]
# At the word level the vocabulary keeps the spaces as tokens too, so that joining the tokens
# gives the text back. The same sentence as one-hot rows, one row per token:

# %%
one_hot = F.one_hot(ids, len(words)).float()
print("one-hot:", tuple(one_hot.shape), "- one 1 per row:", one_hot.sum(dim=1).tolist())

torch.manual_seed(0)
embedding = torch.nn.Embedding(len(words), 4)
vectors = embedding(ids)
print("embedded:", tuple(vectors.shape))

fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
axes[0].imshow(one_hot, cmap="Greys")
axes[0].set_title(f"one-hot: {len(words)} wide")
axes[1].imshow(vectors.detach(), cmap="coolwarm")
axes[1].set_title("embedding: 4 wide")
for axis in axes:
    axis.set_ylabel("token")
plt.tight_layout()
plt.show()

# %% [markdown]
# An embedding lookup **is** the product of the one-hot rows with the table; the lookup just
# skips the multiplications by zero:

# %%
assert torch.equal(one_hot @ embedding.weight, vectors)
print("one_hot @ E == embedding(ids)")

# %% [markdown]
# ## What an embedding learns
#
# Train a small character-level language model (next lesson's job) on Python source for a few
# seconds, with a 16-wide embedding, and look at which characters ended up with similar rows
# (cosine similarity). Nobody told the network that the digits belong together.

# %%
shutil.rmtree("runs/embedding", ignore_errors=True)
settings = TrainSettings(
    hidden_size=128,
    num_layers=1,
    embedding_size=16,
    dropout=0.0,
    evals=2,
    budget=8 if QUICK else 20,
)
corpus = Corpus.from_text(python_sources(400_000), settings)
Trainer(corpus, settings, out="runs/embedding", progress=False).fit()
model = rnnlab.LanguageModel.from_pretrained("runs/embedding")

table = F.normalize(model.embedding.weight.detach(), dim=1)
names = model.vocab.names()
for symbol in "3(ae":
    row = table[model.vocab.encode(symbol)[0]]
    nearest = (table @ row).argsort(descending=True)[1:6]
    print(f"{symbol!r}: nearest", [names[i] for i in nearest])

# %% [markdown]
# With one-hot inputs the model would have to learn the same fact for each digit separately.
#
# ## Exercise
#
# Compare the mean cosine similarity among the ten digits with the mean over all pairs of
# characters. The check: the digits are more alike than characters in general.

# %%
digits = table[model.vocab.encode("0123456789")]
among_digits = (digits @ digits.T).mean().item()
overall = (table @ table.T).mean().item()
print(f"mean cosine: {among_digits:.2f} among digits, {overall:.2f} over all characters")
assert among_digits > overall + 0.2
