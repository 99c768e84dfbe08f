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
# # 7. Vanishing gradients: a product of Jacobians
#
# Backpropagation through time (lesson 2) carries the gradient from step t back to step t-1 by
# multiplying it with the transposed Jacobian of one step,
#
#     dh_t / dh_(t-1) = diag(f'(a_t)) W_h        (a_t: the pre-activation, f = tanh)
#
# so the gradient that reaches k steps back has been multiplied by k such matrices. If each
# shrinks vectors by a factor below 1, the product shrinks **geometrically**: about
# (ρ(W_h) x mean f')^k, where ρ is the spectral radius (the largest eigenvalue's size). That is
# the vanishing gradient: what happened 50 steps ago gets no say in learning. Above 1 the
# product explodes instead.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import rnnlab
from rnnlab.data import Vocabulary, python_sources
from rnnlab.insight import NetworkSpec, fitted_decay, gradient_flow, text_windows

torch.manual_seed(0)
H, T = 128, 120
cell = rnnlab.RNNCell(16, H).double()
x = torch.randn(T, 1, 16, dtype=torch.float64)
with torch.no_grad():
    states, _ = cell.sequence(x)  # h_1 .. h_T

# %% [markdown]
# The product of the Jacobians, applied to a gradient at the last step, one step back at a
# time, by hand:

# %%
W_h = cell.weight_hh.detach()
g = torch.randn(H, dtype=torch.float64)
g /= g.norm()
norms = [1.0]
for t in range(T - 1, 0, -1):
    derivative = 1 - states[t, 0] ** 2  # tanh'(a_t) = 1 - h_t^2
    g = W_h.T @ (derivative * g)  # (diag(f') W_h)^T g
    norms.append(g.norm().item())

radius = torch.linalg.eigvals(W_h).abs().max().item()
slope = (1 - states[1:] ** 2).mean().item()
decay = fitted_decay(norms)
print(f"measured decay per step: {decay:.3f}")
print(f"bound: spectral radius {radius:.3f} x mean tanh' {slope:.3f} = {radius * slope:.3f}")

plt.figure(figsize=(6, 3))
plt.semilogy(norms, label="||gradient|| k steps back")
plt.semilogy([decay**k for k in range(T)], "--", label=f"{decay:.3f}^k")
plt.xlabel("k (steps back)")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The same measurement on text, for three cells
#
# `rnnlab.insight.gradient_flow` (the library behind `rnnlab inspect gradients`) measures
# ||dL_T/dh_(T-k)|| for a language model reading real text: the loss at the last step, the
# gradient at every earlier hidden state. Here three fresh networks of 128 units read windows
# of the built-in corpus: the tanh RNN, the LSTM (forget-gate bias 1) and the IRNN (a ReLU RNN
# whose W_h starts as the identity, Le et al. 2015).

# %%
text = python_sources(300_000)
vocab = Vocabulary.build("char", text)
windows = text_windows(vocab.encode(text), count=32, length=20 + 100 + 2)
flows = {}
for name in ("rnn", "lstm", "rnn-relu:identity"):
    torch.manual_seed(0)
    model = NetworkSpec.parse(name).language_model(vocab, 128, 1, forget_bias=1.0)
    flows[name] = gradient_flow(model, windows, warmup=20, name=name)

plt.figure(figsize=(6, 3))
for name, flow in flows.items():
    plt.semilogy(flow.norms[0], label=f"{name}: {flow.decay[0]:.3f} per step")
plt.xlabel("k (steps back)")
plt.ylabel("||dL_T / dh_(T-k)||")
plt.legend()
plt.tight_layout()
plt.show()
for name, flow in flows.items():
    print(f"{name:18} decay {flow.decay[0]:.3f}, after 100 steps {flow.norms[0][100]:.1e}")

# %% [markdown]
# The tanh RNN's gradient is gone after a few dozen steps; the LSTM's shrinks much more slowly
# (lesson 8 shows why), and the IRNN's hardly at all at the start of training.
#
# ## Exercise
#
# Check the bound: for the tanh RNN on text, the measured decay per step is close to the
# spectral radius of W_h times the mean derivative of tanh (both are in `flow`), and the gated
# cell keeps the gradient longer.

# %%
rnn = flows["rnn"]
bound = rnn.spectral_radius[0] * rnn.mean_derivative[0]
print(f"tanh RNN: measured {rnn.decay[0]:.3f} per step, bound {bound:.3f}")
assert abs(rnn.decay[0] - bound) < 0.1 * bound
assert abs(decay - radius * slope) < 0.1 * radius * slope
assert flows["lstm"].decay[0] > rnn.decay[0] + 0.2
assert np.isfinite(flows["rnn-relu:identity"].norms[0][100])
