"""Argument checks shared by every layer, so that a bad value reads the same wherever it is
caught: ``NAME must be one of a, b, c, got 'x'``."""

from __future__ import annotations

from collections.abc import Iterable


def check_choice(name: str, value, choices: Iterable[str]) -> None:
    """A ValueError naming ``name`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
