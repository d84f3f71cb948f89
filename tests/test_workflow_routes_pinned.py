"""Workflow routes over HTTP: rules of the interpretation-round routes that the broader
workflow tests leave open.

Pinned here:
- the variants of a Done round come from its snapshot unless `current=true`, also when
  `current` is absent; a round that is not Done shows current data (api.md 4.9,
  workflow.md 11.2);
- segregation tags are added to a variant's own tags, and a filter config of the group that
  cannot be run is a 400 (api.md 3.4, 4.9);
- a variant's snapshots are only those of rounds the caller's group may read, an analysis'
  only its own (workflow.md 9); there is no `actions/save/` route (api.md 2.9, 2.10);
- a variant start body that is no JSON object is a 400 (api.md 2.10, 1.4);
- saving another group's variant round is 403 before the body is read, and checked again
  under the workflow's lock (api.md 2.10, 4.8);
- finishallowed: the round must be the analysis' (404) and `q` must name `sample_ids` (400)
  (api.md 2.9, workflow.md 11);
- the gene panel of a workflow (api.md 4.11, workflow.md 11): transcripts matched by accession
  whatever their version, phenotypes and current gene assessments of the variants' genes only;
- the panel chooser of a variant (api.md 2.10): only official panels of the caller's group
  whose transcripts overlap the variant, by name then version.
"""

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api_helpers import add_user, logged_in_client
from filter_helpers import PANEL as FILTER_PANEL, World as FilterWorld
from test_workflow_rounds import AL, AN, PANEL, World, ok, sql


class Workflow(World):
    """test_workflow_rounds' world (TestAnalysis-001; u1-u3 of group wf with both HBOC
    panels, `outsider` of a group without panels), with one-line actions and round ids."""

    def act(self, user, action, body=None, allele_id=None):
        prefix = f"{AN}/{self.analysis_id}" if allele_id is None else f"{AL}/{allele_id}"
        result = self.client(user).post(f"{prefix}/actions/{action}/", body or {})
        assert result.status == 200, (action, result.status, result.body[:300])

    def payload(self, allele_ids, aa_ids=(), analysis=True):
        """Variants left unclassified are marked technical, so an analysis may finalize."""
        extra = {"technical_allele_ids": list(allele_ids)} if analysis else {}
        return super().payload(allele_ids, aa_ids, analysis=analysis, **extra)

    def round_ids(self, allele_id=None):
        if allele_id is None:
            return [r["id"] for r in self.rounds()]
        return [r["id"] for r in self.rounds("allele", allele_id)]


@pytest.fixture
def wf(api_app, db_url, ella_config):
    return Workflow(api_app, db_url, ella_config)


# -- a round's variants ------------------------------------------------------------------------

def test_a_done_round_shows_its_snapshot_and_the_next_round_current_data(wf):
    """api.md 4.9 / workflow.md 11.2: a Done round shows the assessment it was ended with
    unless `current` is `true` (an absent `current` is not `true`); a round that is not
    Done (the Not started one after reopen) shows the current assessment."""
    allele = wf.allele_ids[0]
    old = wf.add_assessment(allele, "3")
    wf.act("u1", "start")
    wf.act("u1", "finalize", wf.payload(wf.allele_ids, aa_ids=[old]))
    new = wf.add_assessment(allele, "5", supersede=True)
    done = wf.round_ids()[0]
    c = wf.client("u1")

    def assessment(round_id, **query):
        shown = ok(c.get(f"{AN}/{wf.analysis_id}/interpretations/{round_id}/alleles/",
                         query={"allele_ids": str(allele), **query}))
        return shown[0].get("allele_assessment", {}).get("id")

    assert assessment(done) == old
    assert assessment(done, current="yes") == old
    assert assessment(done, current="true") == new
    wf.act("u2", "reopen")
    reopened = wf.round_ids()[-1]
    assert assessment(reopened) == new
    assert ok(c.get(f"{AN}/{wf.analysis_id}/interpretations/{reopened}/alleles/",
                    query={"allele_ids": str(allele)}))[0]["annotation"]["annotation_id"]


# -- segregation tags ----------------------------------------------------------------------------

