"""Deposit post-processors (import.md 1.9 and D7; workflow.md 15 and criteria 40-42)."""

import json
import threading

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ella.deposit.analysis import check_deposit_entries
from ella.deposit.filterconfigs import deposit_filterconfigs
from ella.deposit.postprocess import FINALIZE_MESSAGE
from ella.deposit.variants import DepositError
from deposit_helpers import BRCA_VCF, TEST_ANALYSIS_001, add_test_panels, copy_folder, deposit
from helpers import table_snapshot, wait_for_lock_wait

ALL = ["analysis_not_ready_warnings", "analysis_finalize_without_findings",
       "analysis_tag_all_classified"]
# Small chains: only class-5 variants are filtered out / also FILTER=FAIL variants.
FILTERCONFIG = {"filters": [{"name": "classification", "config": {"classes": ["5"]}}]}
FAIL_FILTERED = {"filters": [
    {"name": "classification", "config": {"classes": ["5"]}},
    {"name": "quality", "config": {"filter_status": {"pattern": "FAIL"}}}]}


def _one_config(filterconfig):
    return [{"name": "lab", "usergroups": [{"name": "lab", "order": 0}], "requirements": [],
             "filterconfig": filterconfig}]


def _lab(db_url, ella_config, entry, filterconfigs=None):
    """User group 'lab' with the HBOC panels, the deposit config `entry`, user id 1 and the
    filter configs (default: FILTERCONFIG)."""
    add_test_panels(db_url)
    with psycopg.connect(db_url) as conn:
        group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES ('lab', %s) "
                                "RETURNING id", (Jsonb({"deposit": {"analysis": [entry]}}),)
                                ).fetchone()[0]
        for version in ("v01", "v1.0.0"):
            conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, 'HBOC', %s)",
                         (group_id, version))
        conn.execute("INSERT INTO \"user\" (id, username, first_name, last_name, group_id, "
                     "password, password_expiry, active, incorrect_logins) VALUES (1, 'system', "
                     "'S', 'S', %s, 'x', now(), true, 0)", (group_id,))
        if filterconfigs is None:
            filterconfigs = _one_config(FILTERCONFIG)
        deposit_filterconfigs(conn, ella_config, filterconfigs)
        conn.commit()


def _vcf(tmp_path, name, keep=lambda fields: True, edit=lambda fields: fields):
    """A copy of the real brca_sample_2 VCF with some records kept / edited."""
    lines = []
    for line in BRCA_VCF.read_text().splitlines(keepends=True):
        if not line.startswith("#"):
            fields = line.rstrip("\n").split("\t")
            if not keep(fields):
                continue
            line = "\t".join(edit(fields)) + "\n"
        lines.append(line)
    path = tmp_path / f"{name}.HBOC_v01.vcf"
    path.write_text("".join(lines))
    return path


def _snps(fields):
    return len(fields[3]) == 1 and len(fields[4]) == 1


def _round(db_url, analysis_id):
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT workflow_status::text, status::text, finalized, user_id, state "
            "FROM analysisinterpretation WHERE analysis_id = %s", (analysis_id,)).fetchone()


def _logs(db_url, analysis_id):
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT l.message, l.review_comment FROM interpretationlog l "
            "JOIN analysisinterpretation r ON r.id = l.analysisinterpretation_id "
            "WHERE r.analysis_id = %s AND l.priority IS NULL ORDER BY l.id",
            (analysis_id,)).fetchall()


def _classify(db_url, stats, classification="1", days_old=0):
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO alleleassessment (classification, user_id, date_created, allele_id, "
            "genepanel_name, genepanel_version) SELECT DISTINCT "
            "%s::alleleassessment_classification, 1, now() - make_interval(days => %s), "
            "g.allele_id, 'HBOC', 'v01' FROM genotype g "
            "JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %s",
            (classification, days_old, stats["analysis_id"]))
        conn.commit()


