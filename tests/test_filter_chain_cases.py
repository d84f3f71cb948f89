"""filtering.md 1.3 chain cases 1-6 with mock filters: order, exceptions, what each filter receives."""
import types

import pytest

from ella.filters import FilterError
from ella.filters import chain as chain_mod


def _mock(name, kind, removes, only_if=None):
    def run(ctx, ids, config):
        ids = set(ids)
        if only_if is not None and only_if not in ids:
            return set()
        return ids & set(removes)
    return types.SimpleNamespace(NAME=name, KIND=kind, run=run,
                                 check_config=lambda config: None)


MOCKS = {
    "one_two": _mock("one_two", "allele", {1, 2}),
    "duplicate_one_two": _mock("duplicate_one_two", "allele", {1, 2}),
    "three_four": _mock("three_four", "allele", {3, 4}),
    "five_six": _mock("five_six", "allele", {5, 6}),
    "one": _mock("one", "allele", {1}),
    "none": _mock("none", "allele", set()),
    "one_three_if_one": _mock("one_three_if_one", "allele", {1, 3}, only_if=1),
    "analysis_one_two": _mock("analysis_one_two", "analysis", {1, 2}),
    "analysis_three_four": _mock("analysis_three_four", "analysis", {3, 4}),
}


@pytest.fixture
def mocks(monkeypatch):
    for name, module in MOCKS.items():
        monkeypatch.setitem(chain_mod.FILTERS, name, module)


def ctx(analysis=True):
    return types.SimpleNamespace(analysis_id=1 if analysis else None)


def f(name, *exceptions):
    return {"name": name, "config": {},
            "exceptions": [{"name": e, "config": {}} for e in exceptions]}


def test_chain_case1_sequence(mocks):
    got = chain_mod.run_filters(ctx(), range(1, 10), {"filters": [
        f("one_two"), f("duplicate_one_two"), f("three_four"), f("five_six"), f("none")]})
    assert got == {"allele_ids": [7, 8, 9], "excluded_allele_ids": {
        "one_two": [1, 2], "duplicate_one_two": [], "three_four": [3, 4], "five_six": [5, 6],
        "none": []}}


def test_chain_case2_exception(mocks):
    got = chain_mod.run_filters(ctx(), [1, 2, 3, 4], {"filters": [f("one_two", "one")]})
    assert got == {"allele_ids": [1, 3, 4], "excluded_allele_ids": {"one_two": [2]}}


def test_chain_case3_exceptions_act_on_own_filter_only(mocks):
    got = chain_mod.run_filters(ctx(), [1, 2, 3, 4], {"filters": [
        f("one_two", "three_four"), f("three_four", "one_two")]})
    assert got == {"allele_ids": [], "excluded_allele_ids": {"one_two": [1, 2],
                                                             "three_four": [3, 4]}}


def test_chain_case4_analysis_exceptions(mocks):
    got = chain_mod.run_filters(ctx(), [1, 2, 3, 4], {"filters": [
        f("analysis_one_two", "analysis_one_two"), f("analysis_three_four", "analysis_one_two")]})
    assert got == {"allele_ids": [1, 2], "excluded_allele_ids": {
        "analysis_one_two": [], "analysis_three_four": [3, 4]}}


def test_chain_case5_next_filter_gets_the_remainder(mocks):
    got = chain_mod.run_filters(ctx(), [1, 2, 3, 4], {"filters": [
        f("one_two"), f("one_three_if_one")]})
    assert got == {"allele_ids": [3, 4], "excluded_allele_ids": {"one_two": [1, 2],
                                                                 "one_three_if_one": []}}


def test_chain_case6_analysis_exception_without_analysis_is_an_error(mocks):
    with pytest.raises(FilterError):
        chain_mod.run_filters(ctx(analysis=False), [1, 2, 3, 4], {"filters": [
            f("one_two", "analysis_one_two")]})
