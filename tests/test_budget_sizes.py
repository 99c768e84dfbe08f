"""The sizes ``--budget`` picks: the entry measured nearest the budget on a log scale, never a
smaller model or less regularisation for more time (for every contender of ``rnnlab compare``),
and, at every budget with a recorded sweep, the changes of a run within the noise of its best."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import pytest
import torch

from rnnlab.bench.compare import contender_settings
from rnnlab.data import Vocabulary
from rnnlab.tasks.language.settings import BUDGET_SIZES, sized_for_budget

SWEEPS = Path(__file__).resolve().parents[1] / "benchmarks" / "budgets" / "results.json"
BUDGETS = (10, 60, 134, 135, 300, 734, 736, 1800, 7200, 86400)
VOCAB = Vocabulary.build("char", "".join(chr(c) for c in range(32, 97)))  # 65, tiny Shakespeare's
REGULARISERS = ("dropout", "input_dropout", "embedding_dropout", "weight_drop", "ema")
#: nats/char: three 300 s runs of the sized LSTM, the same settings on the same machine in one
#: afternoon, ended 1.4009, 1.4052 and 1.4145 (benchmarks/RESULTS.md, issue 37)
NOISE = 0.014


def test_a_budget_takes_the_entry_measured_nearest_on_a_log_scale():
    for arch, entries in BUDGET_SIZES.items():
        measured = [budget for budget, _ in entries]
        assert measured == sorted(measured)
        for budget in BUDGETS:
            nearest = min(measured, key=lambda m: abs(math.log(budget / m)))
            expected = dict(entries[measured.index(nearest)][1])
            got = {k: v for k, v in sized_for_budget(budget, arch).items() if k != "precision"}
            assert got == expected, (arch, budget)


def _parameters(settings) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in settings.build_model(VOCAB).parameters())


@pytest.mark.parametrize("name", ["lstm", "gru", "mingru", "transformer"])
def test_more_time_never_gets_a_smaller_or_less_regularised_model(name):
    sized = [contender_settings(name, budget) for budget in BUDGETS]
    for shorter, longer in pairwise(sized):
        assert _parameters(longer) >= _parameters(shorter), (shorter.budget, longer.budget)
        for lever in REGULARISERS:
            assert getattr(longer, lever) >= getattr(shorter, lever), (lever, longer.budget)
        assert longer.locked_dropout >= shorter.locked_dropout
        assert longer.lr <= shorter.lr


def test_each_swept_budget_is_sized_as_a_run_within_the_noise_of_its_sweeps_best():
    """The table may keep its entry where a change won by less than two runs of the same
    settings differ (NOISE); otherwise it holds the changes of a run that near the best."""
    if not SWEEPS.is_file():
        pytest.skip(f"no sweeps recorded in {SWEEPS}")
    sweeps = json.loads(SWEEPS.read_text())
    assert sweeps, "the sweeps file is empty"
    for sweep in sweeps:
        best = min(run["best_val"] for run in sweep["runs"])
        sized = contender_settings(sweep["contender"], sweep["budget_s"])
        held = [
            run["name"]
            for run in sweep["runs"]
            if run["best_val"] <= best + NOISE
            and all(getattr(sized, k) == v for k, v in run["changes"].items())
        ]
        assert held, (sweep["budget_s"], sweep["started"])
