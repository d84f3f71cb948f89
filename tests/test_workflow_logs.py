"""The interpretation log (workflow.md 10, 18 #26-31; api.md 4.18) through the WSGI app."""

import psycopg
import pytest

from workflow_helpers import (analysis_alleles, new_round, payload, setup_analysis,
                              start_round)

WF = "/api/v1/workflows"


@pytest.fixture
def wf(api_app, db_url, ella_config):
    c1, c2, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    return {"c1": c1, "c2": c2, "analysis": analyses[0], "db": db_url,
            "logs": f"{WF}/analyses/{analyses[0]}/logs/"}


def newest(client, url):
    result = client.get(url)
    assert result.status == 200, result.body
    return result.json["logs"][-1]


def test_criteria_26_to_29_messages_are_editable_until_a_new_round(wf):
    c1, url = wf["c1"], wf["logs"]
    assert c1.post(url, {"message": "Message 1"}).status == 200  # round not started: fine
    entry = newest(c1, url)
    assert entry["message"] == "Message 1" and entry["editable"] is True
    assert set(entry) == {"id", "date_created", "message", "priority", "review_comment",
                          "warning_cleared", "user_id", "editable"}
    assert c1.request("PATCH", f"{url}{entry['id']}/", {"message": "Edited"}).status == 200
    entry = newest(c1, url)
    assert entry["message"] == "Edited" and entry["editable"] is True
    new_round(wf["db"], wf["analysis"])
    old = next(e for e in c1.get(url).json["logs"] if e["id"] == entry["id"])
    assert old["editable"] is False
    patched = c1.request("PATCH", f"{url}{entry['id']}/", {"message": "x"})
    assert patched.status == 409 and patched.json["message"] == (
        "Can only edit entries created for latest interpretation id.")
    deleted = c1.request("DELETE", f"{url}{entry['id']}/")
    assert deleted.status == 409 and deleted.json["message"] == (
        "Can only delete entries created for latest interpretation id.")
    c1.post(url, {"message": "Message 2"})
    assert newest(c1, url)["editable"] is True
    c1.post(url, {"review_comment": "Looks fine"})
    assert newest(c1, url)["review_comment"] == "Looks fine"
    assert newest(c1, url)["editable"] is False
    c1.post(url, {"priority": 2})
    assert newest(c1, url)["priority"] == 2 and newest(c1, url)["editable"] is False
    # The deposit's priority row is a system entry (user_id null) and the author list.
    result = c1.get(url).json
    assert result["logs"][0]["user_id"] is None and result["logs"][0]["priority"] == 1
    assert [u["username"] for u in result["users"]] == ["wfuser1"]


def test_someone_elses_entry_is_refused_own_delete_works(wf):
    c1, c2, url = wf["c1"], wf["c2"], wf["logs"]
    c1.post(url, {"message": "mine"})
    entry = newest(c1, url)
    assert newest(c2, url)["editable"] is False
    patched = c2.request("PATCH", f"{url}{entry['id']}/", {"message": "theirs"})
    assert patched.status == 403 and patched.json["message"] == (
        "Cannot edit interpretation log, item doesn't match user's id.")
    deleted = c2.request("DELETE", f"{url}{entry['id']}/")
    assert deleted.status == 403 and deleted.json["message"] == (
        "Cannot delete interpretation log, item doesn't match user's id.")
    assert newest(c1, url)["message"] == "mine"
    assert c1.request("DELETE", f"{url}{entry['id']}/").status == 200
    assert all(e["id"] != entry["id"] for e in c1.get(url).json["logs"])
    assert c1.request("DELETE", f"{url}987654/").status == 404


def test_an_entry_of_another_analysis_is_not_found_through_this_one(api_app, db_url,
                                                                   ella_config, tmp_path):
    """An entry id is looked up among the addressed workflow's rounds only: another analysis'
    entry, even the caller's own, is 404 through this analysis' log and stays as written."""
    c1, _, analyses, _ = setup_analysis(api_app, db_url, ella_config, tmp_path, second=True)
    own_url, other_url = (f"{WF}/analyses/{a}/logs/" for a in analyses)
    assert c1.post(other_url, {"message": "the other analysis' note"}).status == 200
    entry = newest(c1, other_url)
    for method, body in (("PATCH", {"message": "moved"}), ("DELETE", None)):
        result = c1.request(method, f"{own_url}{entry['id']}/", body)
        assert result.status == 404, (method, result.status, result.body)
    assert newest(c1, other_url)["message"] == "the other analysis' note"