SEGREGATION = {"name": "segregation", "config": {
    "no_coverage_parents": {"enable": False}, "denovo": {"enable": True},
    "parental_mosaicism": {"enable": False}, "compound_heterozygous": {"enable": False},
    "recessive_homozygous": {"enable": False}}}
HET, REF = "Heterozygous", "Reference"


def _trio_round(db_url, ella_config, filterconfigs, second_family=False):
    """A trio analysis with one de novo variant called LowQual in the proband, a round of it,
    and `filterconfigs` ({name: document}) linked to the group of user `trio`; with
    `second_family` also the proband of another family. Returns (round's alleles URL, de
    novo allele id, {name: filterconfig id})."""
    with psycopg.connect(db_url) as conn:
        w = FilterWorld(conn, ella_config)
        w.transcript("NM_1.1", 1, chromosome="1", tx=(99000, 200000))
        fam = w.family(sex="Female")
        allele = w.allele("1", 150000)
        w.genotype(allele, fam["P"], filter_status="LowQual", data={
            fam["P"]: (HET, 0.5, 99), fam["F"]: (REF, 0.0, 99), fam["M"]: (REF, 0.0, 99)})
        if second_family:
            w.sample("P2", family_id="fam2")
        round_id = conn.execute(
            "INSERT INTO analysisinterpretation (genepanel_name, genepanel_version, status, "
            "date_last_update, date_created, analysis_id, workflow_status, state, user_state) "
            "VALUES (%s, %s, 'Not started', now(), now(), %s, 'Interpretation', '{}', '{}') "
            "RETURNING id", FILTER_PANEL + (w.analysis_id,)).fetchone()[0]
        ids = {name: conn.execute(
            "INSERT INTO filterconfig (name, filterconfig, active, requirements) "
            "VALUES (%s, %s, true, '[]') RETURNING id", (name, Jsonb(document))).fetchone()[0]
            for name, document in filterconfigs.items()}
        analysis_id = w.analysis_id
    add_user(db_url, "trio", "triogroup", panels=[FILTER_PANEL])
    sql(db_url, "INSERT INTO usergroupfilterconfig (usergroup_id, filterconfig_id, \"order\") "
        "SELECT u.id, f, 0 FROM usergroup u, unnest(%s::int[]) f WHERE u.name = 'triogroup'",
        (list(ids.values()),))
    return (f"{AN}/{analysis_id}/interpretations/{round_id}/alleles/", allele, ids)


def test_segregation_tags_are_added_to_the_variants_own_tags(api_app, db_url, ella_config):
    """api.md 3.4: with a filter config the de novo variant gets the `denovo` tag besides the
    tags it has anyway (here `low_quality`, its call not PASS)."""
    url, allele, ids = _trio_round(db_url, ella_config, {"Trio": {"filters": [SEGREGATION]}})
    client = logged_in_client(api_app, db_url, "trio")
    plain = ok(client.get(url, query={"allele_ids": str(allele)}))[0]["tags"]
    assert plain == ["low_quality"]
    tagged = ok(client.get(url, query={"allele_ids": str(allele),
                                       "filterconfig_id": ids["Trio"]}))[0]["tags"]
    assert tagged == ["denovo", "low_quality"]


def test_a_filter_config_that_cannot_be_run_is_a_400(api_app, db_url, ella_config):
    """api.md 1.4 (bad input 400, ELLA 500): segregation tags of an analysis of two families
    cannot be given; the list answers 400 naming the filter config and why."""
    url, allele, ids = _trio_round(db_url, ella_config, {"Trio": {"filters": [SEGREGATION]}},
                                   second_family=True)
    result = logged_in_client(api_app, db_url, "trio").get(
        url, query={"allele_ids": str(allele), "filterconfig_id": ids["Trio"]})
    assert result.status == 400, result.body
    assert result.json["message"] == (
        f"Filter config {ids['Trio']} cannot be run: segregation filter: analyses with more "
        "than one family are not supported")


# -- a variant's rounds and snapshots ----------------------------------------------------------

