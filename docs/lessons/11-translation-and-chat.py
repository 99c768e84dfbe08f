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
# # 11. Translation and chat: encoder, decoder, attention
#
# When the output is a sequence of its own length (a French sentence for an English one, a reply
# to a conversation), one network reads and another writes: the **encoder-decoder**
# (Sutskever et al. 2014). The encoder reads the source into its states; the decoder starts
# from the encoder's final state and generates the target one token at a time, each output fed
# back in as the next input (lesson 6). Squeezing a whole sentence into one final state loses
# detail, so **attention** (Bahdanau et al. 2015; Luong et al. 2015) lets the decoder look back
# at every encoder state at every step: it scores each source position against its own state,
# turns the scores into weights by a softmax, and reads their weighted average.
#
# ## Translation
#
# 5,000 English-French pairs from Tatoeba (`../shared/data/eng-fra.txt`), whole groups of
# pairs with the same English sentence held out. `rnnlab translate train --attention bahdanau`
# for a short budget (Bahdanau's additive attention did better than Luong's on these pairs:
# BLEU 32.0 against 25.5 after 10 minutes, on the results page):

# %%
import os
import shutil

import matplotlib.pyplot as plt

from rnnlab import Seq2Seq
from rnnlab.data.text import SHARED_DATA
from rnnlab.tasks.chat import Chatbot, ChatSettings, ChatTrainer, Decoding, builtin, chat_split
from rnnlab.tasks.translate import PairSplit, Seq2SeqSettings, Seq2SeqTrainer
from rnnlab.tasks.translate.pairs import read_pairs, sentence_tokens

QUICK = os.environ.get("RNNLAB_QUICK") == "1"  # the test suite's small setting

settings = Seq2SeqSettings(attention="bahdanau", budget=12 if QUICK else 50)
pairs = read_pairs(SHARED_DATA / "eng-fra.txt", max_length=settings.max_length)
split = PairSplit.of(pairs, settings)
shutil.rmtree("runs/eng-fra", ignore_errors=True)
result = Seq2SeqTrainer(split, settings, out="runs/eng-fra", progress=False).fit()
print(f"held-out BLEU {result.report.bleu:.1f} (greedy) on {result.report.sentences} sentences")

# %% [markdown]
# BLEU counts the word sequences a translation shares with the reference translations (0 to
# 100); a minute of training on 5,000 pairs gives a rough translator. Translate, and look at
# where the decoder attended while writing each word:

# %%
model = Seq2Seq.from_pretrained("runs/eng-fra")
sentences = ["I am cold.", "Go away.", "She is my friend."]
for sentence, translation in zip(sentences, model.translate(sentences, beam=5), strict=True):
    print(f"{sentence:20} -> {translation.text}")

sentence = sentences[0]
translation = model.translate(sentence)[0]
weights = model.alignment(model.encode_source(sentence), translation).numpy()
target = [*translation.tokens, "</s>"] if translation.finished else translation.tokens
plt.figure(figsize=(5, 4))
plt.imshow(weights, cmap="Greys", vmin=0, vmax=1)
plt.xticks(range(weights.shape[1]), [t.strip() for t in sentence_tokens(sentence, "word")])
plt.yticks(range(len(target)), [t.strip() for t in target])
plt.xlabel("English (source)")
plt.ylabel("French, as written")
plt.title("attention: each row sums to 1")
plt.tight_layout()
plt.show()

# %% [markdown]
# Each row is one step of the decoder: how much of its attention went to each English token
# while it wrote that French token. For every French token, the English token it attended to
# most:

# %%
source_tokens = [t.strip() for t in sentence_tokens(sentence, "word")]
for written, row in zip(target, weights, strict=True):
    print(f"{written.strip() or repr(written):>6} <- {source_tokens[row.argmax()]}")

# %% [markdown]
# How sharp and how sensible the alignment is depends on the training. Either way the weights
# are the model's own: nothing in the data tells it which words correspond.
#
# ## Chat
#
# A chatbot is the same machine: the input is the conversation so far, the output the next
# turn. `rnnlab chat train --builtin smalltalk` trains on the English small-talk files of the
# `chatterbot-corpus` package; here for a short budget.

# %%
chat_settings = ChatSettings(budget=8 if QUICK else 20)
split, groups = chat_split(builtin("smalltalk"), chat_settings)
shutil.rmtree("runs/chat", ignore_errors=True)
chat = ChatTrainer(split, groups, chat_settings, out="runs/chat", progress=False).fit()
recall = chat.report.recall_mmi["1"]
print(f"the true reply ranks first among 10 candidates for {recall:.0%} of held-out turns")
bot = Chatbot.from_pretrained("runs/chat")
conversation = []
for line in ["Hello", "How are you?", "What is your name?", "Do you like music?"]:
    conversation.append(line)
    reply = bot.reply(conversation, Decoding(beam=5, diverse=0.5))
    conversation.append(reply.text)
    print(f"you: {line}\nbot: {reply.text}")

# %% [markdown]
# Be honest about what this is. Ranking replies is learned first: above, the true reply of a
# held-out turn comes first among ten candidates (nine replies from other conversations)
# more often than chance (10%). Writing replies takes longer: after these seconds the bot
# falls back on a few short, safe answers that fit nothing in particular, as the exchange
# shows. `diverse` reranks the candidates against such replies (maximum mutual information,
# Li et al. 2016); the chat guide has the figures of 300 s runs.
#
# ## Exercise
#
# Train the translator with `attention="none"` (the plain encoder-decoder of Sutskever et al.)
# for the same time and compare the BLEU. The check: the attention weights of every decoder
# step form a distribution over the source, the chatbot answered every turn, and (at the
# page's setting) it ranks true replies above chance.

# %%
assert abs(weights.sum(axis=1) - 1).max() < 1e-4 and (weights >= 0).all()
assert all(turn.strip() for turn in conversation)
assert QUICK or result.report.bleu > 5.0
assert QUICK or recall > 0.1
