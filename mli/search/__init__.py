"""The ML Optimizer (TuPAQ-style model search), above the algorithms: search spaces
(:mod:`mli.search.space`) and the successive-halving schedule (:mod:`mli.search.halving`)
that spends passes over the data on the configurations that earn them."""
from mli.search.halving import Trial, rungs, successive_halving
from mli.search.space import Choice, IntRange, LogUniform, Uniform, check_space, sample_configs

__all__ = ["Trial", "rungs", "successive_halving", "Choice", "IntRange", "LogUniform",
           "Uniform", "check_space", "sample_configs"]
