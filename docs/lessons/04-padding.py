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
# # 4. Padding: batches of sequences of different lengths
#
# Networks train on batches: many sequences side by side in one tensor, so that every step is
# one matrix product for all of them. A tensor is rectangular, but sentences are not all the
# same length, so the short ones are **padded** to the longest with a filler symbol. The
# filler must not change any answer. Two things go wrong if the network just reads it:
#
# - the final state of a short sequence becomes the state after reading the pads, and
# - a network reading backwards (bidirectional) starts in the pads instead of at the real end.
#
# rnnlab's layers take the real `lengths` (or a mask) and handle both: each sequence's final
# state is the one at its own last real step, the backward direction starts there, and the
# outputs at padded steps are zero.

# %%
import matplotlib.pyplot as plt
import torch

import rnnlab
from rnnlab.data import Vocabulary
from rnnlab.data.batches import pad

sentences = ["The movie was not good", "Great fun", "I would not watch it again"]
vocab = Vocabulary.build("char", "".join(sentences))
ids, lengths = pad([vocab.encode(s) for s in sentences])
print("padded ids:", tuple(ids.shape), "lengths:", lengths.tolist())

torch.manual_seed(0)
embed = torch.nn.Embedding(len(vocab), 8)
lstm = rnnlab.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
lstm.eval()

# %% [markdown]
# The batch, with lengths, against each sentence alone:

# %%
with torch.no_grad():
    batch_out, (batch_h, _) = lstm(embed(ids), lengths=lengths)
    alone = [lstm(embed(vocab.encode(s)).unsqueeze(0)) for s in sentences]

worst = 0.0
for row, (out, (h, _)) in enumerate(alone):
    n = len(sentences[row])
    worst = max(worst, (batch_out[row, :n] - out[0]).abs().max().item())
    worst = max(worst, (batch_h[:, row] - h[:, 0]).abs().max().item())
print(f"largest difference, batch against alone: {worst:.1e}")
assert worst < 1e-6
assert torch.all(batch_out[1, lengths[1] :] == 0)  # nothing at the padded steps

plt.figure(figsize=(7, 2.4))
plt.imshow(batch_out.norm(dim=-1), cmap="viridis", aspect="auto")
plt.yticks(range(3), [f"{len(s)} symbols" for s in sentences])
plt.xlabel("step")
plt.title("|output| per step: zero where a sentence has ended")
plt.colorbar()
plt.tight_layout()
plt.show()

# %% [markdown]
# Without the lengths the layer reads the pads as if they were data, and the short sentence's
# final state moves away from its true value:

# %%
with torch.no_grad():
    _, (naive_h, _) = lstm(embed(ids))
error = (naive_h[:, 1] - alone[1][1][0][:, 0]).abs().max().item()
print(f"'Great fun' read with its pads: its final state is off by up to {error:.2f}")

# %% [markdown]
# ## Exercise
#
# A classifier often averages the outputs over time (mean pooling). Average only over the real
# steps, with a mask built from the lengths, and check that each sentence gets the average it
# gets alone.

# %%
mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]  # (batch, time), True if real
pooled = (batch_out * mask[..., None]).sum(dim=1) / lengths[:, None]
for row, (out, _) in enumerate(alone):
    assert torch.allclose(pooled[row], out[0].mean(dim=0), atol=1e-6)
print("mean over real steps: the same in the batch as alone")
