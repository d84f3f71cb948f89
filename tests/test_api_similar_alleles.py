"""`GET workflows/similar_alleles/<panel>/<version>/` (api.md 4.22) on the real ELLA demo
database: one query whatever the number of variants asked for, no custom annotation; and
the largest distance the config allows."""

import copy

import psycopg
from psycopg.types.json import Jsonb

from ella.workflow.collisions import similar_alleles

from api_helpers import logged_in_client
from filter_helpers import PANEL, World
from helpers import recorded_statements

PATH = "/api/v1/workflows/similar_alleles/HBOCUTV/v01/"


def test_statement_count_does_not_grow_with_the_variants(demo_api_app, demo_db_url):
    """The UI asks for every variant of an analysis at once (api.md 5.2): one query finds
    the neighbours of all of them."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    counts, results = [], []
    for ids in ("3", ",".join(str(i) for i in range(1, 25))):
        with recorded_statements() as calls:
            result = client.get(PATH, query={"allele_ids": ids})
        assert result.status == 200, result.body
        counts.append(len(calls))
        results.append(result.json)
    assert counts[1] == counts[0], counts
    assert len(results[1]) == 24
    assert [a["id"] for a in results[1]["3"]] == [a["id"] for a in results[0]["3"]]
    assert any(results[1].values())  # some variants have classified neighbours


def test_no_custom_annotation_in_similar_alleles(demo_api_app, demo_db_url):
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("INSERT INTO customannotation (annotations, allele_id, user_id, "
                     "date_created) VALUES (%s, 4, 1, now())",
                     (Jsonb({"prediction": {"domain": "yes"}}),))
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    similar = {a["id"]: a for a in client.get(PATH, query={"allele_ids": "3"}).json["3"]}
    annotation = similar[4]["annotation"]
    assert "custom_annotation_id" not in annotation
    assert "domain" not in annotation.get("prediction", {})


def test_the_largest_distance_the_config_allows(db_conn, ella_config):
    """config_schema.json allows max_genomic_distance up to 2^31 - 1; added to a position
    as an integer it overflowed ('integer out of range': a 500 for every variant page)."""
    world = World(db_conn, ella_config)
    query, near = world.allele(start=1000), world.allele(start=1010)
    world.assess(near, "3")
    config = copy.deepcopy(ella_config)
    config["similar_alleles"] = {"max_variants": 10, "max_genomic_distance": 2**31 - 1}
    result = similar_alleles(world.conn, config, PANEL, [query])
    assert [allele["id"] for allele in result[str(query)]] == [near]
