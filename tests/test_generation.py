"""Sampling: temperature, top-k, top-p, greedy, and the generation loop."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.generation import (
    Sampling,
    filtered_logits,
    generate_ids,
    length_normalised,
    sample_next,
)

LOGITS = torch.log(torch.tensor([[0.5, 0.25, 0.15, 0.1]]))


def test_temperature_divides_the_logits():
    out = filtered_logits(LOGITS, Sampling(temperature=2.0))
    shift = out - LOGITS / 2  # the logits are shifted to a maximum of 0: the same distribution
    assert torch.allclose(shift, shift[0, 0].expand_as(shift)) and out.max() == 0
    assert torch.allclose(out.softmax(-1), (LOGITS / 2).softmax(-1))


def test_top_k_keeps_the_k_likeliest():
    out = filtered_logits(LOGITS, Sampling(top_k=2))
    assert torch.isfinite(out).tolist() == [[True, True, False, False]]


def test_top_p_keeps_the_smallest_set_reaching_p():
    # 0.5 + 0.25 = 0.75 >= 0.7: two symbols; p = 0.8 needs the third.
    assert torch.isfinite(filtered_logits(LOGITS, Sampling(top_p=0.7))).sum() == 2
    assert torch.isfinite(filtered_logits(LOGITS, Sampling(top_p=0.8))).sum() == 3
    shuffled = LOGITS[:, [2, 0, 3, 1]]
    kept = torch.isfinite(filtered_logits(shuffled, Sampling(top_p=0.7)))
    assert kept.tolist() == [[False, True, False, True]]


def test_greedy_takes_the_argmax_and_sampling_follows_the_distribution():
    assert sample_next(LOGITS, Sampling(greedy=True)).item() == 0
    generator = torch.Generator().manual_seed(0)
    draws = sample_next(LOGITS.expand(20000, 4), Sampling(), generator)
    freq = torch.bincount(draws, minlength=4).double() / 20000
    assert torch.allclose(freq, LOGITS.exp()[0].double(), atol=0.015)


def test_sampling_never_picks_a_filtered_symbol_and_follows_the_renormalised_rest():
    logits = torch.tensor([[0.0, 3.0, -math.inf, 1.0, 2.0, -math.inf]])
    generator = torch.Generator().manual_seed(1)
    draws = sample_next(logits.expand(30000, 6), Sampling(top_k=3), generator)
    freq = torch.bincount(draws, minlength=6).double() / 30000
    assert freq[0] == 0 and freq[2] == 0 and freq[5] == 0  # outside top-3, or impossible
    kept = torch.tensor([3.0, 1.0, 2.0]).softmax(0).double()
    assert torch.allclose(freq[[1, 3, 4]], kept, atol=0.015)


@pytest.mark.parametrize(
    "kwargs", [{"temperature": 0}, {"temperature": -1}, {"top_k": 0}, {"top_p": 0}, {"top_p": 1.5}]
)
def test_bad_sampling_options_are_value_errors(kwargs):
    with pytest.raises(ValueError):
        Sampling(**kwargs)


def test_generation_loop_feeds_each_choice_back():
    seen = []

    def step(ids, state):  # a model that always predicts "previous id + 1"
        seen.append(ids.flatten().tolist())
        logits = torch.full((1, ids.shape[1], 10), -math.inf)
        logits[0, torch.arange(ids.shape[1]), (ids[0] + 1) % 10] = 0.0
        return logits, state

    out = list(generate_ids(step, torch.tensor([3, 4]), 4, Sampling(greedy=True)))
    assert out == [5, 6, 7, 8]
    assert seen == [[3, 4], [5], [6], [7]]


@pytest.mark.parametrize("sampling", [Sampling(temperature=1e-300), Sampling(top_p=1e-300)])
def test_a_vanishing_temperature_or_nucleus_is_greedy_not_nan(sampling):
    logits = torch.tensor([[0.3, 2.0, -1.0, 1.9], [5.0, -50.0, 4.0, 0.0]])
    filtered = filtered_logits(logits, sampling)
    assert not filtered.isnan().any()
    chosen = {tuple(sample_next(logits, sampling).tolist()) for _ in range(20)}
    assert chosen == {(1, 0)}


def test_a_huge_length_penalty_ranks_without_overflow():
    assert length_normalised(-2.0, 3, 1e23) == 0.0  # log p / 3^alpha underflows to 0
    assert length_normalised(-2.0, 4, 1.0) == -0.5
