"""The ML Optimizer (TuPAQ-style model search), above the algorithms: :func:`search` (state
the data, the label and a budget; get the best model, a leaderboard and the history), the
search spaces (:mod:`mli.search.space`), the successive-halving schedule
(:mod:`mli.search.halving`) that spends passes over the data on the configurations that earn
them, and the validation metrics (:mod:`mli.search.metrics`)."""
from mli.search.halving import Trial, hyperband_brackets, rungs, successive_halving
from mli.search.metrics import METRICS
from mli.search.space import Choice, IntRange, LogUniform, Uniform, check_space, dimensions, \
    sample_configs
from mli.search.budget import budget_from_text, parse_budget
from mli.search.result import SearchResult
from mli.search.tuner import DEFAULT_SPACES, RungReporter, search

__all__ = ["search", "SearchResult", "DEFAULT_SPACES", "METRICS", "parse_budget",
           "budget_from_text", "RungReporter", "Trial",
           "rungs", "successive_halving", "hyperband_brackets", "Choice", "IntRange",
           "LogUniform", "Uniform",
           "check_space", "dimensions", "sample_configs"]
