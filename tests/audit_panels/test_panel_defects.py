"""Audit probes for gene panels through the API and export/deposit round trips.

Each test asserts the correct behaviour and FAILS while the defect it names exists."""

from urllib.parse import quote

import psycopg
import pytest
from gunicorn.util import unquote_to_wsgi_str

from api_helpers import logged_in_client
from ella.deposit.genepanel import GenepanelError, deposit_genepanel, read_panel_files
from ella.genepanel_export import phenotypes_tsv, transcripts_tsv

API = "/api/v1"
BRCA2 = {"hgnc_id": 1101, "inheritance": "AD", "transcripts": [{"id": 2}],
         "phenotypes": [{"id": 2}]}


def sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows


def creator(app, url):
    """testuser7 (testgroup03, all four demo panels) may create panels for its own group."""
    sql(url, "INSERT INTO usergroupimport VALUES (3, 3)")
    return logged_in_client(app, url, "testuser7")


def create(client, name, version, genes):
    return client.post(f"{API}/genepanels/", {"name": name, "version": version, "genes": genes,
                                             "usergroups": ["testgroup03"]})


def as_server_gives_it(client, path):
    """GET `path` as gunicorn hands it to the app: the URL is percent-encoded UTF-8 on the
    wire, and PATH_INFO is its percent-decoded bytes as a latin-1 string (PEP 3333)."""
    return client.get(unquote_to_wsgi_str(quote(path)))


def reread_export(url, tmp_path, name, version):
    transcripts, phenotypes = tmp_path / "t.tsv", tmp_path / "p.tsv"
    with psycopg.connect(url) as conn:
        transcripts.write_bytes(transcripts_tsv(conn, name, version))
        phenotypes.write_bytes(phenotypes_tsv(conn, name, version))
    return read_panel_files(transcripts, phenotypes)


# 1 ------------------------------------------------------------------------------------------
def test_a_panel_with_a_non_ascii_version_is_reachable_through_the_wsgi_server(
        demo_api_app, demo_db_url):
    """POST genepanels/ accepts any version string (here `v1.0 é`), but the routes compare the
    raw PEP 3333 PATH_INFO (latin-1 decoded bytes, 'v1.0 Ã©') with the stored UTF-8 text, so
    behind gunicorn the panel, its stats and its workflow view answer 404."""
    client = creator(demo_api_app, demo_db_url)
    assert create(client, "Kardio", "v1.0 é", [BRCA2]).status == 200
    single = as_server_gives_it(client, f"{API}/genepanels/Kardio/v1.0 é/")
    assert single.status == 200, single.body
    assert [g["hgnc_id"] for g in single.json["genes"]] == [1101]
    assert as_server_gives_it(client, f"{API}/genepanels/Kardio/v1.0 é/stats/").status == 200
    wf = client.get(unquote_to_wsgi_str(quote(
        f"{API}/workflows/analyses/2/genepanels/Kardio/v1.0 é/")), query={"allele_ids": "3"})
    assert wf.status == 200, wf.body


# 2 ------------------------------------------------------------------------------------------
def test_exported_mendeliome_deposits_again_onto_the_same_phenotypes(demo_api_app, demo_db_url,
                                                                    tmp_path):
    """The real Mendeliome holds 65 phenotypes with inheritance '' (older data, datamodel
    3.3). The export writes them with an empty inheritance and the deposit reads empty as
    'N/A', so re-depositing the export creates 65 new phenotype rows and links the copy to
    those instead of the original ones: the round trip is not identical."""
    panel = reread_export(demo_db_url, tmp_path, "Mendeliome", "v01")
    with psycopg.connect(demo_db_url) as conn:
        result = deposit_genepanel(conn, "Mendeliome", "v02", panel)
    assert result["phenotypes_new"] == 0, result

    def phenotypes(version):
        return sql(demo_db_url, "SELECT p.gene_id, p.description, p.inheritance, p.omim_id "
                   "FROM genepanel_phenotype gp JOIN phenotype p ON p.id = gp.phenotype_id "
                   "WHERE gp.genepanel_name = 'Mendeliome' AND gp.genepanel_version = %s "
                   "ORDER BY 1, 2, 3", (version,))
    assert phenotypes("v02") == phenotypes("v01")


# 3 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("inheritance", [" AD ", "AD\tAR", "AD\nAR"])
def test_a_created_panels_inheritance_is_refused_or_survives_export_and_deposit(
        demo_api_app, demo_db_url, tmp_path, inheritance):
    """POST genepanels/ stores the gene's inheritance unchecked and unstripped. The filters
    compare it exactly ('AD', filtering.md 2.7 and the frequency AD partition), and the export
    turns tabs/line breaks into spaces while the deposit strips blanks, so the panel deposited
    from the export differs from the created one."""
    client = creator(demo_api_app, demo_db_url)
    result = create(client, "Odd", "v1", [{**BRCA2, "inheritance": inheritance}])
    if result.status == 400:
        return  # refused: fine
    assert result.status == 200, result.body
    stored = sql(demo_db_url, "SELECT inheritance FROM genepanel_transcript "
                 "WHERE genepanel_name = 'Odd'")[0][0]
    again = reread_export(demo_db_url, tmp_path, "Odd", "v1")
    assert [t["inheritance"] for t in again.transcripts] == [stored]


# 4 ------------------------------------------------------------------------------------------
def test_a_version_with_a_line_break_is_refused_or_its_export_deposits_again(
        demo_api_app, demo_db_url, tmp_path):
    """POST genepanels/ accepts a version with a line break. The export's comment line
    `# Gene panel: <name>-<version> ...` is then split in two, and the second half is a data
    line before the header: the files the pre-import script sends to the annotation service
    (import.md 4.6) do not deposit again ('No valid header found')."""
    client = creator(demo_api_app, demo_db_url)
    result = create(client, "Kardio", "v1\nrev2", [BRCA2])
    if result.status == 400:
        return
    assert result.status == 200, result.body
    try:
        again = reread_export(demo_db_url, tmp_path, "Kardio", "v1\nrev2")
    except GenepanelError as exc:
        pytest.fail(f"export of the created panel does not read back: {exc}")
    assert [t["transcript_name"] for t in again.transcripts] == ["NM_000059.3"]


# 5 ------------------------------------------------------------------------------------------
def test_a_panel_whose_genes_have_nothing_to_link_is_refused(demo_api_app, demo_db_url):
    """`genes` must be non-empty (api.md 4.21), but a gene entry without transcripts and
    phenotypes links nothing, and its hgnc_id is never checked: a panel of an unknown gene
    (999999) is created empty (no genes at all in GET genepanels/<n>/<v>/, and its export
    does not deposit: 'no transcripts')."""
    client = creator(demo_api_app, demo_db_url)
    result = create(client, "Empty", "v1", [{"hgnc_id": 999999, "inheritance": "AD"}])
    assert result.status in (400, 404), result.body
    assert sql(demo_db_url, "SELECT count(*) FROM genepanel WHERE name = 'Empty'") == [(0,)]