def test_a_variants_snapshots_are_those_of_rounds_the_group_may_read(wf):
    """workflow.md 9: `GET …/alleles/<id>/snapshots/` returns the snapshots of the rounds
    whose panel is the caller group's; another group sees none of them. The finalized
    round's variant shows the assessment of its snapshot (workflow.md 11.2)."""
    allele = wf.allele_ids[1]
    add_user(wf.url, "v01only", "v01only", [("HBOC", "v01")])
    wf.act("u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, allele_id=allele)
    aa = wf.add_assessment(allele, "3")
    wf.act("u1", "finalize", wf.payload([allele], aa_ids=[aa], analysis=False),
           allele_id=allele)
    [round_id] = wf.round_ids(allele)
    new = wf.add_assessment(allele, "5", supersede=True)
    url = f"{AL}/{allele}/interpretations/{round_id}/alleles/"
    for query, shown in ({"allele_ids": str(allele)}, aa), \
            ({"allele_ids": str(allele), "current": "true"}, new):
        assert [a["allele_assessment"]["id"] for a in ok(wf.client("u2").get(
            url, query=query))] == [shown]
    for path in (f"{AL}/{allele}/snapshots/", f"{AL}/{allele}/actions/finalize/"):
        assert [s["alleleinterpretation_id"] for s in ok(wf.client("u2").get(path))] == \
            [round_id]
        assert ok(wf.client("v01only").get(path)) == []
        assert ok(wf.client("outsider").get(path)) == []


def test_an_analysis_lists_only_its_own_snapshots(wf):
    """api.md 2.9 / workflow.md 9: `GET …/analyses/<id>/snapshots/` (and GET
    `actions/finalize/`) are the snapshots of that analysis' rounds, not another's."""
    wf.act("u1", "start")
    wf.act("u1", "markreview", wf.payload(wf.allele_ids))
    [ended, _] = wf.round_ids()
    other = sql(wf.url, "INSERT INTO analysis (name, genepanel_name, genepanel_version, "
                "date_deposited) VALUES ('Other', %s, %s, now()) RETURNING id", PANEL)[0][0]
    other_round = sql(
        wf.url, "INSERT INTO analysisinterpretation (analysis_id, genepanel_name, "
        "genepanel_version, status, finalized, workflow_status, state, user_state, "
        "date_created, date_last_update) VALUES (%s, %s, %s, 'Done', false, 'Interpretation', "
        "'{}', '{}', now(), now()) RETURNING id", (other, *PANEL))[0][0]
    sql(wf.url, "INSERT INTO analysisinterpretationsnapshot (date_created, "
        "analysisinterpretation_id, allele_id) VALUES (now(), %s, %s)",
        (other_round, wf.allele_ids[0]))
    for analysis_id, rounds in ((wf.analysis_id, {ended}), (other, {other_round})):
        for suffix in ("snapshots/", "actions/finalize/"):
            listed = ok(wf.client("u2").get(f"{AN}/{analysis_id}/{suffix}"))
            assert {s["analysisinterpretation_id"] for s in listed} == rounds
            assert len(listed) == (len(wf.allele_ids) if analysis_id == wf.analysis_id else 1)


def test_save_is_no_action_route(wf):
    """api.md 2.9 / 2.10: a round is saved by PATCH on the round; there is no
    `actions/save/`."""
    for prefix in (f"{AN}/{wf.analysis_id}", f"{AL}/{wf.allele_ids[0]}"):
        result = wf.client("u1").post(f"{prefix}/actions/save/", {"state": {}, "user_state": {}})
        assert result.status in (404, 405), (prefix, result.status)


def test_a_variant_start_body_must_be_an_object(wf):
    """api.md 2.10 / 1.4: the start of a variant workflow needs `{gp_name, gp_version}`; a
    body that is no JSON object is a 400 and starts nothing."""
    allele = wf.allele_ids[3]
    for body in ([PANEL[0], PANEL[1]], "HBOC", 1):
        result = wf.client("u1").post(f"{AL}/{allele}/actions/start/", body)
        assert result.status == 400, (body, result.status, result.body[:200])
    assert wf.round_ids(allele) == []


def _variant_in_work(wf):
    """u1's variant round in work on HBOC v1.0.0: (allele id, round id)."""
    allele = wf.allele_ids[2]
    wf.act("u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, allele_id=allele)
    return allele, wf.round_ids(allele)[0]


def test_saving_another_groups_variant_round_is_403_whatever_the_body(wf):
    """api.md 2.10 / 4.8: a user whose group may not change the round is refused (403)
    before the body is looked at, so a malformed body is a 403 too, and nothing changes."""
    allele, round_id = _variant_in_work(wf)
    url = f"{AL}/{allele}/interpretations/{round_id}/"
    before = sql(wf.url, "SELECT state::text FROM alleleinterpretation WHERE id = %s",
                 (round_id,))
    for body in ({"state": {"x": 1}, "user_state": {}}, {"state": 1}, {"nokey": True}):
        result = wf.client("outsider").request("PATCH", url, json_body=body)
        assert result.status == 403, (body, result.status, result.body[:200])
    assert sql(wf.url, "SELECT state::text FROM alleleinterpretation WHERE id = %s",
               (round_id,)) == before


def test_saving_a_variant_round_checks_the_group_again_under_the_lock(wf, monkeypatch):
    """README (access differences): the owner moved to a group without the round's panel
    may no longer save it; the save checks this again under the workflow's lock (the early
    check is skipped here, as a concurrent change could make it pass)."""
    from ella.web.routes import workflow_rounds
    allele, round_id = _variant_in_work(wf)
    sql(wf.url, "UPDATE \"user\" SET group_id = (SELECT id FROM usergroup WHERE name = "
        "'other') WHERE username = 'u1'")
    monkeypatch.setattr(workflow_rounds, "require_allele_workflow", lambda *args: None)
    result = wf.client("u1").request(
        "PATCH", f"{AL}/{allele}/interpretations/{round_id}/",
        json_body={"id": round_id, "state": {"x": 1}, "user_state": {}})
    assert result.status == 403, result.body
    assert sql(wf.url, "SELECT state FROM alleleinterpretation WHERE id = %s",
               (round_id,)) == [({},)]


# -- finishallowed -------------------------------------------------------------------------------

def test_finishallowed_needs_a_round_of_the_analysis_and_sample_ids(wf):
    """api.md 2.9 / workflow.md 11: the round must be one of the analysis' (404 otherwise);
    `q` must be an object with `sample_ids` (400)."""
    c = wf.client("u1")
    samples = [r[0] for r in sql(wf.url, "SELECT id FROM sample WHERE analysis_id = %s",
                                 (wf.analysis_id,))]
    [round_id] = wf.round_ids()
    base = f"{AN}/{wf.analysis_id}/interpretations"
    assert ok(c.get(f"{base}/{round_id}/finishallowed", query={"q": {"sample_ids": samples}})) \
        is None
    result = c.get(f"{base}/{round_id + 1000}/finishallowed",
                   query={"q": {"sample_ids": samples}})
    assert result.status == 404, result.body
    for q in ({"samples": samples}, ["sample_ids"], {}):
        result = c.get(f"{base}/{round_id}/finishallowed", query={"q": q})
        assert result.status == 400, (q, result.status, result.body)


# -- gene panels of a workflow -------------------------------------------------------------------

CHROMOSOME, START, END = "7", 50000, 50001  # the variant: 0-based start, open end


def _panel(conn, name, version, official, transcripts, phenotypes=()):
    """A panel with transcripts [(name, hgnc id, tx_start, tx_end)] (inheritance `AD` for
    gene 1, else `AR`) and phenotypes [(hgnc id, description)]."""
    conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                 "date_created) VALUES (%s, %s, 'GRCh37', %s, now())", (name, version, official))
    for transcript, gene, start, end in transcripts:
        conn.execute("INSERT INTO gene (hgnc_id, hgnc_symbol) VALUES (%s, %s) "
                     "ON CONFLICT DO NOTHING", (gene, f"GENE{gene}"))
        tid = conn.execute(
            "INSERT INTO transcript (gene_id, transcript_name, type, genome_reference, "
            "chromosome, tx_start, tx_end, strand, cds_start, cds_end, exon_starts, exon_ends) "
            "VALUES (%s, %s, 'RefSeq', 'GRCh37', %s, %s, %s, '+', %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (gene, transcript, CHROMOSOME, start, end, start, end, [start], [end])).fetchone()
        tid = tid[0] if tid else conn.execute(
            "SELECT id FROM transcript WHERE transcript_name = %s", (transcript,)).fetchone()[0]
        conn.execute("INSERT INTO genepanel_transcript VALUES (%s, %s, %s, %s)",
                     (name, version, tid, "AD" if gene == 1 else "AR"))
    for gene, description in phenotypes:
        pid = conn.execute(
            "INSERT INTO phenotype (gene_id, description, inheritance) VALUES (%s, %s, 'AD') "
            "ON CONFLICT (gene_id, description, inheritance) DO UPDATE SET omim_id = NULL "
            "RETURNING id", (gene, description)).fetchone()[0]
        conn.execute("INSERT INTO genepanel_phenotype VALUES (%s, %s, %s)",
                     (name, version, pid))


@pytest.fixture
def panels(api_app, db_url):
    """A variant on gene 1, annotated on NM_100.2 (panels carry NM_100.1) and on a
    transcript without a gene; the group `pg` has the panels Gp v1 (official), Gp v2 (not
    official), Alpha v1, Gp v3 (official, overlapping), Edge v1 and Edge v2 (official,
    transcripts ending at the variant's start / starting at its end) and Away v1 (elsewhere);
    Other v1 (official, overlapping) is another group's. Returns (client of the group's
    user, allele id, {hgnc id: current gene assessment id}, client of the other group)."""
    around = (START - 1000, END + 1000)
    with psycopg.connect(db_url) as conn:
        gene1 = [("NM_101.1", 1, *around), ("NM_100.1", 1, *around)]
        gene2 = [("NM_200.1", 2, *around)]
        _panel(conn, "Gp", "v1", True, gene1 + gene2,
               [(2, "Gene two disease"), (1, "Gene one disease B"), (1, "Gene one disease A")])
        _panel(conn, "Gp", "v2", False, gene1 + [("NM_102.1", 1, *around)],
               [(1, "Gene one disease A"), (1, "Gene one, only in v2")])
        _panel(conn, "Gp", "v3", True, gene1)
        _panel(conn, "Alpha", "v1", True, gene1)
        _panel(conn, "Edge", "v1", True, [("NM_300.1", 3, START - 500, START)])
        _panel(conn, "Edge", "v2", True, [("NM_301.1", 3, END, END + 500)])
        _panel(conn, "Away", "v1", True, [("NM_400.1", 4, END + 5000, END + 6000)])
        _panel(conn, "Other", "v1", True, gene1)
        allele = conn.execute(
            "INSERT INTO allele (genome_reference, chromosome, start_position, "
            "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, "
            "vcf_alt, length, caller_type) VALUES ('GRCh37', %s, %s, %s, 'C', 'T', 'SNP', "
            "%s, 'C', 'T', 1, 'snv') RETURNING id", (CHROMOSOME, START, END, END)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO annotation (allele_id, annotations, schema_version, "
            "annotation_config_id, date_created) VALUES (%s, %s, 1, 1, now())",
            (allele, Jsonb({"transcripts": [
                {"transcript": "NM_100.2", "hgnc_id": 1, "symbol": "GENE1", "strand": 1,
                 "is_canonical": True, "consequences": ["missense_variant"],
                 "in_last_exon": "no"},
                {"transcript": "ENST00000000001", "strand": 1, "is_canonical": False,
                 "consequences": ["intergenic_variant"], "in_last_exon": "no"}]})))
        conn.commit()
    mine = [("Gp", "v1"), ("Gp", "v2"), ("Gp", "v3"), ("Alpha", "v1"), ("Edge", "v1"),
            ("Edge", "v2"), ("Away", "v1")]
    user_id = add_user(db_url, "pguser", "pg", mine)
    add_user(db_url, "otheruser", "othergroup", [("Other", "v1")])
    assessments = {}
    with psycopg.connect(db_url) as conn:
        for gene in (1, 2):
            conn.execute("INSERT INTO geneassessment (evaluation, user_id, date_created, "
                         "date_superceeded, genepanel_name, genepanel_version, gene_id) "
                         "VALUES ('{\"comment\": \"old\"}', %s, now(), now(), 'Gp', 'v1', %s)",
                         (user_id, gene))
            assessments[gene] = conn.execute(
                "INSERT INTO geneassessment (evaluation, user_id, date_created, "
                "genepanel_name, genepanel_version, gene_id) VALUES ('{\"comment\": \"g\"}', "
                "%s, now(), 'Gp', 'v1', %s) RETURNING id", (user_id, gene)).fetchone()[0]
    return (logged_in_client(api_app, db_url, "pguser"), allele, assessments,
            logged_in_client(api_app, db_url, "otheruser"))


def test_a_workflows_panel_holds_what_concerns_the_variants_genes(panels):
    """api.md 4.11: `transcripts` are the panel's transcripts whose accession matches one the
    variant is annotated on (NM_100.1 for NM_100.2, filtering.md 2.9); `inheritances` every
    transcript of its genes in this panel version, by name; `phenotypes` this version's
    phenotypes of those genes only, by id; `geneassessments` their current ones only. A
    transcript without a gene is left out; an unknown variant is a 404."""
    client, allele, assessments, _ = panels
    shown = ok(client.get(f"{AL}/{allele}/genepanels/Gp/v1/"))
    assert (shown["name"], shown["version"], shown["official"]) == ("Gp", "v1", True)
    assert [t["transcript_name"] for t in shown["transcripts"]] == ["NM_100.1"]
    assert shown["transcripts"][0]["gene"] == {"hgnc_id": 1, "hgnc_symbol": "GENE1"}
    assert shown["inheritances"] == [
        {"hgnc_id": 1, "inheritance": "AD", "transcript_name": "NM_100.1"},
        {"hgnc_id": 1, "inheritance": "AD", "transcript_name": "NM_101.1"}]
    descriptions = [p["description"] for p in shown["phenotypes"]]
    assert descriptions == ["Gene one disease B", "Gene one disease A"]
    assert [p["id"] for p in shown["phenotypes"]] == sorted(p["id"] for p in shown["phenotypes"])
    assert [g["id"] for g in shown["geneassessments"]] == [assessments[1]]
    unofficial = ok(client.get(f"{AL}/{allele}/genepanels/Gp/v2/"))
    assert unofficial["official"] is False
    assert [t["transcript_name"] for t in unofficial["transcripts"]] == ["NM_100.1"]
    assert [i["transcript_name"] for i in unofficial["inheritances"]] == [
        "NM_100.1", "NM_101.1", "NM_102.1"]
    assert sorted(p["description"] for p in unofficial["phenotypes"]) == [
        "Gene one disease A", "Gene one, only in v2"]
    assert client.get(f"{AL}/{allele + 1}/genepanels/Gp/v1/").status == 404


def test_an_analysis_panel_covers_only_the_variants_asked_for(panels, db_url):
    """api.md 4.11: an analysis' panel part is that of the `allele_ids` given: none, no
    transcripts, phenotypes nor gene assessments. An unknown analysis is a 404."""
    client, allele, assessments, _ = panels
    with psycopg.connect(db_url) as conn:
        analysis_id = conn.execute(
            "INSERT INTO analysis (name, genepanel_name, genepanel_version, date_deposited) "
            "VALUES ('GpAnalysis', 'Gp', 'v1', now()) RETURNING id").fetchone()[0]
    url = f"{AN}/{analysis_id}/genepanels/Gp/v1/"
    shown = ok(client.get(url, query={"allele_ids": str(allele)}))
    assert [t["transcript_name"] for t in shown["transcripts"]] == ["NM_100.1"]
    assert [g["id"] for g in shown["geneassessments"]] == [assessments[1]]
    empty = ok(client.get(url))
    assert (empty["transcripts"], empty["phenotypes"], empty["inheritances"],
            empty["geneassessments"]) == ([], [], [], [])
    unknown = client.get(f"{AN}/{analysis_id + 1}/genepanels/Gp/v1/",
                         query={"allele_ids": str(allele)})
    assert unknown.status == 404, unknown.body


def test_the_panel_chooser_lists_the_groups_official_panels_overlapping_the_variant(panels):
    """api.md 2.10 / workflow.md 11: official panels of the caller's group with a transcript
    overlapping the variant (a transcript ending at its start or starting at its end does
    not), ordered by name then version; another group sees only its own."""
    client, allele, _, other = panels
    assert ok(client.get(f"{AL}/{allele}/genepanels/")) == [
        {"name": "Alpha", "version": "v1", "official": True},
        {"name": "Gp", "version": "v1", "official": True},
        {"name": "Gp", "version": "v3", "official": True}]
    assert ok(other.get(f"{AL}/{allele}/genepanels/")) == [
        {"name": "Other", "version": "v1", "official": True}]
    assert other.get(f"{AL}/{allele + 1}/genepanels/").status == 404
