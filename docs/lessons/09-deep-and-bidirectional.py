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
# # 9. Deep and bidirectional networks
#
# Two ways to make a recurrent layer more capable:
#
# - **Deep** (stacked): the outputs h_1..h_T of one layer are the inputs of the next. Lower
#   layers can pick up characters and short patterns, higher ones longer structure, as in a
#   deep feed-forward network.
# - **Bidirectional**: a second layer reads the sequence backwards, and at every step the two
#   states are joined, so the output at step t knows the whole sequence, before **and after**
#   t. That is right whenever the whole input is there before the answer is needed (tagging the
#   words of a sentence, classifying it, the encoder of a translator), and impossible when
#   producing text one symbol at a time, where the future is not written yet.
#
# `rnnlab.LSTM` takes torch's arguments, `num_layers` and `bidirectional`:

# %%
import os

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import rnnlab

QUICK = os.environ.get("RNNLAB_QUICK") == "1"  # the test suite's small setting

lstm = rnnlab.LSTM(input_size=8, hidden_size=32, num_layers=2, bidirectional=True, batch_first=True)
output, (h_n, c_n) = lstm(torch.randn(5, 20, 8))
print("output:", tuple(output.shape), "= (batch, time, 2 directions x 32)")
print("h_n:   ", tuple(h_n.shape), "= (2 layers x 2 directions, batch, 32)")
print([name for name, _ in lstm.named_parameters()][:8])

# %% [markdown]
# ## A task that needs the future
#
# Read a sequence of random symbols from 8 and, at every step t, name the symbol at step t+3.
# A network reading forwards has not seen it yet, so it can only guess (1 in 8); a
# bidirectional network has read it on its way back. Both are trained the same way, with a
# plain PyTorch loop around rnnlab's layer.

# %%
K, T, SHIFT = 8, 20, 3


def batch(size, generator):
    x = torch.randint(0, K, (size, T), generator=generator)
    target = torch.full_like(x, -100)  # -100: no answer asked (the last steps have no future)
    target[:, :-SHIFT] = x[:, SHIFT:]
    return x, target


class Tagger(torch.nn.Module):
    def __init__(self, bidirectional):
        super().__init__()
        self.rnn = rnnlab.LSTM(K, 64, num_layers=2, batch_first=True, bidirectional=bidirectional)
        self.out = torch.nn.Linear(64 * (2 if bidirectional else 1), K)

    def forward(self, x):
        return self.out(self.rnn(F.one_hot(x, K).float())[0])


def train(bidirectional, updates):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = Tagger(bidirectional)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    accuracy = []
    for _ in range(updates):
        x, target = batch(64, generator)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, K), target.reshape(-1), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        asked = target != -100
        accuracy.append((logits.argmax(-1)[asked] == target[asked]).float().mean().item())
    return model, accuracy


updates = 150 if QUICK else 400
forward_model, forward_accuracy = train(False, updates)
both_model, both_accuracy = train(True, updates)

plt.figure(figsize=(6, 3))
plt.plot(forward_accuracy, label="forward only")
plt.plot(both_accuracy, label="bidirectional")
plt.axhline(1 / K, color="grey", linestyle="--", label="chance")
plt.xlabel("update")
plt.ylabel("accuracy on the batch")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise
#
# Score both networks on fresh sequences they never saw. The check: the bidirectional network
# names the future symbol almost always, the forward one at about chance.

# %%
x, target = batch(1000, torch.Generator().manual_seed(1))
asked = target != -100
with torch.no_grad():
    scores = {
        name: (model(x).argmax(-1)[asked] == target[asked]).float().mean().item()
        for name, model in [("forward", forward_model), ("bidirectional", both_model)]
    }
print({name: round(score, 3) for name, score in scores.items()})
assert scores["bidirectional"] > 0.9
assert abs(scores["forward"] - 1 / K) < 0.05
