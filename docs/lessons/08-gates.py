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
# # 8. Gates: why the LSTM and the GRU remember
#
# Lesson 7 showed the vanilla RNN's gradient shrinking by a fixed factor per step, because
# every step squeezes the state through tanh and multiplies it by W_h. The **LSTM**
# (Hochreiter & Schmidhuber 1997) adds a second state, the cell c_t, that is not squeezed:
#
#     f_t = σ(W_f [x_t, h_(t-1)] + b_f)      forget gate
#     i_t = σ(W_i [x_t, h_(t-1)] + b_i)      input gate
#     g_t = tanh(W_g [x_t, h_(t-1)] + b_g)   candidate
#     o_t = σ(W_o [x_t, h_(t-1)] + b_o)      output gate
#     c_t = f_t * c_(t-1) + i_t * g_t
#     h_t = o_t * tanh(c_t)
#
# Along the cell, one step back multiplies the gradient by f_t alone: no weight matrix, no tanh.
# Where the network learns to hold the forget gate near 1, the memory and its gradient pass
# through many steps unchanged. The **GRU** (Cho et al. 2014) does the same with one gate z_t:
# h_t = (1 - z_t) * h_(t-1) + z_t * h~_t. The docstrings of `rnnlab.LSTMCell` and
# `rnnlab.GRUCell` state these equations, and their code is these lines.
#
# ## The adding task
#
# A test of memory (Hochreiter & Schmidhuber 1997): a sequence of T steps, each with a random
# number in [0, 1) and a marker; two steps are marked, one in each half, and after the last
# step the network must output the sum of the two marked numbers. Answering the mean, 1.0,
# every time scores a mean squared error of 1/6 ≈ 0.167 (the baseline); the task counts as
# solved at a tenth of that. With T = 60 the first marked number lies 30 to 60 steps back.

# %%
import matplotlib.pyplot as plt

from rnnlab.insight import NetworkSpec, train_memory

T, UPDATES = 60, 4000  # a fixed number of updates: the same result on any machine
results = {}
for name in ("rnn", "lstm"):
    results[name] = train_memory(
        "adding", NetworkSpec.parse(name), T, hidden_size=64, steps=UPDATES
    )
    r = results[name]
    print(
        f"{name:5} {r.verdict:15} loss {r.loss:.4f} = {r.ratio:.2f} x baseline, "
        f"{r.steps} updates, {r.seconds:.0f} s"
    )

plt.figure(figsize=(6, 3))
for name, r in results.items():
    steps, _, losses = zip(*r.history, strict=True)
    plt.semilogy(steps, [loss / r.baseline for loss in losses], label=name)
plt.axhline(1.0, color="grey", linestyle="--", label="baseline (answer 1.0)")
plt.axhline(0.1, color="grey", linestyle=":", label="solved")
plt.xlabel("update")
plt.ylabel("held-out loss / baseline")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Both start at the baseline: at first neither knows which numbers matter. The LSTM then
# finds the markers and its loss drops far below the line, and training stops once it is
# solved; the tanh RNN, whose gradient from the first marker has vanished by the end of the
# sequence, stays near the baseline for the whole run. (At T = 25 the tanh RNN does solve it:
# `rnnlab memory --sweep` climbs the lengths to find where each cell gives up.)
#
# ## Exercise
#
# Train the GRU on the same task. The check: the LSTM and the GRU solve it, the tanh RNN does
# not.

# %%
results["gru"] = train_memory("adding", NetworkSpec.parse("gru"), T, hidden_size=64, steps=UPDATES)
print({name: r.verdict for name, r in results.items()})
assert results["lstm"].solved and results["gru"].solved
assert not results["rnn"].solved and results["rnn"].ratio > 0.5
