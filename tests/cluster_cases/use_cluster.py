"""Run by tests/test_harness_cluster.py only (not collected by itself)."""


def test_use_the_cluster(db_url):
    assert db_url
