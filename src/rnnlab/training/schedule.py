"""Learning-rate schedule: linear warm-up, then cosine decay over the run.

    lr(step, p) = lr_max * min(1, (step + 1) / warmup) * (r + (1 - r) * (1 + cos(pi * p)) / 2)

where p in [0, 1] is the fraction of the run done (of the steps, or of the wall-clock budget,
whichever is further along) and r is the final fraction of lr_max. Fitting the decay to p is
what lets a run with ``--budget SECONDS`` end its schedule exactly when its time is up.
"""

from __future__ import annotations

import math


def learning_rate(
    step: int, progress: float, lr_max: float, warmup: int = 100, final_ratio: float = 0.1
) -> float:
    warm = min(1.0, (step + 1) / max(1, warmup))
    p = min(1.0, max(0.0, progress))
    return lr_max * warm * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * p)))
