"""Interfaces to the ecosystems mli's users already work in, above the algorithms:
:mod:`mli.interop.sklearn` (scikit-learn estimators)."""
