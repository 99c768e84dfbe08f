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
# # 10. Sentiment: reading a whole sequence to give one answer
#
# Classification is **many-to-one**: the network reads the whole sentence, and only then
# answers. rnnlab's `SequenceClassifier` embeds the words, runs a bidirectional LSTM over them
# (lesson 9: the whole sentence is there before the answer is needed), pools the outputs of all
# steps into one vector (the maximum over time, per unit) and maps it to the classes.
#
# It learns from the sentence-polarity data of Pang & Lee (2005): 10,662 one-sentence movie
# reviews, half positive, half negative, from `../shared/data`. No pre-trained word vectors:
# everything it knows about words comes from these sentences.

# %%
import os
import shutil

import matplotlib.pyplot as plt

from rnnlab import SequenceClassifier
from rnnlab.data.labelled import read_labelled
from rnnlab.data.text import SHARED_DATA
from rnnlab.tasks.classify import ClassifierTrainer, Split, recommended_classifier_settings

QUICK = os.environ.get("RNNLAB_QUICK") == "1"  # the test suite's small setting

data = read_labelled([SHARED_DATA / "rt-polarity.pos", SHARED_DATA / "rt-polarity.neg"])
print(len(data), "sentences; classes:", data.classes)
print(data.texts[0])

# %% [markdown]
# `rnnlab classify train --level word` chooses these settings (a 128-wide embedding, dropout
# 0.5, words seen once become `<unk>`); 10% of each class is held out. A fixed number of epochs
# (and float32) makes the run the same on any machine.

# %%
settings = recommended_classifier_settings(
    level="word", epochs=2 if QUICK else 6, precision="float32"
)
split = Split.of(data, settings)
shutil.rmtree("runs/sentiment", ignore_errors=True)
result = ClassifierTrainer(split, settings, out="runs/sentiment", progress=False).fit()
report = result.report
print(f"held-out accuracy {report.accuracy:.3f} on {report.total} sentences")

# %% [markdown]
# ## The lessons' own examples
#
# A model trained on sentences can be asked about any sentence. Here are the examples teaching
# material uses for sentiment (negation; negation far from the word it negates) and a few more,
# with the answer a reader would give. The training sentences are in lower case, so the
# examples are asked in lower case too (a word the model never saw is `<unk>`).

# %%
model = SequenceClassifier.from_pretrained("runs/sentiment")
examples = {
    "The movie was good": "pos",
    "The film was good": "pos",
    "The movie was not good": "neg",
    "The movie which I watched last year in London was not good": "neg",
    "The movie was not bad at all": "pos",
    "A gripping, beautifully acted film": "pos",
    "A dull, lifeless mess": "neg",
    "I expected to hate it, but I loved every minute": "pos",
}
predictions = model.predict([text.lower() for text in examples])
right = 0
for (text, truth), (label, probability) in zip(examples.items(), predictions, strict=True):
    verdict = "right" if label == truth else "WRONG"
    right += label == truth
    print(f"{verdict:5}  {label} {probability:.2f}  {text}")
print(f"{right} of {len(examples)} right")

# %% [markdown]
# Read the table rather than trusting the headline accuracy; in the run shown on this page the
# model gets some plain sentences wrong. A model learns what separates the classes in *its*
# data, and that includes habits of the writers. Count a few words in the two classes:

# %%
for word in ("movie", "film", "good", "bad", "not"):
    counts = {
        label: sum(
            word in text.split()
            for text, y in zip(data.texts, data.labels, strict=True)
            if y == label
        )
        for label in data.classes
    }
    print(f"{word:6}", counts)

# %% [markdown]
# These critics wrote "movie" more often when they panned one and "film" more often when they
# praised it, so to this model the word "movie" is itself evidence of a negative review;
# compare the two sentences above that differ only in that word. And "good" is nearly neutral
# here: it is about as common in negative sentences ("not good", "good actors, but ...") as in
# positive ones, so "the movie was good" has little to go on but "movie". Negation is hard in
# another way: "not" is also common on both sides, and the model must learn from a few hundred
# sentences that it flips a word several steps later; "not bad" (a double negative) is rarer
# still. The probability is the model's confidence, not a guarantee: it can be confidently
# wrong.
#
# Which words moved the decision? Classify the sentence after each prefix:

# %%
sentence = "The movie which I watched last year in London was not good"
words = sentence.split()
prefixes = [" ".join(words[: n + 1]).lower() for n in range(len(words))]
positive = model.labels.index("pos")
curve = model.predict_proba(prefixes)[:, positive]
plt.figure(figsize=(7, 3))
plt.plot(curve, marker="o")
plt.xticks(range(len(words)), words, rotation=45)
plt.axhline(0.5, color="grey", linestyle="--")
plt.ylabel("p(positive)")
plt.title("the decision as the sentence is read")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise
#
# Write three sentences of your own, positive and negative, and add them to `examples`. The
# check: the classifier beats chance (50%) clearly on the held-out sentences, its
# probabilities sum to one, and (at the page's setting) "film" makes the same sentence more
# positive than "movie".

# %%
assert report.accuracy > (0.6 if QUICK else 0.7)
probabilities = model.predict_proba(list(examples))
assert abs(float(probabilities.sum(dim=1).mean()) - 1.0) < 1e-5
movie, film = model.predict_proba(["the movie was good", "the film was good"])[:, positive]
print(f"p(positive): {movie:.2f} with 'movie', {film:.2f} with 'film'")
assert QUICK or film > movie
