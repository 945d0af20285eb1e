"""Layer 6, the Algorithm / Model layer: estimator conventions (:mod:`~mli.core.base`),
declared hyperparameter constraints (:mod:`~mli.core.params`), the pickle-free model format
(:mod:`~mli.core.persist`) and the conformance checks every algorithm passes
(:mod:`~mli.core.conformance`)."""
from mli.core.base import Algorithm, Model, load

__all__ = ["Algorithm", "Model", "load"]