def test_40_not_ready_warnings(db_url, ella_config, tmp_path):
    _lab(db_url, ella_config, {"pattern": "^(clean|fail|filtered|indel|Warned)",
                               "postprocess": ["analysis_not_ready_warnings"]})
    # Only PASS SNPs with DP 187 and ratio 80/187: nothing needs verification.
    clean = deposit(db_url, ella_config, _vcf(tmp_path, "clean", _snps))
    assert _round(db_url, clean["analysis_id"])[:2] == ("Interpretation", "Not started")
    assert clean["postprocessed"] == ["analysis_not_ready_warnings"]
    # FILTER FAIL on one SNP: needs verification.
    fail = deposit(db_url, ella_config, _vcf(
        tmp_path, "fail", _snps, lambda f: f[:6] + ["FAIL"] + f[7:] if f[1] == "32893318" else f))
    assert _round(db_url, fail["analysis_id"])[0] == "Not ready"
    # An indel (not SNP) needs verification too.
    indel = deposit(db_url, ella_config, _vcf(tmp_path, "indel"))
    assert _round(db_url, indel["analysis_id"])[0] == "Not ready"
    # Analysis warnings (warnings.txt of the real TestAnalysis-001), genotypes fine.
    folder = copy_folder(TEST_ANALYSIS_001, tmp_path)
    analysis_file = folder / "TestAnalysis-001.analysis"
    analysis_file.write_text(json.dumps(dict(json.loads(analysis_file.read_text()),
                                             name="Warned-001")))
    vcf = folder / "TestAnalysis-001.vcf"
    vcf.write_text("".join(line for line in vcf.read_text().splitlines(keepends=True)
                           if line.startswith("#") or _snps(line.split("\t"))))
    warned = deposit(db_url, ella_config, folder)
    assert _round(db_url, warned["analysis_id"])[0] == "Not ready"
    # Without the warnings the same data is ready.
    (folder / "warnings.txt").unlink()
    analysis_file.write_text(json.dumps(dict(json.loads(analysis_file.read_text()),
                                             name="Warned-002")))
    unwarned = deposit(db_url, ella_config, folder)
    assert _round(db_url, unwarned["analysis_id"])[0] == "Interpretation"


def test_40_filtered_variant_does_not_count(db_url, ella_config, tmp_path):
    # The group's first valid filter config (by order) decides what "non-filtered" means:
    # here it removes the FAIL variant, so nothing left needs verification.
    _lab(db_url, ella_config, {"pattern": "^filtered",
                               "postprocess": ["analysis_not_ready_warnings"]},
         _one_config(FAIL_FILTERED))
    stats = deposit(db_url, ella_config, _vcf(
        tmp_path, "filtered", _snps,
        lambda f: f[:6] + ["FAIL"] + f[7:] if f[1] == "32893318" else f))
    assert _round(db_url, stats["analysis_id"])[0] == "Interpretation"


def test_first_valid_filterconfig_by_order_is_used(db_url, ella_config, tmp_path):
    # Order 0 does not apply to the analysis (requirement), order 1 filters nothing, order 2
    # would filter the FAIL variant: order 1 is used, so the analysis is not ready.
    configs = [
        {"name": "other", "usergroups": [{"name": "lab", "order": 0}], "filterconfig":
         FAIL_FILTERED, "requirements": [{"function": "analysis", "params": {"name": "^other"}}]},
        {"name": "later", "usergroups": [{"name": "lab", "order": 2}], "filterconfig":
         FAIL_FILTERED, "requirements": []},
        {"name": "first", "usergroups": [{"name": "lab", "order": 1}], "filterconfig":
         FILTERCONFIG, "requirements": []}]
    _lab(db_url, ella_config, {"pattern": "^ordered",
                               "postprocess": ["analysis_not_ready_warnings"]}, configs)
    stats = deposit(db_url, ella_config, _vcf(
        tmp_path, "ordered", _snps,
        lambda f: f[:6] + ["FAIL"] + f[7:] if f[1] == "32893318" else f))
    assert _round(db_url, stats["analysis_id"])[0] == "Not ready"


