"""Layer 1, local linear algebra: :class:`LocalMatrix`, MLI's per-partition block (dense or
CSR-sparse), and its stacking helpers. Imports nothing from mli but :mod:`mli.errors`."""
from mli.linalg.localmatrix import LocalMatrix, hstack, vstack

__all__ = ["LocalMatrix", "vstack", "hstack"]
