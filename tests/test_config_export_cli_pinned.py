"""Pinned rows of the application config, the environment settings and the gene panel exports
(config-cli-ops.md 1-2, README "Configuration", import.md 4.6) that no other test held to
their exact value."""

from datetime import date

import psycopg
import pytest

from ella import config as cfg
from ella.config import ConfigError
from ella.genepanel_export import exon_regions_bed, phenotypes_tsv, transcripts_tsv
from helpers import run_cli

TODAY = date(2026, 11, 28)


# --- application config --------------------------------------------------------------


def test_the_default_password_policy_is_ellas_example():
    """config-cli-ops.md 2.4 `user.auth`: the example config's policy (expiry 90 days,
    8 characters, 3 of the 4 groups) is the shipped default (README: `default_config.yaml`
    is equivalent to ELLA's example config)."""
    auth = cfg.load_config(environ={})["user"]["auth"]
    assert auth["password_expiry_days"] == 90
    assert auth["password_minimum_length"] == 8
    assert auth["password_num_match_groups"] == 3
    assert auth["password_match_groups"] == [
        ".*[A-Z].*", ".*[a-z].*", ".*[0-9].*", ".*[^A-Za-z0-9].*"]
    assert len(auth["password_match_groups_descr"]) == 4


def test_the_consequences_are_in_the_specified_severity_order():
    """config-cli-ops.md 2.1 item 4: `transcripts.consequences`, 40 VEP terms in severity
    order (high to low); the order picks a transcript's worst consequence."""
    assert cfg.load_config(environ={})["transcripts"]["consequences"] == [
        "transcript_ablation", "splice_acceptor_variant", "splice_donor_variant",
        "stop_gained", "frameshift_variant", "stop_lost", "start_lost",
        "initiator_codon_variant", "transcript_amplification", "inframe_insertion",
        "inframe_deletion", "missense_variant", "protein_altering_variant",
        "splice_region_variant", "splice_donor_5th_base_variant",
        "splice_donor_region_variant", "splice_polypyrimidine_tract_variant",
        "incomplete_terminal_codon_variant", "start_retained_variant",
        "stop_retained_variant", "synonymous_variant", "coding_sequence_variant",
        "mature_miRNA_variant", "5_prime_UTR_variant", "3_prime_UTR_variant",
        "non_coding_transcript_exon_variant", "intron_variant", "NMD_transcript_variant",
        "non_coding_transcript_variant", "upstream_gene_variant", "downstream_gene_variant",
        "TFBS_ablation", "TFBS_amplification", "TF_binding_site_variant",
        "regulatory_region_ablation", "regulatory_region_amplification",
        "feature_elongation", "regulatory_region_variant", "feature_truncation",
        "intergenic_variant"]


def test_more_password_group_descriptions_than_groups_are_refused():
    """config-cli-ops.md 2.4: `password_match_groups_descr` is parallel to
    `password_match_groups` (one description each, shown to users)."""
    config = cfg.load_config(environ={})
    del config["transcripts"]["consequences"]
    config["user"]["auth"]["password_match_groups_descr"].append("Something else")
    with pytest.raises(ConfigError, match="5 description\\(s\\) for 4 password_match_groups"):
        cfg.validate_config(config)


@pytest.mark.parametrize("key", ["1", "1.5", "null", "~"])
def test_a_key_yaml_reads_as_another_type_than_text_is_refused(key):
    """Keys name config entries: a key YAML reads as a number or null names nothing (config
    keys are text, config-cli-ops.md 2; a bad config stops with one line naming the
    problem, README "Configuration")."""
    with pytest.raises(ConfigError, match="not as text"):
        cfg.parse_yaml(f"analysis:\n  {key}: x\n")


def test_an_integer_written_as_a_decimal_is_served_as_an_integer(tmp_path):
    """config-cli-ops.md 2.4: integer settings (`password_expiry_days`, `max_upload_size`)
    are integers; `90.0` in the file is served and used as the integer 90."""
    text = (cfg.DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
            .replace("password_expiry_days: 90", "password_expiry_days: 90.0")
            .replace("max_upload_size: 52428800", "max_upload_size: 52428800.0"))
    assert "90.0" in text and "52428800.0" in text
    path = tmp_path / "ella.yaml"
    path.write_text(text, encoding="utf-8")
    config = cfg.load_config(path, environ={})
    assert type(config["user"]["auth"]["password_expiry_days"]) is int
    assert config["user"]["auth"]["password_expiry_days"] == 90
    assert type(config["app"]["max_upload_size"]) is int


def test_comment_template_fields_must_all_be_text():
    """config-cli-ops.md 7.3 `comment_templates`: items {name, template, comment_fields:
    [str]}; a field that is not a string is refused for a group's config."""
    bad = {"comment_templates": [{"name": "n", "template": "t",
                                  "comment_fields": ["workLogMessage", 3]}]}
    assert cfg.user_config_problem(bad) == (
        "comment_templates[0].comment_fields must be a list of strings")
    good = {"comment_templates": [{"name": "n", "template": "t",
                                   "comment_fields": ["workLogMessage"]}]}
    assert cfg.user_config_problem(good) is None


