"""Shared fixtures: one Spark session for the whole test run (local[2])."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("MLI_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def ctx():
    """The session's MLContext (embedded Spark, 2 cores)."""
    import mli
    from mli.engine.context import set_default_context

    c = mli.MLContext("local[2]", app_name="mli-tests")
    set_default_context(c)
    c.spark  # start now, so the first test does not pay for it inside its own timing
    yield c
    c.stop()


def shared_data(*parts: str) -> Path:
    """Path into ../shared/data; skip when absent, fail when absent under CI."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = (f"real data not found at {path} (the repository's sibling folder ../shared/data; "
               "set MLI_SHARED_DATA to point elsewhere)")
        if os.environ.get("CI"):
            pytest.fail(msg + " -- CI is set, so the data must be present")
        pytest.skip(msg)
    return path


@pytest.fixture
def shared():
    return shared_data


def pytest_configure(config):
    """Without Java, stop with one line saying how to install it (not a stack trace per test)."""
    from mli.engine.context import check_java
    from mli.errors import JavaNotFoundError

    try:
        check_java()
    except JavaNotFoundError as exc:
        pytest.exit(str(exc), returncode=3)