def test_41_finalize_without_findings(db_url, ella_config, tmp_path):
    _lab(db_url, ella_config, {"pattern": "^run",
                               "postprocess": ["analysis_finalize_without_findings"]})
    # Unclassified variants: nothing happens.
    first = deposit(db_url, ella_config, _vcf(tmp_path, "run1", _snps))
    assert _round(db_url, first["analysis_id"])[1:4] == ("Not started", None, None)
    assert _logs(db_url, first["analysis_id"]) == []
    _classify(db_url, first, "1")
    # All class 1 but the analysis has warnings: nothing happens.
    path = _vcf(tmp_path, "run2", _snps)
    with_warnings = tmp_path / "run2-HBOC-v01"
    with_warnings.mkdir()
    path.rename(with_warnings / path.name)
    (with_warnings / "warnings.txt").write_text("Low coverage\n")
    warned = deposit(db_url, ella_config, with_warnings)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT warnings FROM analysis WHERE id = %s",
                            (warned["analysis_id"],)).fetchone()[0]
    assert _round(db_url, warned["analysis_id"])[1:3] == ("Not started", None)
    # All class 1, no warnings: finalized by user 1 with a log message and snapshots.
    done = deposit(db_url, ella_config, _vcf(tmp_path, "run3", _snps))
    workflow_status, status, finalized, user_id, state = _round(db_url, done["analysis_id"])
    assert (status, finalized, user_id) == ("Done", True, 1)
    with psycopg.connect(db_url) as conn:
        fc_id = conn.execute("SELECT id FROM filterconfig WHERE name = 'lab'").fetchone()[0]
        snapshots = conn.execute(
            "SELECT s.allele_id, s.alleleassessment_id IS NOT NULL, "
            "s.annotation_id IS NOT NULL, s.filtered FROM analysisinterpretationsnapshot s "
            "JOIN analysisinterpretation r ON r.id = s.analysisinterpretation_id "
            "WHERE r.analysis_id = %s", (done["analysis_id"],)).fetchall()
    assert state == {"filterconfigId": fc_id}
    assert _logs(db_url, done["analysis_id"]) == [(FINALIZE_MESSAGE, None)]
    assert len(snapshots) == 4 and all(s[1:] == (True, True, None) for s in snapshots)


def test_41_the_snapshots_name_the_current_classifications(db_url, ella_config, tmp_path):
    """A variant with an older, superseded classification besides its current one (here
    stored after it, as an adopted database may hold them): the finalize's snapshots name
    the current one, never the superseded (the mutant audit's read of every version put an
    arbitrary one of them in)."""
    _lab(db_url, ella_config, {"pattern": "^run",
                               "postprocess": ["analysis_finalize_without_findings"]})
    first = deposit(db_url, ella_config, _vcf(tmp_path, "run1", _snps))
    _classify(db_url, first, "1")
    with psycopg.connect(db_url) as conn:
        current = dict(conn.execute("SELECT allele_id, id FROM alleleassessment").fetchall())
        conn.execute(
            "INSERT INTO alleleassessment (classification, user_id, date_created, "
            "date_superceeded, allele_id, genepanel_name, genepanel_version) SELECT '1', 1, "
            "now() - interval '2 days', now() - interval '1 day', allele_id, 'HBOC', 'v01' "
            "FROM alleleassessment ORDER BY id")
    done = deposit(db_url, ella_config, _vcf(tmp_path, "run3", _snps))
    assert _round(db_url, done["analysis_id"])[1:3] == ("Done", True)
    with psycopg.connect(db_url) as conn:
        named = dict(conn.execute(
            "SELECT s.allele_id, s.alleleassessment_id FROM analysisinterpretationsnapshot s "
            "JOIN analysisinterpretation r ON r.id = s.analysisinterpretation_id "
            "WHERE r.analysis_id = %s", (done["analysis_id"],)).fetchall())
    assert named == current and len(named) == 4


