"""A search's budget: passes over the data or seconds, from Python or a command line."""
from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["parse_budget", "budget_from_text"]


def parse_budget(budget) -> tuple[str, float]:
    """``("passes", n)`` for an int, ``("seconds", s)`` for a float or a string such as
    ``"90s"``, ``"5m"``, ``"1.5h"``; ValueError otherwise."""
    if isinstance(budget, bool):
        raise ValueError(f"budget must be passes (an int), seconds (a float) or a duration "
                         f"such as '5m', got {budget!r}")
    if isinstance(budget, (int, np.integer)):
        if budget < 1:
            raise ValueError(f"a budget in passes must be >= 1, got {budget}")
        return "passes", float(budget)
    if isinstance(budget, (float, np.floating)):
        if not (math.isfinite(budget) and budget > 0):
            raise ValueError(f"a budget in seconds must be > 0, got {budget}")
        return "seconds", float(budget)
    if isinstance(budget, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(s|sec|m|min|h)?\s*", budget)
        if m and float(m.group(1)) > 0:
            unit = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[m.group(2) or "s"]
            return "seconds", float(m.group(1)) * unit
    raise ValueError(f"budget must be passes (an int), seconds (a float) or a duration such "
                     f"as '90s', '5m', '1h', got {budget!r}")


def budget_from_text(text: str) -> int | str:
    """A command line's ``--budget``: digits are passes (an int), anything else a duration
    for :func:`parse_budget` (checked: ValueError)."""
    budget = int(text) if str(text).strip().isdigit() else text
    parse_budget(budget)
    return budget
