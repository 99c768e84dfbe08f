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
# # 2. Unrolling in time, and backpropagation through time
#
# A recurrent layer is one cell applied at every step of the sequence, with the same weights.
# Drawn out step by step, the loop becomes a deep feed-forward network with T layers that
# share their weights: the network **unrolled** in time. Training it is ordinary
# backpropagation through that unrolled graph, **backpropagation through time** (BPTT): the
# gradient of a loss at step T flows back through h_(T-1), h_(T-2), ..., and the gradient of
# each shared weight is the sum of its contributions at every step.
#
# This lesson writes the loop by hand, checks it against `rnnlab.RNN` (which runs torch's fused
# kernel), and looks at the gradient reaching back through time.

# %%
import matplotlib.pyplot as plt
import torch

import rnnlab

torch.manual_seed(0)
T, I, H = 40, 3, 16
rnn = rnnlab.RNN(input_size=I, hidden_size=H, batch_first=True).double()  # one tanh layer
x = torch.randn(1, T, I, dtype=torch.float64)  # (batch, time, features)

# %% [markdown]
# The loop by hand: the same step, T times, carrying h.

# %%
W_x, W_h = rnn.weight_ih_l0, rnn.weight_hh_l0
b = rnn.bias_ih_l0 + rnn.bias_hh_l0

h = torch.zeros(1, H, dtype=torch.float64)
by_hand = []
for t in range(T):
    h = torch.tanh(x[:, t] @ W_x.T + h @ W_h.T + b)
    by_hand.append(h)
by_hand = torch.stack(by_hand, dim=1)  # (batch, time, hidden)

output, h_n = rnn(x)  # torch's fused kernel, through rnnlab.RNN
difference = (output - by_hand).abs().max().item()
print(f"output {tuple(output.shape)}; largest difference from the loop: {difference:.1e}")
assert difference < 1e-12

# %% [markdown]
# ## The gradient through time
#
# Take a loss at the last step only, L = sum(h_T), and ask how much each input x_t moved it:
# ||dL/dx_t||. Every path from x_t to L passes through the T - t later steps, and each step
# multiplies the gradient by the Jacobian dh_(t+1)/dh_t = diag(1 - h_(t+1)^2) W_h.

# %%
x.requires_grad_(True)
output, _ = rnn(x)
output[:, -1].sum().backward()
reach = x.grad.norm(dim=-1).squeeze(0)  # ||dL/dx_t|| for t = 1..T

# %% [markdown]
# char-rnn, and `rnnlab train`, cut the graph every `seq_len` steps: **truncated BPTT**. The
# state is carried forward into the next chunk, but detached, so no gradient flows back past
# the cut. Here the cut is 10 steps before the end.

# %%
cut = T - 10
x_cut = x.detach().clone().requires_grad_(True)
first, h_cut = rnn(x_cut[:, :cut])
last, _ = rnn(x_cut[:, cut:], h_cut.detach())  # the state goes on; its gradient does not
last[:, -1].sum().backward()
reach_cut = x_cut.grad.norm(dim=-1).squeeze(0)

steps = range(1, T + 1)
plt.figure(figsize=(6, 3))
plt.semilogy(steps, reach.detach(), marker="o", label="full BPTT")
plt.semilogy(steps[cut:], reach_cut[cut:].detach(), marker="x", label="truncated: 10 steps")
plt.xlabel("input step t")
plt.ylabel("||dL_T / dx_t||")
plt.legend()
plt.tight_layout()
plt.show()
print(f"full BPTT: {reach[-1]:.2e} at the last step, {reach[0]:.2e} at the first")

# %% [markdown]
# The gradient reaches every step in full BPTT, but shrinks fast on its way back: lesson 7
# measures that rate. Truncation costs little here, because almost nothing came from beyond 10
# steps anyway; it makes the cost of an update independent of the length of the text.
#
# ## Exercise
#
# The gradient of W_h is the sum of one contribution per step. Check that truncation gives the
# same gradient at the steps it keeps and exactly zero before the cut, and that the readable
# step-by-step loop (`fused=False`) gives the same gradient of the weights as the fused kernel.

# %%
assert torch.all(reach_cut[:cut] == 0)
assert torch.allclose(reach_cut[cut:], reach[cut:], rtol=1e-9, atol=0)

loop = rnnlab.RNN(I, H, batch_first=True, fused=False).double()
loop.load_state_dict(rnn.state_dict())
for layer in (rnn, loop):
    layer.zero_grad()
    layer(x.detach())[0][:, -1].sum().backward()
gap = (rnn.weight_hh_l0.grad - loop.weight_hh_l0.grad).abs().max().item()
print(f"dL/dW_h, fused kernel against the loop: largest difference {gap:.1e}")
assert gap < 1e-12