def test_41_classes_with_findings_or_outdated_are_not_finalized(db_url, ella_config,
                                                                 tmp_path):
    _lab(db_url, ella_config, {"pattern": "^run",
                               "postprocess": ["analysis_finalize_without_findings"]})
    first = deposit(db_url, ella_config, _vcf(tmp_path, "run1", _snps))
    _classify(db_url, first, "3")  # a class that counts as a finding
    assert _round(db_url, deposit(db_url, ella_config, _vcf(tmp_path, "run2", _snps))[
        "analysis_id"])[2] is None
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM alleleassessment")
        conn.commit()
    _classify(db_url, first, "2", days_old=400)  # class 2 is outdated after 365 days
    assert _round(db_url, deposit(db_url, ella_config, _vcf(tmp_path, "run3", _snps))[
        "analysis_id"])[2] is None


def test_41_a_classification_superseded_meanwhile_is_waited_for(db_url, ella_config, tmp_path):
    """The decision ("no findings") and the snapshot the round is finalized with were read
    in two statements: a finalize-allele elsewhere committing between them had the snapshot
    name a classification the decision never saw. The deposit now waits for a supersede in
    progress and decides on its outcome: here a class 3, a finding."""
    _lab(db_url, ella_config, {"pattern": "^run",
                               "postprocess": ["analysis_finalize_without_findings"]})
    first = deposit(db_url, ella_config, _vcf(tmp_path, "run1", _snps))
    _classify(db_url, first, "1")
    finalizing = psycopg.connect(db_url)
    try:
        old = finalizing.execute(
            "UPDATE alleleassessment SET date_superceeded = now() WHERE id = (SELECT min(id) "
            "FROM alleleassessment) RETURNING id, allele_id").fetchone()
        result = {}
        depositing = threading.Thread(target=lambda: result.update(
            deposit(db_url, ella_config, _vcf(tmp_path, "run2", _snps))))
        depositing.start()
        wait_for_lock_wait(db_url)
        finalizing.execute(
            "INSERT INTO alleleassessment (classification, user_id, date_created, allele_id, "
            "genepanel_name, genepanel_version, previous_assessment_id) "
            "VALUES ('3', 1, now(), %s, 'HBOC', 'v01', %s)", (old[1], old[0]))
        finalizing.commit()
        depositing.join(60)
    finally:
        finalizing.close()
    assert _round(db_url, result["analysis_id"])[1:3] == ("Not started", None)
    assert _logs(db_url, result["analysis_id"]) == []


def test_42_tag_all_classified(db_url, ella_config, tmp_path):
    _lab(db_url, ella_config, {"pattern": "^(tag|empty)",
                               "postprocess": ["analysis_tag_all_classified"]})
    first = deposit(db_url, ella_config, _vcf(tmp_path, "tag1", _snps))
    assert _logs(db_url, first["analysis_id"]) == []
    _classify(db_url, first, "4")
    second = deposit(db_url, ella_config, _vcf(tmp_path, "tag2", _snps))
    assert _logs(db_url, second["analysis_id"]) == [(None, "ALL CLASSIFIED")]
    # Class 5 is filtered by the group's filter config: no variant remains.
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE alleleassessment SET classification = '5'")
        conn.commit()
    third = deposit(db_url, ella_config, _vcf(tmp_path, "tag3", _snps))
    assert _logs(db_url, third["analysis_id"]) == [(None, "NO VARIANTS")]


def test_d7_postprocessors(db_url, ella_config, tmp_path):
    """D7: all three together; prefilters removing every variant -> NO VARIANTS (and, with
    nothing left and no warnings, auto-finalized)."""
    _lab(db_url, ella_config, {"pattern": "^(brca|d7)", "postprocess": ALL})
    indel = deposit(db_url, ella_config, _vcf(tmp_path, "d7", lambda f: True))
    assert _round(db_url, indel["analysis_id"])[:3] == ("Not ready", "Not started", None)
    assert _logs(db_url, indel["analysis_id"]) == []
    _lab_pattern_and_prefilter(db_url, "^brca", [["position_not_nearby"]])
    empty = deposit(db_url, ella_config, BRCA_VCF)
    assert empty["genotypes"] == 0
    assert _round(db_url, empty["analysis_id"])[:4] == ("Interpretation", "Done", True, 1)
    assert _logs(db_url, empty["analysis_id"]) == [(FINALIZE_MESSAGE, None),
                                                   (None, "NO VARIANTS")]


