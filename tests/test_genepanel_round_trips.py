"""Gene panels created through the API and exported for the annotation service (api.md 4.21,
import.md 4.6): reachable by any name and version behind a WSGI server, and a panel exported
then deposited again is the same panel."""

import psycopg
import pytest

from api_helpers import logged_in_client
from ella.deposit.genepanel import deposit_genepanel, read_panel_files
from ella.genepanel_export import phenotypes_tsv, transcripts_tsv

API = "/api/v1"
BRCA2 = {"hgnc_id": 1101, "inheritance": "AD", "transcripts": [{"id": 2}],
         "phenotypes": [{"id": 2}]}


def _sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _creator(app, url):
    """testuser7 (testgroup03, all four demo panels), allowed to create panels for its group."""
    _sql(url, "INSERT INTO usergroupimport VALUES (3, 3)")
    return logged_in_client(app, url, "testuser7")


def _create(client, name, version, genes):
    return client.post(f"{API}/genepanels/", {"name": name, "version": version, "genes": genes,
                                             "usergroups": ["testgroup03"]})


def _exported(url, tmp_path, name, version):
    transcripts, phenotypes = tmp_path / "t.tsv", tmp_path / "p.tsv"
    with psycopg.connect(url) as conn:
        transcripts.write_bytes(transcripts_tsv(conn, name, version))
        phenotypes.write_bytes(phenotypes_tsv(conn, name, version))
    return read_panel_files(transcripts, phenotypes)


def test_a_panel_with_a_non_ascii_version_is_reachable(demo_api_app, demo_db_url):
    """A WSGI server hands the path over as Latin-1 (PEP 3333): `v1.0 é` arrived as
    `v1.0 Ã©`, and the panel, its stats and its workflow view answered 404. (The test
    client hands paths over as a server does.)"""
    client = _creator(demo_api_app, demo_db_url)
    assert _create(client, "Kardio", "v1.0 é", [BRCA2]).status == 200
    single = client.get(f"{API}/genepanels/Kardio/v1.0 é/")
    assert single.status == 200, single.body
    assert [g["hgnc_id"] for g in single.json["genes"]] == [1101]
    assert client.get(f"{API}/genepanels/Kardio/v1.0 é/stats/").status == 200
    view = client.get(f"{API}/workflows/analyses/2/genepanels/Kardio/v1.0 é/",
                      query={"allele_ids": "3"})
    assert view.status == 200, view.body


def test_the_exported_mendeliome_deposits_again_onto_the_same_phenotypes(demo_db_url,
                                                                        tmp_path):
    """The real Mendeliome holds 65 phenotypes with the inheritance '' of older data. The
    export writes it as an empty cell, which the deposit reads as N/A: depositing the export
    created 65 new phenotype rows instead of linking the ones the panel has."""
    panel = _exported(demo_db_url, tmp_path, "Mendeliome", "v01")
    with psycopg.connect(demo_db_url) as conn:
        result = deposit_genepanel(conn, "Mendeliome", "v02", panel)
    assert result["phenotypes_new"] == 0, result

    def phenotypes(version):
        return _sql(demo_db_url, "SELECT p.id FROM genepanel_phenotype gp JOIN phenotype p ON "
                                 "p.id = gp.phenotype_id WHERE gp.genepanel_name = 'Mendeliome' "
                                 "AND gp.genepanel_version = %s ORDER BY 1", (version,))
    assert phenotypes("v02") == phenotypes("v01")


def test_a_created_panels_inheritance_is_read_as_a_panel_file_cell(demo_api_app, demo_db_url,
                                                                   tmp_path):
    """Stored as sent, ' AD ' was no AD gene to the filters, which compare exactly; and the
    panel deposited from its export differed from the created one."""
    client = _creator(demo_api_app, demo_db_url)
    assert _create(client, "Odd", "v1", [{**BRCA2, "inheritance": " AD "}]).status == 200
    assert _sql(demo_db_url, "SELECT inheritance FROM genepanel_transcript "
                             "WHERE genepanel_name = 'Odd'") == [("AD",)]
    assert [t["inheritance"] for t in _exported(demo_db_url, tmp_path, "Odd", "v1").transcripts
            ] == ["AD"]
    for bad in ("AD\tAR", "AD\nAR", "AD\u200b"):
        result = _create(client, "Odd", f"v-{len(bad)}", [{**BRCA2, "inheritance": bad}])
        assert (result.status, result.json) == (400, {"message": (
            f"body.genes[0].inheritance {bad!r} has a control or invisible character")})


def test_an_adopted_panel_name_with_an_invisible_character_gets_new_versions(demo_api_app,
                                                                           demo_db_url):
    """As `ella-deposit genepanel` allows it: the name exists (an adopted database's)."""
    client = _creator(demo_api_app, demo_db_url)
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                     "date_created) VALUES ('Kar\u200bdio', 'v1', 'GRCh37', true, now())")
    assert _create(client, "Kar\u200bdio", "v2", [BRCA2]).status == 200
    refused = _create(client, "Kar\u200bdio", "v\u200b3", [BRCA2])
    assert refused.status == 400, refused.body


@pytest.mark.parametrize("field", ["name", "version"])
@pytest.mark.parametrize("odd", ["\nrev2", "\u2028rev2", "\u0085rev2", "\u202e2ver",
                                 "\u200b", "\u034f", "\ufe0f", "\u3164", "\U000e0100",
                                 "\u2065", "\ufff0", "\U000e0041", "\u2800"])
def test_a_name_or_version_with_a_line_break_is_refused(demo_api_app, demo_db_url, field, odd):
    """The export's comment line `# Gene panel: <name>-<version> ...` broke in two, and the
    files for the annotation service did not read back ('No valid header found'); a
    right-to-left override or a zero-width space made a name that reads as another, and so
    did invisible characters that are no format characters (a combining grapheme joiner,
    variation selectors, a Hangul filler, unassigned default-ignorable code points, a Braille
    blank: `HBOC v01` twice in a group's panel list)."""
    client = _creator(demo_api_app, demo_db_url)
    panel = {"name": "Kardio", "version": "v1"}
    panel[field] += odd
    result = _create(client, panel["name"], panel["version"], [BRCA2])
    assert (result.status, result.json) == (400, {"message": (
        f"The genepanel {field} {panel[field]!r} has a control or invisible character")})
    assert _sql(demo_db_url, "SELECT count(*) FROM genepanel WHERE name LIKE 'Kardio%%'") \
        == [(0,)]


def test_a_gene_that_would_add_nothing_is_refused(demo_api_app, demo_db_url):
    """A gene without transcripts and phenotypes links nothing, and its HGNC id was never
    checked: a panel of the unknown gene 999999 was created empty."""
    client = _creator(demo_api_app, demo_db_url)
    result = _create(client, "Empty", "v1", [{"hgnc_id": 999999, "inheritance": "AD"}])
    assert (result.status, result.json) == (400, {"message": (
        "body.genes[0] (HGNC id 999999) has no transcripts and no phenotypes: it would add "
        "nothing to the panel")})
    assert _sql(demo_db_url, "SELECT count(*) FROM genepanel WHERE name = 'Empty'") == [(0,)]