# --- environment-only settings --------------------------------------------------------


def test_empty_environment_settings_count_as_unset():
    """README "Configuration": an empty variable counts as unset (the defaults apply)."""
    names = ("DB_URL", "PORT", "HOST", "SOCKET", "ANALYSES_PATH", "ANALYSES_INCOMING",
             "IGV_DATA", "NUM_WORKERS", "GUNICORN_TIMEOUT", "LOGPATH", "COOKIE_SECURE",
             "LOG_LEVEL")
    assert cfg.env_settings({name: "" for name in names}) == cfg.env_settings({})


def test_num_workers_is_between_1_and_256():
    """README "Configuration": `NUM_WORKERS` (1-256); a malformed number is an error naming
    the variable."""
    assert cfg.env_settings({"NUM_WORKERS": "256"})["NUM_WORKERS"] == 256
    assert cfg.env_settings({"NUM_WORKERS": "1"})["NUM_WORKERS"] == 1
    with pytest.raises(ConfigError, match="NUM_WORKERS must be between 1 and 256, got 257"):
        cfg.env_settings({"NUM_WORKERS": "257"})


@pytest.mark.parametrize("raw, expected", [("yes", True), ("on", True), ("TRUE", True),
                                           ("no", False), ("0", False), ("false", False)])
def test_cookie_secure_reads_the_yaml_boolean_words(raw, expected):
    """README "Configuration": `COOKIE_SECURE` (`true` behind TLS), read with the boolean
    words the config's `!env_bool` takes (config-cli-ops.md 2.1: true/false/yes/no/on/off)."""
    assert cfg.env_settings({"COOKIE_SECURE": raw})["COOKIE_SECURE"] is expected


# --- gene panel exports ---------------------------------------------------------------


def _panel(db_conn, transcripts, phenotypes=()):
    """Panel P v1 of gene G7: transcripts (name, chromosome, start, end, exons, cds) and
    phenotypes (description, inheritance, omim)."""
    db_conn.execute("INSERT INTO gene (hgnc_id, hgnc_symbol) VALUES (7, 'G7')")
    db_conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                    "date_created) VALUES ('P', 'v1', 'GRCh37', true, now())")
    for name, chrom, start, end, exons, cds in transcripts:
        tid = db_conn.execute(
            "INSERT INTO transcript (gene_id, transcript_name, type, genome_reference, "
            "chromosome, tx_start, tx_end, strand, cds_start, cds_end, exon_starts, exon_ends) "
            "VALUES (7, %s, 'RefSeq', 'GRCh37', %s, %s, %s, '+', %s, %s, %s, %s) RETURNING id",
            (name, chrom, start, end, cds and cds[0], cds and cds[1],
             [e[0] for e in exons], [e[1] for e in exons])).fetchone()[0]
        db_conn.execute("INSERT INTO genepanel_transcript VALUES ('P', 'v1', %s, 'AD')", (tid,))
    for description, inheritance, omim in phenotypes:
        pid = db_conn.execute(
            "INSERT INTO phenotype (gene_id, description, inheritance, omim_id) "
            "VALUES (7, %s, %s, %s) RETURNING id", (description, inheritance, omim)).fetchone()[0]
        db_conn.execute("INSERT INTO genepanel_phenotype VALUES ('P', 'v1', %s)", (pid,))


def test_transcripts_export_rows_are_sorted_and_carry_score_and_metadata(db_conn):
    """import.md 4.6: the header of 4.2 with `score` `0.0` and `metadata` `{}`, rows sorted
    by chromosome (1..22, X, Y, MT), start, end."""
    _panel(db_conn, [
        ("NM_MT.1", "MT", 10, 20, [(10, 20)], (10, 20)),
        ("NM_Y.1", "Y", 10, 20, [(10, 20)], (10, 20)),
        ("NM_X.1", "X", 10, 20, [(10, 20)], (10, 20)),
        ("NM_LONG.1", "1", 100, 900, [(100, 900)], (100, 900)),
        ("NM_LATER.1", "1", 200, 300, [(200, 300)], (200, 300)),
        ("NM_SHORT.1", "1", 100, 500, [(100, 200), (400, 500)], (150, 450)),
    ])
    lines = transcripts_tsv(db_conn, "P", "v1", TODAY).decode().splitlines()
    assert lines[0] == "# Gene panel: P-v1 -- Date: 2026-11-28 -- exported from ELLA"
    assert lines[1] == ("#chromosome\tread start\tread end\tname\tscore\tstrand\ttags\tHGNC id"
                        "\tHGNC symbol\tinheritance\tcoding start\tcoding end\texon starts"
                        "\texon ends\tmetadata")
    rows = [line.split("\t") for line in lines[2:]]
    assert [r[3] for r in rows] == ["NM_SHORT.1", "NM_LONG.1", "NM_LATER.1", "NM_X.1",
                                    "NM_Y.1", "NM_MT.1"]
    assert rows[0] == ["1", "100", "500", "NM_SHORT.1", "0.0", "+", "", "7", "G7", "AD",
                       "150", "450", "100,400", "200,500", "{}"]
    assert {(r[4], r[14]) for r in rows} == {("0.0", "{}")}


