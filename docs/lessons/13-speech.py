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
# # 13. Speech: audio in, text out, with CTC
#
# Speech recognition turns a recording into text. The recording becomes a sequence of frames,
# one every 10 ms: the log-energy in 64 frequency bands (a **log-mel spectrogram**, computed
# with `torch.stft`). A bidirectional LSTM reads the frames (lesson 9: the whole recording is
# there before the answer is needed) and gives, at every frame, a probability for each
# character and for a **blank**.
#
# The frames and the characters are not aligned: a word of 3 letters lasts 40 frames, and
# nobody marked where each letter starts. **CTC** (connectionist temporal classification,
# Graves et al. 2006) trains without an alignment: it sums the probability of every way of
# spreading the transcript over the frames (repeats merged, blanks removed) by dynamic
# programming, and maximises that sum. To read out, take the likeliest symbol at each frame,
# merge repeats and drop the blanks.
#
# No recordings need downloading: rnnlab speaks its training data with the eSpeak NG
# synthesiser (shipped in the `espeakng-loader` wheel), in 8 English accents x 101 voice
# variants, and holds some voices out for testing. Ten command words, as in a voice assistant:

# %%
import os
import shutil

import matplotlib.pyplot as plt

from rnnlab.tasks.speech import (
    SpeechRecognizer,
    SpeechSettings,
    SpeechSplit,
    SpeechTrainer,
    make_dataset,
    read_audio,
)

QUICK = os.environ.get("RNNLAB_QUICK") == "1"  # the test suite's small setting

words = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
shutil.rmtree("data/words", ignore_errors=True)
utterances = make_dataset("data/words", transcripts=words, utterances=800)
print(f"{len(utterances)} recordings, held out:", utterances.splits.count("test"))

# %%
settings = SpeechSettings(budget=12 if QUICK else 40)
split = SpeechSplit.of(utterances, settings)
shutil.rmtree("runs/words", ignore_errors=True)
result = SpeechTrainer(split, settings, out="runs/words", progress=False).fit()
print(
    f"held-out voices: character error rate {result.report.cer:.1%}, "
    f"word error rate {result.report.wer:.1%}"
)

# %% [markdown]
# A spoken word from a voice never heard in training, its spectrogram, and what the network
# heard frame by frame:

# %%
model = SpeechRecognizer.from_pretrained("runs/words")
test = utterances.splits.index("test")
samples = read_audio(utterances.paths[test], model.sample_rate)
heard = model.transcribe([samples])[0]
print(f"said: {utterances.transcripts[test]!r} by {utterances.voices[test]}; heard: {heard!r}")

features = model.featurise([samples])[0]
posteriors = model.posteriors([features])[0]  # (steps, blank + alphabet), log-probabilities
best = posteriors.argmax(axis=1)
symbols = ["_" if i == 0 else model.alphabet[i - 1] for i in best]
fig, axes = plt.subplots(2, 1, figsize=(7, 4), sharex=False)
axes[0].imshow(features.T.numpy(), origin="lower", aspect="auto", cmap="magma")
axes[0].set_ylabel("mel band")
axes[0].set_title("log-mel spectrogram (10 ms frames)")
axes[1].imshow(posteriors.T, origin="lower", aspect="auto", cmap="Greys", vmin=-5, vmax=0)
axes[1].set_yticks(range(len(model.alphabet) + 1), ["blank", *model.alphabet])
axes[1].set_xlabel("step (two frames each)")
axes[1].set_title("log p(symbol) per step: " + "".join(symbols))
plt.tight_layout()
plt.show()

# %% [markdown]
# Most steps are blank; each letter fires at one or two steps, where the network is sure of it.
# The voices are synthetic (a formant synthesiser), so these error rates say nothing about
# human speech; the speech guide trains on your own recordings.
#
# ## Exercise
#
# Make the data with `utterances=1600`, or train longer, and watch the word error rate fall.
# The check: reading out the posteriors by hand (likeliest symbol per step, repeats merged,
# blanks dropped) gives the model's own transcription.

# %%
merged = [s for i, s in enumerate(best) if i == 0 or s != best[i - 1]]
by_hand = "".join(model.alphabet[s - 1] for s in merged if s != 0)
print(f"by hand: {by_hand!r}")
assert by_hand == heard
assert QUICK or result.report.wer < 0.3
