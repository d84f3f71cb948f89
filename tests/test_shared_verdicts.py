"""tests/shared_verdicts.py: an answer is reused only for the very same question. A store that
answered a question about ELLA's schema document with the verdicts on ours would make the
equivalence tests pass whatever the documents say."""

import json

import pytest

import shared_verdicts


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv(shared_verdicts.SHARED_DIR_VARIABLE, str(tmp_path))
    return tmp_path


def _counting(answer):
    calls = []

    def compute():
        calls.append(1)
        return answer
    return compute, calls


def test_the_same_question_is_computed_once(store):
    compute, calls = _counting([True, False])
    docs = json.dumps([{}, {"a": 1}])
    assert shared_verdicts.verdicts("draft7", {"type": "object"}, docs, compute) == (True, False)
    assert shared_verdicts.verdicts("draft7", {"type": "object"}, docs, compute) == (True, False)
    assert calls == [1]
    assert len(list(store.glob("*.json"))) == 1


@pytest.mark.parametrize("other", [
    ("sql", {"type": "object"}, '[{}, {"a": 1}]'),          # another validator
    ("draft7", {"type": "array"}, '[{}, {"a": 1}]'),        # another schema document
    ("draft7", {"type": "object"}, '[{}, {"a": 2}]'),       # other documents
])
def test_another_question_is_computed_again(store, other):
    first, _ = _counting([True, True])
    shared_verdicts.verdicts("draft7", {"type": "object"}, '[{}, {"a": 1}]', first)
    second, calls = _counting([False, False])
    assert shared_verdicts.verdicts(*other, second) == (False, False)
    assert calls == [1]


def test_without_a_shared_directory_it_is_computed_each_time(monkeypatch):
    monkeypatch.delenv(shared_verdicts.SHARED_DIR_VARIABLE, raising=False)
    compute, calls = _counting([True])
    shared_verdicts.verdicts("draft7", {}, "[{}]", compute)
    shared_verdicts.verdicts("draft7", {}, "[{}]", compute)
    assert calls == [1, 1]