def test_phenotypes_export_has_the_comment_line_and_leaves_n_a_inheritance_empty(db_conn):
    """import.md 4.6: the phenotypes export has the same comment line as the transcripts
    export and the header `HGNC id, HGNC symbol, inheritance (N/A -> empty), phenotype MIM
    number, phenotype, PMID, inheritance info, comment`."""
    _panel(db_conn, [("NM_A.1", "1", 100, 200, [(100, 200)], (100, 200))],
           [("Syndrome A", "N/A", None), ("Syndrome B", "AD", 123456)])
    lines = phenotypes_tsv(db_conn, "P", "v1", TODAY).decode().splitlines()
    assert lines[0] == "# Gene panel: P-v1 -- Date: 2026-11-28 -- exported from ELLA"
    assert lines[1] == ("HGNC id\tHGNC symbol\tinheritance\tphenotype MIM number\tphenotype"
                        "\tPMID\tinheritance info\tcomment")
    assert [line.split("\t") for line in lines[2:]] == [
        ["7", "G7", "", "", "Syndrome A", "", "", ""],
        ["7", "G7", "AD", "123456", "Syndrome B", "", "", ""]]


def test_an_exon_that_only_touches_the_coding_region_is_left_out(db_conn):
    """import.md 4.6: exon regions are clipped to the coding region and exons fully outside
    it are skipped; an exon whose end is the coding start (0-based, end exclusive) has no
    coding base."""
    _panel(db_conn, [("NM_T.1", "3", 100, 800, [(100, 200), (300, 400), (500, 600)],
                      (200, 500))])
    rows = [line.split("\t") for line in
            exon_regions_bed(db_conn, "P", "v1").decode().splitlines()[1:]]
    assert rows == [["3", "300", "400", "G7__7__NM_T.1__exon2", "0", "+"]]


# --- command line ---------------------------------------------------------------------


def _q(url, sql, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.mark.parametrize("answer", ["confirm\n", "Confirm\n"])
def test_drop_needs_confirm_exactly_as_written(db_url, answer):
    """config-cli-ops.md 3.3: anything but exactly `CONFIRM` prints "Lacking confirmation,
    aborting..." (exit 1) and the database keeps its tables."""
    result = run_cli("ella-db", "drop", db_url=db_url, stdin=answer)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "error: Lacking confirmation, aborting..."
    assert _q(db_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                      "AND tablename = 'allele'") == [(1,)]


def test_a_reason_holding_a_nul_character_is_still_audited(demo_db_url):
    """config-cli-ops.md 3.2: the clilog row is written for every run of a logged command,
    with the prompted reason (README: UTF-8 text; PostgreSQL stores no NUL, so it is
    stored replaced)."""
    before = _q(demo_db_url, "SELECT count(*) FROM clilog")[0][0]
    result = run_cli("ella-users", "lock", "testuser2", db_url=demo_db_url,
                     stdin="ticket\x00 42\n")
    assert "could not write the audit log" not in result.stderr
    rows = _q(demo_db_url, "SELECT command, reason FROM clilog ORDER BY id")
    assert len(rows) == before + 1
    assert rows[-1] == ("users lock testuser2", "ticket\ufffd 42")


@pytest.mark.parametrize("reason", ["None", " "])
def test_a_database_commands_reason_of_none_is_stored_as_null(db_url, reason):
    """config-cli-ops.md 3.2: "None"/empty as the reason is NULL in clilog, also for the
    schema commands' `--reason`."""
    result = run_cli("ella-db", "refresh", "-f", "--reason", reason, db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert _q(db_url, "SELECT groupcommand, reason FROM clilog ORDER BY id DESC LIMIT 1") == [
        ("refresh", None)]


def test_an_input_that_is_not_a_regular_file_is_a_usage_error():
    """config-cli-ops.md 3.1: a FILE argument the command cannot read as a file is a usage
    error (exit 2) naming it, before anything runs (a device or a pipe never ends or is
    empty)."""
    from ella.cli.common import input_file_problem
    assert input_file_problem("/dev/null") == "is not a regular file"
    result = run_cli("ella-filterconfigs", "update", "/dev/null", db_url="postgresql:///none")
    assert result.returncode == 2
    assert "FILE '/dev/null' is not a regular file" in result.stderr
