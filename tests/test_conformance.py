"""Every algorithm passes each named check of mli.core.conformance (one test per case and
check), on the data of tests/conformance_cases.py."""
from conformance_cases import CASES, all_cases

from mli.core.conformance import parametrize_with_checks, registered_algorithms


def test_every_registered_algorithm_has_a_case():
    # mli's own (the test modules define toy algorithms of their own)
    names = {c.__name__ for c in registered_algorithms() if c.__module__.startswith("mli.")}
    assert "LogisticRegression" in names and "Pipeline" in names
    missing = sorted(names - set(CASES))
    assert not missing, f"algorithms without a conformance case in conformance_cases.py: {missing}"
    stale = sorted(set(CASES) - names)
    assert not stale, f"cases of algorithms that are not registered: {stale}"


@parametrize_with_checks(all_cases())
def test_conformance(case, check, ctx):
    check(case, ctx=ctx)
