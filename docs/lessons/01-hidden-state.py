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
# # 1. The hidden state: what "memory" means
#
# A feed-forward network maps one input to one output and forgets it. A recurrent network reads
# a sequence x_1, x_2, ... one element at a time and keeps a vector, the **hidden state** h_t,
# that it updates at every step from the new input and its own previous value:
#
#     h_t = tanh(W_x x_t + W_h h_(t-1) + b)
#
# That is the whole vanilla (Elman) RNN cell. The same weights W_x, W_h and b are used at every
# step; h_t is the only thing carried from one step to the next, so everything the network
# "remembers" about x_1 ... x_t must be written into it. In this lesson we compute one step by
# hand in NumPy, check that it is exactly what `rnnlab.RNNCell` computes, and then watch a
# memory of the first input fade.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import rnnlab

torch.manual_seed(0)
cell = rnnlab.RNNCell(input_size=3, hidden_size=4)  # weight names as torch.nn.RNNCell
for name, weight in cell.named_parameters():
    print(f"{name:10s} {tuple(weight.shape)}")

# %% [markdown]
# torch (and rnnlab) keep two biases, `bias_ih` and `bias_hh`; their sum is the b above. One
# step by hand, in NumPy:

# %%
W_x = cell.weight_ih.detach().numpy()
W_h = cell.weight_hh.detach().numpy()
b = (cell.bias_ih + cell.bias_hh).detach().numpy()

x_1 = np.array([1.0, 0.0, -1.0], dtype=np.float32)
h_0 = np.zeros(4, dtype=np.float32)
h_1 = np.tanh(W_x @ x_1 + W_h @ h_0 + b)

h_1_rnnlab = cell(torch.from_numpy(x_1), torch.from_numpy(h_0)).detach().numpy()
print("by hand:", h_1)
print("rnnlab: ", h_1_rnnlab)
difference = np.abs(h_1 - h_1_rnnlab).max()
print(f"largest difference: {difference:.1e}")
assert difference < 1e-6

# %% [markdown]
# ## Memory, and how it fades
#
# Feed two sequences that differ **only in their first element** and compare their hidden
# states step by step. Any difference at step t is the network remembering x_1. With small
# random weights each step multiplies the difference by roughly the size of W_h times the slope
# of tanh, so it shrinks geometrically: this network has a short memory.

# %%
steps = 30
sequence = torch.randn(steps, 1, 3)
changed = sequence.clone()
changed[0] += 2.0  # only the first input differs

with torch.no_grad():
    states, _ = cell.sequence(sequence)  # time-major: (T, batch, hidden)
    states_changed, _ = cell.sequence(changed)
gap = (states - states_changed).norm(dim=-1).squeeze(1).numpy()

plt.figure(figsize=(6, 3))
plt.semilogy(range(1, steps + 1), gap, marker="o")
plt.xlabel("step t")
plt.ylabel("|h_t - h'_t|")
plt.title("How long the first input is remembered")
plt.tight_layout()
plt.show()
print("difference at steps 1, 5, 10, 20:", [f"{gap[t - 1]:.1e}" for t in (1, 5, 10, 20)])

# %% [markdown]
# The memory is there (the states differ long after the inputs became identical), but it decays
# about exponentially. Lesson 7 measures the rate of that decay for the gradient, and lesson 8
# shows how the LSTM's gates keep it.
#
# ## Exercise
#
# Make the recurrent weights larger (multiply `cell.weight_hh` by 3 under `torch.no_grad()`)
# and run the comparison again. Does the network remember longer? The check below does it
# for you: with W_h three times larger the difference after 20 steps is larger.

# %%
strong = rnnlab.RNNCell(3, 4)
strong.load_state_dict(cell.state_dict())
with torch.no_grad():
    strong.weight_hh.mul_(3.0)
    a, _ = strong.sequence(sequence)
    b_, _ = strong.sequence(changed)
gap_strong = (a - b_).norm(dim=-1).squeeze(1).numpy()
print(f"after 20 steps: {gap[19]:.1e} (W_h) against {gap_strong[19]:.1e} (3 W_h)")
assert gap_strong[19] > gap[19]
