"""api.md 2.5 POST genepanels/ ("extra keys allowed", api.md 4.21) and 2.11
similar_alleles shape, on the real ELLA database."""

from api_helpers import logged_in_client
from test_api_genepanels_analyses import NEW_PANEL
from test_workflow_rounds import sql

API = "/api/v1"


def test_create_genepanel_allows_extra_keys(demo_api_app, demo_db_url):
    """api.md 4.21: "extra keys allowed" (upstream's request model for this route)."""
    sql(demo_db_url, "INSERT INTO usergroupimport SELECT 1, id FROM usergroup "
        "WHERE name IN ('testgroup01', 'testgroup02')")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = {**NEW_PANEL, "name": "ExtraKeys", "comment": "from the UI"}
    result = client.post(f"{API}/genepanels/", body)
    assert result.status == 200, result.body
    assert result.json is None


def test_similar_alleles_shape_and_missing_arg(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    ids = [r[0] for r in sql(demo_db_url, "SELECT id FROM allele ORDER BY id LIMIT 3")]
    url = f"{API}/workflows/similar_alleles/HBOC/v01/"
    result = client.get(url, query="allele_ids=" + ",".join(map(str, ids)))
    assert result.status == 200, result.body
    assert set(result.json) == {str(i) for i in ids}
    for similar in result.json.values():
        assert isinstance(similar, list)
        for a in similar:
            assert "id" in a and "allele_assessment" in a
    missing = client.get(url)
    assert 400 <= missing.status < 500