def _log_rows(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT * FROM interpretationlog ORDER BY id").fetchall()


def test_entries_that_record_more_than_a_message_stay_as_written(wf):
    """Exactly what the log lists as editable can be changed: a priority, review comment or
    cleared warning entry is refused (403), a message that came with one can be edited but
    not deleted (deleting it would undo the priority)."""
    c1, url = wf["c1"], wf["logs"]
    refused = "interpretation log: the entry records a classification, report, priority, " \
        "review comment or cleared warning."
    for body in ({"priority": 3}, {"review_comment": "ok"}, {"warning_cleared": True}):
        assert c1.post(url, body).status == 200
        entry = newest(c1, url)
        assert entry["editable"] is False
        before = _log_rows(wf["db"])
        patched = c1.request("PATCH", f"{url}{entry['id']}/", {"message": "x"})
        assert patched.status == 403 and patched.json["message"] == "Cannot edit " + refused
        deleted = c1.request("DELETE", f"{url}{entry['id']}/")
        assert deleted.status == 403 and deleted.json["message"] == "Cannot delete " + refused
        assert _log_rows(wf["db"]) == before
    assert c1.post(url, {"message": "urgent", "priority": 3}).status == 200
    entry = newest(c1, url)
    assert c1.request("PATCH", f"{url}{entry['id']}/", {"message": "very"}).status == 200
    deleted = c1.request("DELETE", f"{url}{entry['id']}/")
    assert deleted.status == 403 and deleted.json["message"] == "Cannot delete " + refused
    assert newest(c1, url)["message"] == "very" and newest(c1, url)["priority"] == 3


def test_messages_of_a_finalized_round_stay_as_written(wf):
    c1, url = wf["c1"], wf["logs"]
    assert c1.post(url, {"message": "before finalizing"}).status == 200
    entry = newest(c1, url)
    with psycopg.connect(wf["db"]) as conn:
        conn.execute("UPDATE analysisinterpretation SET status = 'Done', finalized = true "
                     "WHERE analysis_id = %s", (wf["analysis"],))
    assert newest(c1, url)["editable"] is False
    before = _log_rows(wf["db"])
    for verb, method, body in (("edit", "PATCH", {"message": "x"}), ("delete", "DELETE", None)):
        result = c1.request(method, f"{url}{entry['id']}/", body)
        assert result.status == 409 and result.json["message"] == \
            f"Cannot {verb} entries of a finalized interpretation."
    assert _log_rows(wf["db"]) == before


def test_bad_log_bodies(wf):
    c1, url = wf["c1"], wf["logs"]
    assert c1.post(url, {}).status == 400
    assert c1.post(url, {"message": None}).status == 400
    assert c1.post(url, {"nope": "x"}).status == 400
    assert c1.post(url, {"priority": "high"}).status == 400
    # Priorities are 1 Normal, 2 High, 3 Urgent (api.md 4.18); others would show in the
    # overviews as a priority no label names.
    before = len(c1.get(url).json["logs"])
    for priority in (0, -1, 4, 99):
        refused = c1.post(url, {"priority": priority, "message": "m"})
        assert refused.status == 400
        assert refused.json["message"] == f"priority must be 1, 2 or 3, not {priority}"
    assert len(c1.get(url).json["logs"]) == before
    assert c1.post(url, {"priority": "3"}).status == 200


def test_log_texts_are_bounded(wf):
    """A message (100,000 characters) and a review comment (10,000: the overview shows it on
    the analysis' row, every member's start page) are bounded, also when a message is
    edited: a 9 MiB comment was stored and sent with every overview. At the limit: fine."""
    c1, url = wf["c1"], wf["logs"]
    before = _log_rows(wf["db"])
    for body, field, limit in (({"message": "m" * 100_001}, "message", 100_000),
                               ({"review_comment": "r" * 10_001}, "review_comment", 10_000),
                               ({"message": "m", "review_comment": "r" * 10_001},
                                "review_comment", 10_000)):
        refused = c1.post(url, body)
        assert refused.status == 400
        assert refused.json["message"] == (f"body.{field} is too long: {limit + 1} characters "
                                           f"(at most {limit})")
    assert _log_rows(wf["db"]) == before
    assert c1.post(url, {"message": "m" * 100_000, "review_comment": "r" * 10_000}
                   ).status == 200
    assert c1.post(url, {"message": "short"}).status == 200
    entry = newest(c1, url)
    edited = c1.request("PATCH", f"{url}{entry['id']}/", {"message": "e" * 100_001})
    assert edited.status == 400 and edited.json["message"] == (
        "body.message is too long: 100001 characters (at most 100000)")
    assert newest(c1, url)["message"] == "short"


def test_criterion_30_warning_cleared_only_for_analyses(wf, db_url):
    c1 = wf["c1"]
    assert c1.post(wf["logs"], {"warning_cleared": True}).status == 200
    assert newest(c1, wf["logs"])["warning_cleared"] is True
    allele_id = analysis_alleles(db_url, wf["analysis"])[0][0]
    allele_logs = f"{WF}/alleles/{allele_id}/logs/"
    assert c1.get(allele_logs).json == {"logs": [], "users": []}
    # No allele round yet: refused (ELLA fails here too).
    assert c1.post(allele_logs, {"message": "m"}).status == 409
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO alleleinterpretation (allele_id, genepanel_name, "
                     "genepanel_version, status, workflow_status, date_last_update, date_created) "
                     "VALUES (%s, 'HBOC', 'v1.0.0', 'Not started', 'Interpretation', now(), "
                     "now())", (allele_id,))
    result = c1.post(allele_logs, {"warning_cleared": True})
    assert result.status == 400 and result.json["message"] == (
        "warning_cleared is not supported for alleles as they have no warnings")
    assert c1.post(allele_logs, {"message": "m"}).status == 200
    assert newest(c1, allele_logs)["editable"] is True


def test_criterion_31_finalized_alleles_appear_in_the_log(wf):
    c1, db_url, analysis_id = wf["c1"], wf["db"], wf["analysis"]
    start_round(db_url, analysis_id, "wfuser1")
    alleles = analysis_alleles(db_url, analysis_id)
    first = {}
    for allele_id, annotation_id in alleles:
        result = c1.post(f"{WF}/analyses/{analysis_id}/actions/finalizeallele/",
                         payload(allele_id, annotation_id, classification="3"))
        assert result.status == 200, result.body
        first[allele_id] = result.json
    allele_id, annotation_id = alleles[0]
    result = c1.post(f"{WF}/analyses/{analysis_id}/actions/finalizeallele/", payload(
        allele_id, annotation_id, classification="4",
        aa_presented=first[allele_id]["alleleassessment"]["id"],
        ar_presented=first[allele_id]["allelereport"]["id"]))
    assert result.status == 200
    logs = c1.get(wf["logs"]).json["logs"]
    entries = logs[-(len(alleles) + 1):]
    assert sorted(e["alleleassessment"]["allele_id"] for e in entries[:-1]) == \
        sorted(a for a, _ in alleles)
    assert all(e["allelereport"]["allele_id"] == e["alleleassessment"]["allele_id"]
               for e in entries)
    assert all(e["editable"] is False for e in entries)
    # The record of a classification is part of the audit trail: its author cannot delete it
    # or write a message into it.
    before = _log_rows(db_url)
    for entry in entries:
        assert c1.request("DELETE", f"{wf['logs']}{entry['id']}/").status == 403
        assert c1.request("PATCH", f"{wf['logs']}{entry['id']}/",
                          {"message": "x"}).status == 403
    assert _log_rows(db_url) == before
    last = entries[-1]["alleleassessment"]
    assert last["classification"] == "4" and last["previous_classification"] == "3"
    assert entries[0]["alleleassessment"]["previous_classification"] is None
    for entry in entries:
        hgvsc = entry["alleleassessment"]["hgvsc"]
        assert hgvsc == sorted(hgvsc) and hgvsc, entry
        assert all(h.startswith("BRCA2 c.") or ">" in h for h in hgvsc)


def test_log_hgvsc_texts_follow_the_panel_transcripts(db_conn, ella_config):
    """api.md 4.18 `hgvsc`: "<symbol> <HGVSc>" for each annotation transcript matching the
    round's panel (same gene and accession; filtering.md 2.9), the position text for a match
    without HGVSc, and the position text when nothing matches (it was an empty list)."""
    from filter_helpers import PANEL, World

    from ella.allele_views import panel_transcripts
    from ella.workflow.log import _hgvsc

    w = World(db_conn, ella_config)
    w.transcript("NM_000059.3", 1101, symbol="BRCA2")
    w.transcript("NM_007294.3", 1100, symbol="BRCA1")
    matched = w.allele()
    w.annotate(matched, [
        {"transcript": "NM_000059.4", "hgnc_id": 1101, "symbol": "BRCA2", "HGVSc": "c.10G>T"},
        {"transcript": "NM_000059.2", "hgnc_id": 1101, "symbol": "BRCA2", "HGVSc": "c.9G>T"},
        {"transcript": "NM_999.1", "hgnc_id": 1101, "symbol": "BRCA2", "HGVSc": "c.1A>G"}])
    no_hgvsc = w.allele()
    w.annotate(no_hgvsc, [{"transcript": "NM_007294.3", "hgnc_id": 1100, "symbol": "BRCA1"}])
    other_gene = w.allele()  # the panel's accession, but annotated on another gene
    w.annotate(other_gene, [{"transcript": "NM_007294.3", "hgnc_id": 5, "symbol": "X",
                             "HGVSc": "c.5A>G"}])
    unannotated = w.allele()
    texts = _hgvsc(db_conn, {matched, no_hgvsc, other_gene, unannotated},
                   panel_transcripts(db_conn, *PANEL))

    def position(allele_id):
        chrom, pos, ref, alt = db_conn.execute(
            "SELECT chromosome, vcf_pos, vcf_ref, vcf_alt FROM allele WHERE id = %s",
            (allele_id,)).fetchone()
        return f"{chrom}:{pos} {ref}>{alt}"

    assert texts == {matched: ["BRCA2 c.10G>T"],  # the highest version of the accession
                     no_hgvsc: [position(no_hgvsc)],
                     other_gene: [position(other_gene)],
                     unannotated: [position(unannotated)]}


def test_log_hgvsc_texts_come_from_the_current_annotation(db_conn, ella_config):
    """A re-annotated variant is named in the log by its current annotation's HGVSc, not a
    superseded one's, whichever of the two rows the database stores first."""
    from filter_helpers import PANEL, World

    from ella.allele_views import panel_transcripts
    from ella.workflow.log import _hgvsc

    w = World(db_conn, ella_config)
    w.transcript("NM_000059.3", 1101, symbol="BRCA2")

    def annotation(hgvsc):
        return [{"transcript": "NM_000059.3", "hgnc_id": 1101, "symbol": "BRCA2",
                 "HGVSc": hgvsc}]

    # Stored as a deposit writes it: the old row superseded, then the new one.
    reannotated = w.allele()
    w.annotate(reannotated, annotation("c.1A>G"))
    db_conn.execute("UPDATE annotation SET date_superceeded = now() WHERE allele_id = %s",
                    (reannotated,))
    w.annotate(reannotated, annotation("c.2A>G"))
    # The superseded row stored after the current one (as a restored dump may hold them).
    restored = w.allele()
    w.annotate(restored, annotation("c.3A>G"))
    db_conn.execute("INSERT INTO annotation (allele_id, annotations, date_created, "
                    "date_superceeded, annotation_config_id) SELECT allele_id, jsonb_set("
                    "annotations, '{transcripts,0,HGVSc}', '\"c.4A>G\"'), date_created - "
                    "interval '1 day', date_created, annotation_config_id FROM annotation "
                    "WHERE allele_id = %s", (restored,))
    texts = _hgvsc(db_conn, {reannotated, restored}, panel_transcripts(db_conn, *PANEL))
    assert texts == {reannotated: ["BRCA2 c.2A>G"], restored: ["BRCA2 c.3A>G"]}
