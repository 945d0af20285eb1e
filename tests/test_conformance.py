"""Every registered Algorithm passes the shared conformance check (mli.testing)."""
import pytest

from mli.testing import check_registered, registered_algorithms

ALGORITHMS = registered_algorithms()


def test_registry_finds_builtin_algorithms():
    names = {c.__name__ for c in ALGORITHMS}
    assert "LogisticRegression" in names


@pytest.mark.parametrize("cls", ALGORITHMS, ids=lambda c: c.__name__)
def test_conformance(cls, ctx):
    check_registered(cls, ctx=ctx)