def _lab_pattern_and_prefilter(db_url, pattern, prefilters):
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE usergroup SET config = jsonb_set(jsonb_set(config, "
                     "'{deposit,analysis,0,pattern}', to_jsonb(%s::text)), "
                     "'{deposit,analysis,0,prefilters}', %s) WHERE name = 'lab'",
                     (pattern, Jsonb(prefilters)))
        conn.commit()


def test_unknown_postprocessor_is_a_clear_error_with_nothing_written(db_url, ella_config):
    _lab(db_url, ella_config, {"pattern": "^brca", "postprocess": ["analysis_tag_everything"]})
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match="Invalid postprocess method 'analysis_tag_everything'"):
        deposit(db_url, ella_config, BRCA_VCF)
    assert table_snapshot(db_url) == before


def test_a_postprocessor_named_twice_runs_once_and_is_refused_when_stored(db_url, ella_config,
                                                                           tmp_path):
    """Named twice, the finalize wrote its snapshot again and the deposit failed on the
    unique key (the group's analyses without findings could not be imported at all), and the
    tag commented twice. `ella-users add_groups` refuses such an entry; one stored otherwise
    (an adopted database) runs each name once."""
    _lab(db_url, ella_config, {"pattern": "^run", "postprocess": ALL[1:] + ALL[1:]})
    first = deposit(db_url, ella_config, _vcf(tmp_path, "run1", _snps))
    _classify(db_url, first, "1")
    done = deposit(db_url, ella_config, _vcf(tmp_path, "run2", _snps))
    assert _round(db_url, done["analysis_id"])[1:3] == ("Done", True)
    assert _logs(db_url, done["analysis_id"]) == [(FINALIZE_MESSAGE, None),
                                                  (None, "ALL CLASSIFIED")]
    with pytest.raises(DepositError, match=(
            r"^lab: config.deposit.analysis\[0\]: postprocess method "
            r"'analysis_finalize_without_findings' is listed twice$")):
        check_deposit_entries({"deposit": {"analysis": [
            {"pattern": "^run", "postprocess": ALL[1:] + ALL[1:]}]}}, "lab")


def test_finalize_without_findings_without_user_1_says_so_and_writes_nothing(
        db_url, ella_config, tmp_path):
    _lab(db_url, ella_config, {"pattern": "^run", "postprocess": ALL[1:2]})
    first = deposit(db_url, ella_config, _vcf(tmp_path, "run1", _snps))
    _classify(db_url, first, "1")
    with psycopg.connect(db_url) as conn:
        conn.execute('INSERT INTO "user" (id, username, first_name, last_name, group_id, '
                     "password, password_expiry, active, incorrect_logins) SELECT 2, 'second', "
                     "'S', 'S', group_id, 'x', now(), true, 0 FROM \"user\" WHERE id = 1")
        conn.execute("UPDATE alleleassessment SET user_id = 2")
        conn.execute('DELETE FROM "user" WHERE id = 1')
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match=(
            "finalizes as user id 1, as ELLA does, but no such user exists .a new database's "
            "first user gets that id: add users with ella-users add_many first.$")):
        deposit(db_url, ella_config, _vcf(tmp_path, "run2", _snps))
    assert table_snapshot(db_url) == before


def test_postprocess_without_valid_filterconfig_is_a_clear_error(db_url, ella_config):
    _lab(db_url, ella_config, {"pattern": "^brca", "postprocess": ALL}, filterconfigs=[])
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match="no active filter config"):
        deposit(db_url, ella_config, BRCA_VCF)
    assert table_snapshot(db_url) == before
